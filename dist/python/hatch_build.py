"""The wheel carries the static apns-lab binary (dist/static.sh builds it): as a script,
so installing the wheel puts `apns-lab` on PATH, and tagged for the platform it runs on.
The binary is static (no libc needed), so the wheel is tagged for glibc and musl Linux on
x86-64 alike."""
import os
import pathlib

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TAG = "py3-none-manylinux_2_17_x86_64.musllinux_1_1_x86_64"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        binary = pathlib.Path(os.environ.get("APNS_LAB_BINARY", "../../target/dist/apns-lab"))
        if not binary.is_absolute():
            binary = pathlib.Path(self.root) / binary
        if not binary.is_file():
            raise FileNotFoundError(f"{binary}: build it first with dist/static.sh (or set APNS_LAB_BINARY)")
        build_data["pure_python"] = False
        build_data["tag"] = TAG
        build_data["shared_scripts"][str(binary)] = "apns-lab"
