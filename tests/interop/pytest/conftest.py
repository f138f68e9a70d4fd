"""pytest fixture: a fresh apns-lab mock per test, on free ports, torn down after."""
import json
import os
import subprocess
import tempfile
import urllib.request

import pytest

APNS_LAB = os.environ.get("APNS_LAB_BIN", "apns-lab")


@pytest.fixture
def apns_lab():
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [APNS_LAB, "serve", "--data-dir", data_dir,
             "--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0",
             "--admin-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True)
        ready = json.loads(proc.stdout.readline())  # sandbox, admin, ca_file, key_file, key_id, team_id

        def admin(method, path, body=None):
            req = urllib.request.Request(ready["admin"] + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req) as resp:
                return json.loads(resp.read() or b"null")

        ready["admin_call"] = admin
        try:
            yield ready
        finally:
            proc.terminate()
            proc.wait(timeout=10)
