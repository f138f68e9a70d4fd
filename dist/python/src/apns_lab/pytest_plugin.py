"""The pytest plugin (registered by entry point): ``apns_lab``, a fresh mock for each
test, and ``apns_lab_session``, one for the whole session.

Both start ``apns-lab serve`` on free loopback ports, or, given ``--apns-lab-url`` (or
``APNS_LAB_URL``), use a mock that already runs — a container, a CI service — reached
with ``--apns-lab-admin-token`` (or ``APNS_LAB_ADMIN_TOKEN``); ``apns_lab`` then resets
it before each test, so each test still starts from nothing.

The fixtures are plain (not async) fixtures, so they work the same in sync tests and in
async ones under pytest-asyncio, anyio or trio; ``lab.aio`` has every helper awaitable.
"""
from __future__ import annotations

import os

import pytest

from . import ApnsLab


def pytest_addoption(parser):
    group = parser.getgroup("apns-lab")
    group.addoption("--apns-lab-url", default=os.environ.get("APNS_LAB_URL"),
                    help="use the apns-lab whose admin API is here instead of starting one (env APNS_LAB_URL)")
    group.addoption("--apns-lab-admin-token", default=os.environ.get("APNS_LAB_ADMIN_TOKEN"),
                    help="that admin API's token (env APNS_LAB_ADMIN_TOKEN)")
    group.addoption("--apns-lab-host", default=os.environ.get("APNS_LAB_HOST"),
                    help="the host its listeners are reached at, if not the admin URL's (env APNS_LAB_HOST)")
    parser.addini("apns_lab_serve_args", type="args", default=[],
                  help="more `apns-lab serve` options for the mocks the fixtures start")


def _open(config) -> ApnsLab:
    url = config.getoption("apns_lab_url")
    if url:
        return ApnsLab.connect(url, config.getoption("apns_lab_admin_token"), config.getoption("apns_lab_host"))
    return ApnsLab.start(*config.getini("apns_lab_serve_args"))


@pytest.fixture(scope="session")
def apns_lab_session(pytestconfig):
    """One mock for the whole session (call ``.reset()`` for a clean slate)."""
    lab = _open(pytestconfig)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def apns_lab(pytestconfig):
    """A fresh mock for this test: started for it and stopped after it, or — with
    ``--apns-lab-url`` — the running one, reset first."""
    lab = _open(pytestconfig)
    try:
        if lab._process is None:
            lab.reset()
        yield lab
    finally:
        lab.stop()
