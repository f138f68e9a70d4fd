"""Holds the package's README to the code: every ```python block runs as a test module
(each must pass), the README names the plugin's fixtures and options and nothing else,
and every public call of the package has an example.

Usage: python check_readme.py README.md [pytest options…]
  (with apns_lab importable; the pytest options go to the run, e.g. --apns-lab-url)
"""
from __future__ import annotations

import importlib.metadata
import inspect
import pathlib
import re
import subprocess
import sys
import tempfile

import apns_lab
from apns_lab import pytest_plugin


def fail(message: str) -> None:
    print(f"check_readme: {message}", file=sys.stderr)
    sys.exit(1)


def public_api() -> dict:
    """Each public name of the package, by where it lives."""
    ready = {k: "" for k in ("admin", "sandbox", "production", "gateway", "ca_file", "key_file", "key_id", "team_id")}
    lab = apns_lab.ApnsLab(ready)
    names = {
        # Device and Phone are met as what create_device() and phone() return.
        "module": set(apns_lab.__all__) - {"Device", "Phone"},
        "ApnsLab": {n for n in dir(apns_lab.ApnsLab) if not n.startswith("_")} | set(vars(lab)),
        "Device": {n for n in dir(apns_lab.Device) if not n.startswith("_")} | {"udid", "view"},
        "Phone": {n for n in dir(apns_lab.Phone) if not n.startswith("_")} | {"udid", "lines"},
    }
    return {where: {n for n in found if not n.startswith("_")} for where, found in names.items()}


def main() -> None:
    readme_path = pathlib.Path(sys.argv[1])
    readme = readme_path.read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    if not blocks:
        fail(f"{readme_path} has no python blocks")
    code = "\n".join(blocks)

    # Fixtures and options: the README's are the plugin's.
    source = inspect.getsource(pytest_plugin)
    fixtures = set(re.findall(r"@pytest\.fixture[^\n]*\ndef (\w+)", source))
    options = set(re.findall(r'addoption\("(--[\w-]+)"', source))
    ini = set(re.findall(r'addini\("(\w+)"', source))
    named = set(re.findall(r"`(apns_lab_\w+)`", readme))
    for name in named - fixtures - ini:
        fail(f"the README names `{name}`, which is neither a fixture nor an ini option of the plugin")
    for name in fixtures | ini:
        if f"`{name}`" not in readme:
            fail(f"the README does not name the plugin's `{name}`")
    mentioned = set(re.findall(r"`(--apns-lab[\w-]*)", readme))
    for option in mentioned ^ options:
        fail(f"option {option}: the plugin has {sorted(options)}, the README names {sorted(mentioned)}")

    # Every public call has an example.
    for where, names in public_api().items():
        for name in sorted(names):
            if not re.search(rf"(\.|\b){re.escape(name)}\b", code):
                fail(f"{where}.{name} has no example in a python block of the README")

    # Each block runs as a test module.
    with tempfile.TemporaryDirectory(prefix="apns-lab-readme-") as tmp:
        tests = 0
        for i, block in enumerate(blocks):
            pathlib.Path(tmp, f"test_readme_{i:02}.py").write_text(block)
            tests += len(re.findall(r"^def test_", block, re.M))
        pathlib.Path(tmp, "pytest.ini").write_text("[pytest]\n")
        plugin_installed = any(e.value == "apns_lab.pytest_plugin" for e in importlib.metadata.entry_points(group="pytest11"))
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(() if plugin_installed else ("-p", "apns_lab.pytest_plugin")), tmp, *sys.argv[2:]]
        run = subprocess.run(args, capture_output=True, text=True)
        print(run.stdout, run.stderr, sep="", end="")
        if run.returncode != 0 or f"{tests} passed" not in run.stdout:
            fail(f"the README's examples did not all pass ({tests} tests expected)")
    print(f"check_readme: {len(blocks)} blocks, {tests} tests passed; fixtures, options and API documented")


if __name__ == "__main__":
    main()
