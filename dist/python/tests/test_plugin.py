"""A sample suite that uses nothing but the plugin (and the standard library): devices and
their tokens, the lifecycle, the capture log, fault rules, the clock, a phone, and the
async helpers."""
import asyncio
import os
import socket
import ssl

import pytest

import apns_lab as lab_module

APP = "com.example.chat"


def test_a_push_is_accepted_and_captured(apns_lab):
    device = apns_lab.create_device(APP)
    token = device.token(APP)
    answer = apns_lab.push(token, {"aps": {"alert": "hi"}}, topic=APP)
    assert answer["status"] == 200, answer
    [captured] = apns_lab.notifications(token=token)
    assert (captured["status"], captured["payload"]["aps"]["alert"]) == (200, "hi")
    assert captured["apns_id"] == answer["apns_id"]


def test_uninstall_then_410_and_reinstall_gets_a_new_token(apns_lab):
    device = apns_lab.create_device(APP)
    token = device.token(APP)
    apns_lab.uninstall(device.udid, APP)
    assert apns_lab.push(token, {"aps": {}}, topic=APP)["status"] == 200  # APNs learns on delivery
    later = apns_lab.push(token, {"aps": {}}, topic=APP)
    assert (later["status"], later["reason"]) == (410, "Unregistered")
    apns_lab.reinstall(device.udid, APP)
    assert apns_lab.device(device.udid).token(APP) != token


def test_a_fault_rule_and_the_clock(apns_lab):
    # A rule that answers acts on the mock's own pushes too (the examples show one on an
    # HTTP/2 client); one that acts on a connection passes them by.
    token = apns_lab.create_device(APP).token(APP)
    rule = apns_lab.fault("TooManyRequests", count=1, topic=APP)
    assert [r["id"] for r in apns_lab.faults()] == [rule["id"]]
    assert apns_lab.push(token, {"aps": {}}, topic=APP)["status"] == 429
    apns_lab.fault({"kind": "reset"})
    assert apns_lab.push(token, {"aps": {}}, topic=APP)["status"] == 200
    assert [(r["matched"], r["fired"]) for r in apns_lab.faults()] == [(2, 1), (0, 0)]
    apns_lab.clear_faults()
    assert apns_lab.faults() == []
    before = apns_lab.clock()["now_ms"]
    after = apns_lab.advance_clock(3600)["now_ms"]
    assert after - before >= 3_600_000
    assert apns_lab.reset_clock()["offset_ms"] == 0


def test_erase_changes_every_token(apns_lab):
    device = apns_lab.create_device(APP, "com.example.news")
    apns_lab.erase(device.udid)
    erased = apns_lab.device(device.udid)
    assert erased.token(APP) != device.token(APP)
    assert erased.token("com.example.news") != device.token("com.example.news")
    assert any(e["udid"] == device.udid for e in apns_lab.events(udid=device.udid))


def test_a_phone_registers_and_shows_a_push(apns_lab):
    with apns_lab.phone(APP, udid="PLUGIN-PHONE") as phone:
        phone.wait_for("online")
        token = apns_lab.device("PLUGIN-PHONE").token(APP)
        assert apns_lab.push(token, {"aps": {"alert": "to the phone"}}, topic=APP)["status"] == 200
        assert "to the phone" in phone.wait_for("to the phone")


def test_the_ca_and_the_default_key_are_files_a_client_can_use(apns_lab):
    context = ssl.create_default_context(cafile=apns_lab.ca_file)
    assert "BEGIN PRIVATE KEY" in apns_lab.key_pem
    # The provider API's certificate is issued by that CA for the host clients use.
    with socket.create_connection((apns_lab.host, apns_lab.sandbox_port)) as raw:
        with context.wrap_socket(raw, server_hostname=apns_lab.host) as tls:
            assert tls.version().startswith("TLS")


def test_an_admin_error_is_raised_with_its_status(apns_lab):
    try:
        apns_lab.device("NO-SUCH-DEVICE")
    except lab_module.ApnsLabError as e:
        assert e.status == 404
    else:
        raise AssertionError("no error")


def test_the_async_helpers(apns_lab):
    async def main():
        device = await apns_lab.aio.create_device(APP)
        answers = await asyncio.gather(*(apns_lab.aio.push(device.token(APP), {"aps": {}}, topic=APP) for _ in range(5)))
        return [a["status"] for a in answers]

    assert asyncio.run(main()) == [200] * 5


def test_the_session_mock_is_shared(apns_lab_session):
    apns_lab_session.create_device(APP, udid="SESSION-PHONE")
    assert apns_lab_session.health()["devices"] >= 1


def test_connect_reaches_a_running_mock_through_published_ports(apns_lab):
    remote = lab_module.ApnsLab.connect(apns_lab.admin, apns_lab.admin_token,
                                        ports={apns_lab.sandbox_port: 40000})
    try:
        assert (remote.host, remote.sandbox_port) == (apns_lab.host, 40000)
        assert remote.production_port == apns_lab.production_port
        assert (remote.key_id, remote.team_id, remote.key_pem) == (apns_lab.key_id, apns_lab.team_id, apns_lab.key_pem)
        with open(remote.ca_file) as mine, open(apns_lab.ca_file) as theirs:
            assert mine.read() == theirs.read()
    finally:
        remote.stop()


under_exec = pytest.mark.skipif(not os.environ.get("APNS_LAB_ADMIN") or bool(os.environ.get("APNS_LAB_URL")),
                                reason="only under `apns-lab exec -- pytest`")


@under_exec
def test_under_exec_the_fixtures_use_exec_s_mock(apns_lab, apns_lab_session, pytestconfig):
    if pytestconfig.getoption("apns_lab_start"):
        assert apns_lab.admin != os.environ["APNS_LAB_ADMIN"], "--apns-lab-start: a mock of its own"
    else:
        assert apns_lab.admin == apns_lab_session.admin == os.environ["APNS_LAB_ADMIN"]
    apns_lab.create_device(APP, udid="LEFT-BEHIND")


@under_exec
def test_under_exec_each_test_starts_from_nothing(apns_lab):
    assert apns_lab.devices() == [], "reset before each test"
