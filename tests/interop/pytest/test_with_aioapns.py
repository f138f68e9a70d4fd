"""The README's pytest fixtures in use: aioapns pointed at the mock (host, port, CA)."""
from aioapns import NotificationRequest


def hello(token, text="hi"):
    return NotificationRequest(device_token=token, message={"aps": {"alert": text}})


async def test_push_is_accepted_then_410_after_uninstall(apns_lab, apns):
    device = apns_lab["admin_call"]("POST", "/api/v1/devices", {"apps": [{"bundle_id": "com.example.chat"}]})
    token = device["apps"][0]["token"]

    sent = await apns.send_notification(hello(token))
    assert sent.is_successful

    # Uninstall: the first push is still accepted (APNs learns on delivery), the next is 410.
    apns_lab["admin_call"]("POST", f"/api/v1/devices/{device['udid']}/apps/com.example.chat/uninstall", {})
    first = await apns.send_notification(hello(token, "1"))
    later = await apns.send_notification(hello(token, "2"))
    assert first.is_successful
    assert (str(later.status), later.description) == ("410", "Unregistered")

    # A fault rule: the next push gets 429, as on a bad day.
    apns_lab["admin_call"]("POST", "/api/v1/faults",
                           {"count": 1, "action": {"kind": "reason", "reason": "TooManyRequests"}})
    throttled = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {}}))
    assert (str(throttled.status), throttled.description) == ("429", "TooManyRequests")

    log = apns_lab["admin_call"]("GET", "/api/v1/notifications?limit=10")
    assert [r["status"] for r in log] == [429, 410, 200, 200]


async def test_a_mock_clock_moved_ahead_expires_the_clients_token(apns_lab, apns):
    device = apns_lab["admin_call"]("POST", "/api/v1/devices", {"apps": [{"bundle_id": "com.example.chat"}]})
    token = device["apps"][0]["token"]
    assert (await apns.send_notification(hello(token))).is_successful

    # 61 minutes on APNs's clock: the token aioapns made "now" is over an hour old to it.
    apns_lab["admin_call"]("PUT", "/api/v1/clock", {"advance_ms": 61 * 60 * 1000})
    late = await apns.send_notification(hello(token, "late"))
    assert (str(late.status), late.description) == ("403", "ExpiredProviderToken")

    # Back to the real time: the same client is fine again.
    clock = apns_lab["admin_call"]("PUT", "/api/v1/clock", {"offset_ms": 0})
    assert clock["offset_ms"] == 0
    again = await apns.send_notification(hello(token, "again"))
    assert again.is_successful, (again.status, again.description)
