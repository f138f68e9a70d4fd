"""Sends through pywebpush (over requests, HTTP/1.1) to a subscription a running phone's
web app made, changing only the CA the session trusts (requests takes REQUESTS_CA_BUNDLE
over it where that is set, so the test sets both); the phone decrypts and shows it.

Usage: pywebpush_send.py ADMIN_URL CA_FILE   (with apns_lab importable, APNS_LAB_BIN set)
Prints one JSON object: the answers to a good push, a localhost subject and a topic
Apple refuses, and the line the phone printed for the good one.
"""
import base64
import json
import os
import sys
import tempfile

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException, webpush

from apns_lab import ApnsLab

admin, ca_file = sys.argv[1], sys.argv[2]
lab = ApnsLab.connect(admin)

# The application server's VAPID key: its public half goes to the subscription.
key = ec.generate_private_key(ec.SECP256R1())
public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
pem = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)
pem.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
pem.close()
server_key = base64.urlsafe_b64encode(public).rstrip(b"=").decode()

with lab.phone(web_apps=["https://shop.example"], vapid_key=server_key, udid="PY-WEB-PHONE") as phone:
    phone.wait_for("online")
    sub = phone.subscription("https://shop.example")
    subscription = {"endpoint": sub["endpoint"], "keys": sub["keys"]}
    session = requests.Session()
    session.verify = ca_file

    def send(subject, **extra):
        try:
            r = webpush(subscription, json.dumps({"title": "Sale", "body": "From pywebpush"}),
                        vapid_private_key=pem.name, vapid_claims={"sub": subject}, requests_session=session, **extra)
            return {"status": r.status_code, "apns_id": r.headers.get("apns-id")}
        except WebPushException as e:
            return {"status": e.response.status_code, "reason": e.response.json().get("reason")}

    print(json.dumps({
        "ok": send("mailto:ops@example.com", ttl=0),
        "shown": phone.wait_for("From pywebpush"),
        "localhost": send("mailto:admin@localhost"),
        "topic": send("mailto:ops@example.com", headers={"Topic": "spike"}),
    }))

# What this script wrote goes: the key file, and the CA and key `connect` fetched.
os.unlink(pem.name)
lab.stop()
