"""apns-lab from Python: start a mock APNs (or reach one that runs elsewhere, such as a
container) and drive it through its admin API — devices and their tokens, the lifecycle
events that change tokens, the capture log, fault rules, the clock, and simulated phones.

Standard library only. Every helper has an awaitable twin under ``lab.aio`` (run in a
worker thread), so async tests never block their event loop.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Optional, Union

__all__ = ["ApnsLab", "ApnsLabError", "Device", "Phone", "binary"]

Json = Any
App = Union[str, dict]


class ApnsLabError(Exception):
    """The admin API refused a call (``status`` and the mock's ``message``), or the mock
    could not be started or reached (``status`` 0)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


def binary() -> str:
    """The apns-lab executable: ``APNS_LAB_BIN`` if set, else the one this package
    installed beside Python's scripts, else the first on PATH."""
    given = os.environ.get("APNS_LAB_BIN")
    if given:
        return given
    scripts = pathlib.Path(sysconfig.get_path("scripts")) / "apns-lab"
    if scripts.is_file():
        return str(scripts)
    found = shutil.which("apns-lab")
    if found:
        return found
    raise ApnsLabError(0, "no apns-lab binary: pip install apns-lab, or set APNS_LAB_BIN")


class Device:
    """A virtual device as the admin API shows it: ``udid`` and its apps' tokens."""

    def __init__(self, view: dict):
        self.view = view
        self.udid: str = view["udid"]

    def token(self, bundle_id: str) -> str:
        """The device token of an installed app (hex)."""
        for app in self.view.get("apps", []):
            if app["bundle_id"] == bundle_id:
                return app["token"]
        raise KeyError(f"{self.udid} has no app {bundle_id}")

    def __getitem__(self, key: str) -> Json:
        return self.view[key]

    def __repr__(self) -> str:
        return f"Device({self.udid!r}, apps={[a['bundle_id'] for a in self.view.get('apps', [])]})"


def _app(app: App) -> dict:
    if isinstance(app, dict):
        return app
    bundle, _, env = app.partition(":")
    return {"bundle_id": bundle, **({"environment": env} if env else {})}


class ApnsLab:
    """A running mock APNs. ``ready`` is its ready line; ``sandbox``, ``production``,
    ``gateway`` are ``https://host:port`` URLs, ``host``/``sandbox_port``/
    ``production_port`` what an APNs client is given instead of Apple's, ``ca_file`` the
    CA to trust, ``key_file``/``key_id``/``team_id`` the default signing key (a ``.p8``,
    as Apple hands out)."""

    def __init__(self, ready: dict, admin_token: Optional[str] = None, process=None, owned_dir=None):
        self.ready = ready
        self.admin_token = admin_token
        self._process = process
        self._owned_dir = owned_dir
        self.admin: str = ready["admin"]
        self.sandbox: str = ready["sandbox"]
        self.production: str = ready["production"]
        self.gateway: str = ready["gateway"]
        self.channels_sandbox: Optional[str] = ready.get("channels_sandbox")
        self.channels_production: Optional[str] = ready.get("channels_production")
        self.webpush: Optional[str] = ready.get("webpush")
        self.ca_file: str = ready["ca_file"]
        self.key_file: str = ready["key_file"]
        self.key_id: str = ready["key_id"]
        self.team_id: str = ready["team_id"]
        self.aio = _Async(self)

    # -- starting and stopping ------------------------------------------------------

    @classmethod
    def start(cls, *serve_args: str, data_dir: Optional[str] = None, timeout: float = 30.0) -> "ApnsLab":
        """Starts ``apns-lab serve`` on free loopback ports with a fresh data dir (removed
        by ``stop()``), plus any further ``serve`` options (``"--token-scope",
        "per-device"``)."""
        owned = None if data_dir else tempfile.mkdtemp(prefix="apns-lab-")
        args = [binary(), "serve", "--data-dir", data_dir or owned]
        for listener in ("sandbox", "production", "admin", "gateway", "channels-sandbox", "channels-production"):
            args += [f"--{listener}-addr", "127.0.0.1:0"]
        env = {k: v for k, v in os.environ.items() if k != "APNS_LAB_ADMIN_TOKEN"}
        env.setdefault("RUST_LOG", "warn")
        proc = subprocess.Popen([*args, *serve_args], stdout=subprocess.PIPE, text=True, env=env)
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line:
            proc.kill()
            proc.wait()
            if owned:
                shutil.rmtree(owned, ignore_errors=True)
            raise ApnsLabError(0, f"apns-lab serve did not start (exit status {proc.poll()}); its stderr says why")
        return cls(json.loads(line), process=proc, owned_dir=owned)

    @classmethod
    def connect(cls, admin: str, admin_token: Optional[str] = None, host: Optional[str] = None,
                ports: Optional[dict] = None) -> "ApnsLab":
        """A mock that runs elsewhere (a container, a CI service), by its admin API's URL.
        Its listeners are reached at ``host`` (default: the admin URL's host), on the ports
        it listens on or, where ``ports`` maps one (``{2197: 49153}``, a container's
        published ports), on that; the CA and the default key are fetched from
        ``GET /api/v1/ready`` into a temporary directory."""
        admin = admin.rstrip("/")
        ready = _call(admin, admin_token, "GET", "/api/v1/ready")
        host = host or urllib.parse.urlsplit(admin).hostname or "127.0.0.1"
        here = tempfile.mkdtemp(prefix="apns-lab-remote-")
        ca = pathlib.Path(here, "ca.pem")
        ca.write_text(ready.pop("ca_pem"))
        key = pathlib.Path(here, f"AuthKey_{ready['key_id']}.p8")
        key.write_text(ready.pop("key_p8"))
        for name in ("sandbox", "production", "gateway", "channels_sandbox", "channels_production", "webpush", "h2c"):
            if ready.get(name):
                parts = urllib.parse.urlsplit(ready[name])
                port = (ports or {}).get(parts.port, parts.port)
                ready[name] = f"{parts.scheme}://{_host_port(host, port)}"
        ready.update(admin=admin, ca_file=str(ca), key_file=str(key), data_dir=None, pid=None)
        return cls(ready, admin_token=admin_token, owned_dir=here)

    @classmethod
    def from_exec(cls) -> "ApnsLab":
        """The mock ``apns-lab exec -- CMD`` runs beside this process, from the variables
        it sets (``APNS_LAB_READY``, ``APNS_LAB_ADMIN_TOKEN``); its files are used where
        they are. Raises :class:`ApnsLabError` outside ``exec``. ``stop()`` leaves that
        mock running: ``exec`` stops it when the command ends."""
        line = os.environ.get("APNS_LAB_READY")
        if not line:
            raise ApnsLabError(0, "not under `apns-lab exec`: APNS_LAB_READY is not set")
        return cls(json.loads(line), admin_token=os.environ.get("APNS_LAB_ADMIN_TOKEN"))

    def stop(self) -> None:
        """Stops a mock this object started (SIGTERM, then waits), and removes what it made."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout:
            self._process.stdout.close()
        self._process = None
        if self._owned_dir:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> "ApnsLab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- where a client points ------------------------------------------------------

    @property
    def host(self) -> str:
        """The host an APNs client connects to instead of api.sandbox.push.apple.com."""
        return urllib.parse.urlsplit(self.sandbox).hostname

    @property
    def sandbox_port(self) -> int:
        return urllib.parse.urlsplit(self.sandbox).port

    @property
    def production_port(self) -> int:
        return urllib.parse.urlsplit(self.production).port

    @property
    def key_pem(self) -> str:
        """The default signing key's ``.p8`` contents."""
        return pathlib.Path(self.key_file).read_text()

    # -- the admin API --------------------------------------------------------------

    def call(self, method: str, path: str, body: Json = None) -> Json:
        """One admin API call; the answer's JSON (``None`` for an empty one). Raises
        :class:`ApnsLabError` for a non-2xx answer."""
        return _call(self.admin, self.admin_token, method, path, body)

    def health(self) -> dict:
        return self.call("GET", "/api/v1/health")

    def reset(self) -> None:
        """Forgets every device, token, capture, fault rule and clock offset."""
        self.call("POST", "/api/v1/reset")

    # devices
    def create_device(self, *apps: App, udid: Optional[str] = None) -> Device:
        """A virtual device with these apps (``"com.example.chat"``, or
        ``"com.example.chat:production"``, or the admin API's app objects)."""
        body: dict = {"apps": [_app(a) for a in apps]}
        if udid:
            body["udid"] = udid
        return Device(self.call("POST", "/api/v1/devices", body))

    def device(self, udid: str) -> Device:
        return Device(self.call("GET", f"/api/v1/devices/{_q(udid)}"))

    def devices(self) -> list:
        return [Device(d) for d in self.call("GET", "/api/v1/devices")]

    # the lifecycle: what changes (or kills) tokens
    def uninstall(self, udid: str, bundle_id: str) -> dict:
        """The app is removed: the next push is still 200, the one after 410."""
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/apps/{_q(bundle_id)}/uninstall", {})

    def reinstall(self, udid: str, bundle_id: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/apps/{_q(bundle_id)}/reinstall", {})

    def update_app(self, udid: str, bundle_id: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/apps/{_q(bundle_id)}/update", {})

    def erase(self, udid: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/erase", {})

    def backup(self, udid: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/backup", {})

    def restore(self, udid: str, to_udid: Optional[str] = None) -> dict:
        """Restores the last backup onto the same device or (``to_udid``) a new one."""
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/restore", {"to_udid": to_udid} if to_udid else {})

    def offline(self, udid: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/offline", {})

    def online(self, udid: str) -> dict:
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/online", {})

    def events(self, udid: Optional[str] = None, limit: Optional[int] = None) -> list:
        """Lifecycle events, newest first."""
        return self.call("GET", "/api/v1/events" + _query(udid=udid, limit=limit))

    # the capture log
    def notifications(self, token: Optional[str] = None, topic: Optional[str] = None,
                      apns_id: Optional[str] = None, limit: Optional[int] = None) -> list:
        """Answered push requests, newest first: status, reason, headers, payload, auth."""
        return self.call("GET", "/api/v1/notifications" + _query(token=token, topic=topic, apns_id=apns_id, limit=limit))

    def notification(self, apns_id: str) -> dict:
        """One notification: the same record as an item of ``notifications()``, plus its
        ``journey`` to the device (``[{"state", "time_ms", "detail"?}, …]``). A push that
        never reached the capture log (a phone's local push) has only ``apns_id`` and
        ``journey``."""
        answer = self.call("GET", f"/api/v1/notifications/{_q(apns_id)}")
        record = dict(answer.get("request") or {"apns_id": apns_id})
        record["journey"] = answer.get("journey", [])
        return record

    # fault rules
    def fault(self, action: Union[str, dict], **match: Any) -> dict:
        """Adds a fault rule. ``action`` is a reason (``"TooManyRequests"``) or an action
        object (``{"kind": "delay", "ms": 500}``); ``match`` narrows it (``token``,
        ``topic``, ``push_type``, ``environment``, ``after``, ``count``, ``probability``)."""
        if isinstance(action, str):
            action = {"kind": "reason", "reason": action}
        return self.call("POST", "/api/v1/faults", {**match, "action": action})

    def faults(self) -> list:
        return self.call("GET", "/api/v1/faults")

    def clear_faults(self) -> None:
        self.call("DELETE", "/api/v1/faults")

    # the clock
    def clock(self) -> dict:
        return self.call("GET", "/api/v1/clock")

    def advance_clock(self, seconds: float) -> dict:
        """Moves APNs's clock forward (provider tokens age, stored pushes expire)."""
        return self.call("PUT", "/api/v1/clock", {"advance_ms": int(seconds * 1000)})

    def reset_clock(self) -> dict:
        return self.call("PUT", "/api/v1/clock", {"offset_ms": 0})

    # pushes from the mock's own console (no HTTP/2 client needed)
    def push(self, token: str, payload: Union[dict, str], topic: Optional[str] = None,
             environment: str = "sandbox", **headers: str) -> dict:
        """Sends one push through the provider API's checks, signed with the default key;
        ``headers`` are ``push_type``, ``priority``, ``expiration``, ``collapse_id``,
        ``apns_id``. The answer: ``status``, ``apns_id``, ``reason``, ``timestamp``, and
        the equivalent ``curl`` command."""
        body = {"token": token, "payload": payload, "environment": environment, **headers}
        if topic:
            body["topic"] = topic
        return self.call("POST", "/api/v1/console", body)

    def local_push(self, udid: str, payload: dict, bundle_id: Optional[str] = None) -> dict:
        """Injects a payload straight into a running phone, as ``xcrun simctl push`` does
        with an ``.apns`` file (no provider, no token): ``bundle_id``, or the payload's
        ``"Simulator Target Bundle"``, names the app. Answers ``{"apns_id"}``."""
        body: dict = {"payload": payload}
        if bundle_id:
            body["bundle_id"] = bundle_id
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/push", body)

    def respond(self, udid: str, apns_id: str, action: str = "tap") -> dict:
        """The user responds to a notification a running phone shows: ``tap``,
        ``dismiss``, or an action identifier of its category. The app's handler gets
        ``didReceiveResponse``; the journey records ``responded``."""
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/notifications/{_q(apns_id)}/respond", {"action": action})

    # Web Push: web apps on a phone's Home Screen
    def web_app(self, udid: str, origin: str, application_server_key: str, name: Optional[str] = None) -> dict:
        """Adds a web app (``https://host[:port]``) to a phone's Home Screen and subscribes
        it with the server's VAPID public key (base64url): the phone makes the keys, the
        mock issues the endpoint. Answers ``PushSubscription.toJSON()`` (``endpoint``,
        ``expirationTime``, ``keys``) plus ``origin``, ``name`` and ``state``."""
        body: dict = {"origin": origin, "application_server_key": application_server_key}
        if name:
            body["name"] = name
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/web-apps", body)

    def web_apps(self, udid: str) -> list:
        """A phone's web subscriptions, oldest first, ``state`` ``active`` or ``ended``."""
        return self.call("GET", f"/api/v1/devices/{_q(udid)}/web-apps")

    def remove_web_app(self, udid: str, origin: str) -> list:
        """Removes a web app from a phone: its subscription ends (410 from then on)."""
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/web-apps/remove", {"origin": origin})

    def revoke_web_app(self, udid: str, origin: str) -> list:
        """Turns a web app's notifications off, as in Settings: its subscription ends (410
        from then on, ``ended_by`` ``revoked``); the web app may subscribe again."""
        return self.call("POST", f"/api/v1/devices/{_q(udid)}/web-apps/revoke", {"origin": origin})

    # simulated phones
    def phone(self, *apps: App, udid: Optional[str] = None, web_apps: Iterable[str] = (),
              vapid_key: Optional[str] = None, args: Iterable[str] = (), handlers: bool = True) -> "Phone":
        """Runs a simulated iPhone (``apns-lab device run``) with these apps, connected to
        this mock's gateway; it registers, receives and prints what it shows. ``web_apps``
        are origins on its Home Screen, subscribed with ``vapid_key`` (the server's VAPID
        public key, base64url, or a PEM private key file). Without a ``udid`` it gets a
        fresh one (``phone.udid``). Each app's events reach this process, for callbacks
        given with ``phone.on(...)`` (``handlers=False`` leaves every app to the phone).
        ``args`` are more ``device run`` options, such as ``--extension-budget 1``."""
        udid = udid or "PHONE-" + os.urandom(6).hex().upper()
        cmd = [binary(), "device", "run", "--gateway", self.gateway, "--ca", self.ca_file, "--udid", udid]
        names = []
        for app in apps:
            a = _app(app)
            names.append(a["bundle_id"])
            cmd += ["--app", a["bundle_id"] + (":" + a["environment"] if a.get("environment") else "")]
        for origin in web_apps:
            names.append(origin)
            cmd += ["--web-app", origin]
        if vapid_key:
            cmd += ["--vapid-key", vapid_key]
        server = _Handlers() if handlers else None
        if server:
            for name in names:
                cmd += ["--handler", f"{name}={server.url}/{urllib.parse.quote(name, safe='')}"]
        return Phone(self, udid, cmd + list(args), server)


class Phone:
    """A simulated iPhone running in a child process: ``udid``, and ``lines``, what it
    printed (its tokens there are shortened; ``token()`` has them whole)."""

    def __init__(self, lab: ApnsLab, udid: str, cmd: list, handlers: "Optional[_Handlers]" = None):
        self._lab = lab
        self._handlers = handlers
        self.udid = udid
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self.lines: list = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        """The first line the phone printed that matches ``pattern`` (a regex)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    raise ApnsLabError(0, f"the phone never printed {pattern!r}:\n" + "\n".join(self.lines))
                self._changed.wait(left)

    def token(self, bundle_id: str, timeout: float = 10.0) -> str:
        """The device token APNs issued this phone's app (hex, whole), waiting up to
        ``timeout`` seconds for the phone to register it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._lab.device(self.udid).token(bundle_id)
            except (ApnsLabError, KeyError):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise ApnsLabError(0, f"{self.udid} did not register {bundle_id}:\n" + "\n".join(self.lines))
                time.sleep(0.05)

    def subscription(self, origin: str, timeout: float = 10.0) -> dict:
        """The Web Push subscription of the phone's web app ``origin``
        (``PushSubscription.toJSON()``), waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for sub in self._lab.web_apps(self.udid):
                    if sub["origin"] == origin and sub["state"] == "active":
                        return sub
            except ApnsLabError:
                pass
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise ApnsLabError(0, f"{self.udid} did not subscribe {origin}:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def on(self, event: str, callback, app: Optional[str] = None) -> "Phone":
        """Runs ``callback(event)`` when iOS would call the app with ``event`` — one of
        ``didReceive`` (its Notification Service Extension; answer ``{"content": {"title",
        "body", …}}``), ``serviceExtensionTimeWillExpire``, ``didReceiveRemoteNotification``
        (answer ``{"result": "newData"|"noData"|"failed"}``), ``willPresent`` (answer
        ``{"options": ["banner", "list", "sound", "badge"]}``), ``didReceiveIncomingPushWith``
        (VoIP: answer ``{"reportNewIncomingCall": {"handle": …}}`` or iOS terminates the
        app), ``didRegisterForRemoteNotifications``, ``pushToStartTokenUpdates``,
        ``pushTokenUpdates``, ``didReceiveResponse`` (the user tapped, dismissed or chose
        an action: ``lab.respond``), and ``push`` for a web app's service worker (answer
        ``{"showNotification": {"title", "body"?, "tag"?}}``). The event is a dict
        (``payload`` holds the push); returning ``None`` leaves the event to the phone's
        built-in app. ``app`` limits it to one bundle ID or web origin. Returns the phone."""
        if self._handlers is None:
            raise ApnsLabError(0, "this phone was started with handlers=False")
        self._handlers.callbacks[(event, app)] = callback
        return self

    @property
    def errors(self) -> list:
        """Exceptions the callbacks raised (each answered the phone as the app's failure)."""
        return list(self._handlers.errors) if self._handlers else []

    def stop(self) -> None:
        """Stops the phone (SIGTERM, then waits)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._handlers:
            self._handlers.close()

    def __enter__(self) -> "Phone":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handlers:
    """The phone's apps' handler: a loopback HTTP server that answers each event with
    the callback ``phone.on`` registered for it, or ``{"default": true}``."""

    def __init__(self):
        self.callbacks: dict = {}
        self.errors: list = []
        owner = self

        class Serve(BaseHTTPRequestHandler):
            def do_POST(self):
                try:
                    n = int(self.headers.get("content-length") or 0)
                    event = json.loads(self.rfile.read(n) or b"{}")
                    app = urllib.parse.unquote(self.path.lstrip("/"))
                    name = event.get("event")
                    callback = owner.callbacks.get((name, app)) or owner.callbacks.get((name, None))
                    answer = callback(event) if callback else None
                    body, status = json.dumps({"default": True} if answer is None else answer).encode(), 200
                except Exception as e:  # the app's failure, recorded for the test
                    owner.errors.append(e)
                    body, status = json.dumps({"error": repr(e)}).encode(), 500
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Async:
    """Every public helper of an :class:`ApnsLab`, awaitable (run in a worker thread)."""

    def __init__(self, lab: ApnsLab):
        self._lab = lab

    def __getattr__(self, name: str):
        method = getattr(self._lab, name)
        if not callable(method) or name.startswith("_"):
            raise AttributeError(name)

        @functools.wraps(method)
        async def awaitable(*args, **kwargs):
            return await asyncio.get_running_loop().run_in_executor(None, functools.partial(method, *args, **kwargs))

        return awaitable


def _call(admin: str, token: Optional[str], method: str, path: str, body: Json = None) -> Json:
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(admin + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
    except urllib.error.HTTPError as e:
        answer = e.read().decode(errors="replace")
        try:
            answer = json.loads(answer).get("error", answer)
        except (ValueError, AttributeError):
            pass
        raise ApnsLabError(e.code, f"{method} {path}: {answer}") from None
    except urllib.error.URLError as e:
        raise ApnsLabError(0, f"cannot reach the admin API at {admin}: {e.reason}") from None
    return json.loads(text) if text else None


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _query(**params: Any) -> str:
    given = {k: v for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(given) if given else ""


def _host_port(host: str, port: Optional[int]) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{port}"
