"""The pytest plugin (registered by entry point): ``apns_lab``, a fresh mock for each
test, and ``apns_lab_session``, one for the whole session.

Where the mock comes from, first match wins:

1. ``--apns-lab-url`` (or ``APNS_LAB_URL``): a mock that already runs — a container, a
   CI service — reached with ``--apns-lab-admin-token`` (or ``APNS_LAB_ADMIN_TOKEN``)
   and, if its listeners are not at the admin URL's host, ``--apns-lab-host``;
2. under ``apns-lab exec -- pytest`` (``APNS_LAB_ADMIN`` is set): exec's mock, unless
   ``--apns-lab-start`` (or ``APNS_LAB_START=1``) says to start mocks of its own;
3. otherwise ``apns-lab serve`` on free loopback ports, with the ini option
   ``apns_lab_serve_args`` added to its command line.

A mock the plugin did not start is reset before each test that asks for ``apns_lab``,
so each test still starts from nothing.

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
    group.addoption("--apns-lab-start", action="store_true", default=os.environ.get("APNS_LAB_START") == "1",
                    help="start mocks of its own even under `apns-lab exec` (env APNS_LAB_START=1)")
    parser.addini("apns_lab_serve_args", type="args", default=[],
                  help="more `apns-lab serve` options for the mocks the fixtures start")


def _open(config) -> ApnsLab:
    url = config.getoption("apns_lab_url")
    if url:
        return ApnsLab.connect(url, config.getoption("apns_lab_admin_token"), config.getoption("apns_lab_host"))
    if os.environ.get("APNS_LAB_ADMIN") and not config.getoption("apns_lab_start"):
        return ApnsLab.from_exec()
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
    ``--apns-lab-url``, or under ``apns-lab exec`` — the running one, reset first."""
    lab = _open(pytestconfig)
    try:
        if lab._process is None:
            lab.reset()
        yield lab
    finally:
        lab.stop()
