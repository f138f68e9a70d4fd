"""An npm registry on loopback that holds one package, for running the book's install line
(`npm install --save-dev apns-lab`) as printed before the package is published: npm is
pointed at it with npm_config_registry, and it answers the package's metadata and its
tarball, and 404 for any other name.

Usage: registry.py TARBALL   (an `npm pack` tarball)
Prints the registry's URL on its first line, then serves until killed.
"""
import base64
import hashlib
import http.server
import json
import pathlib
import sys
import tarfile

tarball = pathlib.Path(sys.argv[1]).resolve()
data = tarball.read_bytes()
with tarfile.open(tarball) as tar:
    manifest = json.load(tar.extractfile("package/package.json"))
name, version = manifest["name"], manifest["version"]
file = f"{name}-{version}.tgz"


class Registry(http.server.BaseHTTPRequestHandler):
    # A connection that sends nothing for 10 s is dropped; requests are GETs, no body is read.
    timeout = 10

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path.rstrip("/") == f"/{name}":
            meta = dict(manifest, _id=f"{name}@{version}", dist={
                "tarball": f"{base}/{name}/-/{file}",
                "shasum": hashlib.sha1(data).hexdigest(),
                "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            })
            body = json.dumps({"name": name, "dist-tags": {"latest": version}, "versions": {version: meta}}).encode()
            kind = "application/json"
        elif self.path == f"/{name}/-/{file}":
            body, kind = data, "application/octet-stream"
        else:
            self.send_error(404, f"this registry holds {name} only")
            return
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
print(f"http://127.0.0.1:{server.server_port}/", flush=True)
server.serve_forever()
