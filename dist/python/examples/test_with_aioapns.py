"""aioapns against the plugin's mock: only host, port and CA differ from Apple's.

    pip install "apns-lab[pytest]" aioapns pytest-asyncio
"""
import ssl

import aioapns.connection
import pytest
from aioapns import APNs, NotificationRequest

APP = "com.example.chat"


@pytest.fixture
async def apns(apns_lab):
    """aioapns pointed at the mock (made inside the test's event loop, where it is used)."""
    aioapns.connection.APNsDevelopmentClientProtocol.APNS_SERVER = apns_lab.host
    aioapns.connection.APNsDevelopmentClientProtocol.APNS_PORT = apns_lab.sandbox_port
    client = APNs(key=apns_lab.key_pem, key_id=apns_lab.key_id, team_id=apns_lab.team_id, topic=APP,
                  use_sandbox=True, ssl_context=ssl.create_default_context(cafile=apns_lab.ca_file))
    yield client


def hello(token, text="hi"):
    return NotificationRequest(device_token=token, message={"aps": {"alert": text}})


async def test_accepted_then_410_after_uninstall_then_a_fault(apns_lab, apns):
    device = await apns_lab.aio.create_device(APP)
    token = device.token(APP)
    assert (await apns.send_notification(hello(token))).is_successful

    await apns_lab.aio.uninstall(device.udid, APP)
    first = await apns.send_notification(hello(token, "1"))
    later = await apns.send_notification(hello(token, "2"))
    assert first.is_successful
    assert (str(later.status), later.description) == ("410", "Unregistered")

    await apns_lab.aio.fault("TooManyRequests", count=1)
    throttled = await apns.send_notification(hello(token, "3"))
    assert (str(throttled.status), throttled.description) == ("429", "TooManyRequests")

    log = await apns_lab.aio.notifications(limit=10)
    assert [r["status"] for r in log] == [429, 410, 200, 200]


async def test_the_mock_clock_expires_the_clients_token(apns_lab, apns):
    token = (await apns_lab.aio.create_device(APP)).token(APP)
    assert (await apns.send_notification(hello(token))).is_successful
    await apns_lab.aio.advance_clock(61 * 60)
    late = await apns.send_notification(hello(token, "late"))
    assert (str(late.status), late.description) == ("403", "ExpiredProviderToken")


# apns: aioapns pointed at apns_lab.host, .sandbox_port and .ca_file (the fixture above)
async def test_uninstall_means_410(apns_lab, apns):
    device = await apns_lab.aio.create_device(APP)
    token = device.token(APP)
    await apns_lab.aio.uninstall(device.udid, APP)
    await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {}}))
    gone = await apns.send_notification(NotificationRequest(device_token=token, message={"aps": {}}))
    assert (str(gone.status), gone.description) == ("410", "Unregistered")
