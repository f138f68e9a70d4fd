"""Pushes through aioapns (a real Python APNs client) to a running apns-lab mock.

aioapns has no host option and starts HTTP/2 without ALPN, which is what this checks.
Usage: aioapns_push.py READY_JSON DEVICE_TOKEN CERT_AND_KEY_PEM
Prints one JSON object with what aioapns reported.
"""
import asyncio
import json
import ssl
import sys

import aioapns.connection as connection
from aioapns import APNs, NotificationRequest, PushType

ready = json.loads(sys.argv[1])
token = sys.argv[2]
cert_file = sys.argv[3]
host, port = ready["sandbox"].removeprefix("https://").split(":")
# The only change a user makes: host, port and trusted CA.
connection.APNsDevelopmentClientProtocol.APNS_SERVER = host
connection.APNsDevelopmentClientProtocol.APNS_PORT = int(port)


def context():
    return ssl.create_default_context(cafile=ready["ca_file"])


def result(r):
    return {"ok": r.is_successful, "status": str(r.status), "reason": r.description, "apns_id": r.notification_id}


async def main():
    out = {}
    apns = APNs(key=open(ready["key_file"]).read(), key_id=ready["key_id"], team_id=ready["team_id"],
                topic="com.example.chat", use_sandbox=True, ssl_context=context())
    alert = NotificationRequest(device_token=token, message={"aps": {"alert": "hello from aioapns"}},
                                notification_id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", push_type=PushType.ALERT)
    out["token_auth"] = result(await apns.send_notification(alert))
    burst = [NotificationRequest(device_token=token, message={"aps": {"alert": f"n{i}"}}) for i in range(50)]
    out["burst_ok"] = sum(r.is_successful for r in await asyncio.gather(*map(apns.send_notification, burst)))
    bad = NotificationRequest(device_token="ab" * 32, message={"aps": {"alert": "x"}})
    out["unknown_token"] = result(await apns.send_notification(bad))
    certified = APNs(client_cert=cert_file, topic="com.example.chat", use_sandbox=True, ssl_context=context())
    out["cert_auth"] = result(await certified.send_notification(
        NotificationRequest(device_token=token, message={"aps": {"alert": "hello over a certificate"}})))
    print(json.dumps(out))


asyncio.run(main())
