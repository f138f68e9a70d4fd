"""pytest fixtures: a fresh apns-lab mock per test (on free ports, torn down after), and aioapns
pointed at it."""
import json
import os
import ssl
import subprocess
import tempfile
import urllib.request

import aioapns.connection
import pytest
from aioapns import APNs

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


@pytest.fixture
async def apns(apns_lab):
    """aioapns pointed at the mock. An async fixture, so the client is made inside the
    test's event loop (made outside it, its connections belong to another loop)."""
    host, port = apns_lab["sandbox"].removeprefix("https://").split(":")
    aioapns.connection.APNsDevelopmentClientProtocol.APNS_SERVER = host
    aioapns.connection.APNsDevelopmentClientProtocol.APNS_PORT = int(port)
    yield APNs(key=open(apns_lab["key_file"]).read(), key_id=apns_lab["key_id"], team_id=apns_lab["team_id"],
               topic="com.example.chat", use_sandbox=True,
               ssl_context=ssl.create_default_context(cafile=apns_lab["ca_file"]))
