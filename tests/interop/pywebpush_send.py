"""Sends through pywebpush (over requests, HTTP/1.1) to a subscription the mock issued,
changing only the CA the session trusts (requests takes REQUESTS_CA_BUNDLE over it where
that is set, so the test sets both).

Usage: pywebpush_send.py ADMIN_URL CA_FILE
Prints one JSON object: the answers to a good push, a localhost subject and a topic
Apple refuses.
"""
import base64
import json
import sys
import tempfile
import urllib.request

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException, webpush

admin, ca_file = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    req = urllib.request.Request(admin + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


# The application server's VAPID key: its public half goes to the subscription.
key = ec.generate_private_key(ec.SECP256R1())
public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
pem = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
pem.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
pem.close()

call("POST", "/api/v1/devices", {"udid": "PY-WEB-PHONE", "apps": []})
sub = call("POST", "/api/v1/devices/PY-WEB-PHONE/web-apps",
           {"origin": "https://shop.example",
            "application_server_key": base64.urlsafe_b64encode(public).rstrip(b"=").decode()})
subscription = {"endpoint": sub["endpoint"], "keys": sub["keys"]}
session = requests.Session()
session.verify = ca_file


def send(subject, **extra):
    try:
        r = webpush(subscription, json.dumps({"title": "Sale", "body": "From pywebpush"}), vapid_private_key=pem.name,
                    vapid_claims={"sub": subject}, requests_session=session, **extra)
        return {"status": r.status_code, "apns_id": r.headers.get("apns-id")}
    except WebPushException as e:
        return {"status": e.response.status_code, "reason": e.response.json().get("reason")}


print(json.dumps({
    "ok": send("mailto:ops@example.com", ttl=0),
    "localhost": send("mailto:admin@localhost"),
    "topic": send("mailto:ops@example.com", headers={"Topic": "spike"}),
}))
