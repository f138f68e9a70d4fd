"""httpx's HTTP/2 client against the plugin's mock, the request written out as Apple
documents it: POST /3/device/<token>, a provider token (ES256 JWT) and apns-* headers.

    pip install "apns-lab[pytest]" "httpx[http2]" pyjwt cryptography pytest-asyncio
"""
import ssl
import time

import httpx
import jwt
import pytest

APP = "com.example.chat"


@pytest.fixture
async def apns(apns_lab):
    """An HTTP/2 client for the sandbox provider API, trusting the mock's CA."""
    trust = ssl.create_default_context(cafile=apns_lab.ca_file)
    async with httpx.AsyncClient(http2=True, verify=trust, base_url=apns_lab.sandbox) as client:
        yield client


def bearer(apns_lab):
    token = jwt.encode({"iss": apns_lab.team_id, "iat": int(time.time())}, apns_lab.key_pem,
                       algorithm="ES256", headers={"kid": apns_lab.key_id})
    return f"bearer {token}"


async def test_a_push_over_http2_and_the_phone_shows_it(apns_lab, apns):
    with apns_lab.phone(APP, udid="HTTPX-PHONE") as phone:
        phone.wait_for("online")
        token = (await apns_lab.aio.device("HTTPX-PHONE")).token(APP)
        answer = await apns.post(f"/3/device/{token}", json={"aps": {"alert": "over HTTP/2"}},
                                 headers={"authorization": bearer(apns_lab), "apns-topic": APP,
                                          "apns-push-type": "alert"})
        assert answer.http_version == "HTTP/2"
        assert answer.status_code == 200, answer.text
        assert "over HTTP/2" in phone.wait_for("over HTTP/2")
        [logged] = await apns_lab.aio.notifications(token=token)
        assert logged["apns_id"] == answer.headers["apns-id"].lower()


async def test_bad_requests_get_apns_reasons(apns_lab, apns):
    token = (await apns_lab.aio.create_device(APP)).token(APP)
    headers = {"authorization": bearer(apns_lab), "apns-topic": APP}
    missing = await apns.post(f"/3/device/{token}", content=b"", headers=headers)
    assert (missing.status_code, missing.json()) == (400, {"reason": "PayloadEmpty"})
    bad_token = await apns.post("/3/device/00", json={"aps": {}}, headers=headers)
    assert (bad_token.status_code, bad_token.json()) == (400, {"reason": "BadDeviceToken"})
    unsigned = await apns.post(f"/3/device/{token}", json={"aps": {}}, headers={"apns-topic": APP})
    assert (unsigned.status_code, unsigned.json()) == (403, {"reason": "MissingProviderToken"})
