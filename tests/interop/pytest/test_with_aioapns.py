"""The README's pytest fixture in use: aioapns pointed at the mock (host, port, CA)."""
import aioapns.connection as connection
import ssl

from aioapns import APNs, NotificationRequest


async def test_push_is_accepted_then_410_after_uninstall(apns_lab):
    host, port = apns_lab["sandbox"].removeprefix("https://").split(":")
    connection.APNsDevelopmentClientProtocol.APNS_SERVER = host
    connection.APNsDevelopmentClientProtocol.APNS_PORT = int(port)
    device = apns_lab["admin_call"]("POST", "/api/v1/devices", {"apps": [{"bundle_id": "com.example.chat"}]})
    token = device["apps"][0]["token"]
    apns = APNs(key=open(apns_lab["key_file"]).read(), key_id=apns_lab["key_id"], team_id=apns_lab["team_id"],
                topic="com.example.chat", use_sandbox=True,
                ssl_context=ssl.create_default_context(cafile=apns_lab["ca_file"]))

    sent = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {"alert": "hi"}}))
    assert sent.is_successful

    # Uninstall: the first push is still accepted (APNs learns on delivery), the next is 410.
    apns_lab["admin_call"]("POST", f"/api/v1/devices/{device['udid']}/apps/com.example.chat/uninstall", {})
    first = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {"alert": "1"}}))
    later = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {"alert": "2"}}))
    assert first.is_successful
    assert (str(later.status), later.description) == ("410", "Unregistered")

    # A fault rule: the next push gets 429, as on a bad day.
    apns_lab["admin_call"]("POST", "/api/v1/faults",
                           {"count": 1, "action": {"kind": "reason", "reason": "TooManyRequests"}})
    throttled = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {}}))
    assert (str(throttled.status), throttled.description) == ("429", "TooManyRequests")

    log = apns_lab["admin_call"]("GET", "/api/v1/notifications?limit=10")
    assert [r["status"] for r in log] == [429, 410, 200, 200]
