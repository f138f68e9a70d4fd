#!/usr/bin/env python3
"""Abuse benchmark: every listener of a running `apns-lab serve` under the attacks a
hostile or broken peer can make, each while a canary pushes through the provider API
every 50 ms. For each attack: the canary's success rate and p99, the server's RSS
before, at its peak and after, and its open fds after (back to the baseline or not).
Then the memory rows: RSS per idle provider connection, per connected phone, and RSS
after ten rounds of 3 000 connections opened and closed.

Everything goes to 127.0.0.1. Standard library only: raw HTTP/2 frames over TLS, so
the attacks can send what no well-behaved client library would.

Usage: bench/abuse.py [--secs N] [--only NAME[,NAME...]] [--binary PATH]
Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The canary's process is forked, so it shares the server handle as it is.
FORK = multiprocessing.get_context("fork")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(**values):
    ids = {"header_table_size": 1, "enable_push": 2, "max_concurrent_streams": 3, "initial_window_size": 4,
           "max_frame_size": 5, "max_header_list_size": 6}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in values.items()))


def hpack_literal(name, value):
    """A header as a literal without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    def string(s):
        s = s.encode() if isinstance(s, str) else s
        return hpack_int(len(s), 7, 0) + s
    return b"\x00" + string(name) + string(value)


def hpack_int(n, prefix, first):
    limit = (1 << prefix) - 1
    if n < limit:
        return bytes([first | n])
    out = [first | limit]
    n -= limit
    while n >= 128:
        out.append((n % 128) + 128)
        n //= 128
    out.append(n)
    return bytes(out)


def request_block(method, path, headers):
    block = hpack_literal(":method", method) + hpack_literal(":scheme", "https") + hpack_literal(":path", path)
    block += hpack_literal(":authority", "localhost")
    for name, value in headers:
        block += hpack_literal(name, value)
    return block


class Server:
    """`apns-lab serve` on free loopback ports, with a data dir that goes away after."""

    def __init__(self, binary, *args):
        self.dir = tempfile.mkdtemp(prefix="apns-abuse-")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", os.path.join(self.dir, "data"), "--sandbox-addr", "127.0.0.1:0",
             "--production-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0",
             *args],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "log"), "w"), cwd=self.dir)
        self.ready = json.loads(self.proc.stdout.readline())
        self.binary = binary

    def addr(self, listener):
        url = self.ready[listener]
        host, port = url.split("//")[1].rsplit(":", 1)
        return host, int(port)

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def alive(self):
        return self.proc.poll() is None

    def jwt(self):
        r = self.ready
        return subprocess.check_output([self.binary, "token", "--key-file", r["key_file"], "--key-id", r["key_id"],
                                        "--team-id", r["team_id"]], text=True).strip()

    def admin(self, method, path, body=None):
        import urllib.request
        req = urllib.request.Request(self.ready["admin"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def tls_context(ca_file, cert=None, alpn="h2"):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols([alpn])
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


async def connect(server, listener, cert=None, preface=True, alpn="h2"):
    host, port = server.addr(listener)
    reader, writer = await asyncio.open_connection(host, port, ssl=tls_context(server.ready["ca_file"], cert, alpn),
                                                   server_hostname="localhost")
    if preface and alpn == "h2":
        writer.write(PREFACE + settings(initial_window_size=1 << 20))
        await writer.drain()
    return reader, writer


async def read_frame(reader):
    head = await reader.readexactly(9)
    length = int.from_bytes(head[:3], "big")
    payload = await reader.readexactly(length)
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload


class Canary:
    """One provider-API connection that pushes every 50 ms and times each answer."""

    def __init__(self, server, jwt, token):
        self.server, self.jwt, self.token = server, jwt, token
        self.latencies, self.failures = [], 0
        self.running = False

    async def run(self):
        self.running = True
        stream = 1
        conn = None
        body = b'{"aps":{"alert":"canary"}}'
        while self.running:
            started = time.monotonic()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(connect(self.server, "sandbox"), 2)
                    stream = 1
                reader, writer = conn
                block = request_block("POST", f"/3/device/{self.token}", [
                    ("authorization", f"bearer {self.jwt}"), ("apns-topic", "com.example.abuse"),
                    ("apns-push-type", "alert"), ("content-length", str(len(body)))])
                writer.write(frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, END_STREAM, stream, body))
                await writer.drain()

                async def answer(s=stream):
                    while True:
                        kind, flags, sid, payload = await read_frame(reader)
                        if kind == SETTINGS and not flags & ACK:
                            writer.write(frame(SETTINGS, ACK, 0))
                        elif kind == PING and not flags & ACK:
                            writer.write(frame(PING, ACK, 0, payload))
                        elif kind == HEADERS and sid == s:
                            return payload
                        elif kind == GOAWAY:
                            raise ConnectionError("goaway")
                        elif kind == RST_STREAM and sid == s:
                            raise ConnectionError("reset")
                await asyncio.wait_for(answer(), 2)
                stream += 2
                self.latencies.append(time.monotonic() - started)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                self.failures += 1
                if conn:
                    conn[1].close()
                conn = None
            await asyncio.sleep(max(0, 0.05 - (time.monotonic() - started)))
        if conn:
            conn[1].close()

    def run_until(self, stop_event, results):
        """The canary's own process: runs until `stop_event`, then reports."""
        asyncio.events._set_running_loop(None)  # forked from inside the parent's loop
        async def go():
            task = asyncio.ensure_future(self.run())
            while not stop_event.is_set():
                await asyncio.sleep(0.05)
            self.running = False
            await task
        asyncio.run(go())
        results.put(self.summary())

    def summary(self):
        total = len(self.latencies) + self.failures
        ok = 100.0 * len(self.latencies) / total if total else 0.0
        lat = sorted(self.latencies)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
        return ok, p99, total


# ---------------------------------------------------------------------------------
# Attacks. Each opens its connections to one listener and sends for `secs` seconds,
# reconnecting whenever the server closes a connection (the server closing is the
# defence working; the attacker tries again at once).

async def flood(server, listener, conns, secs, chunks, cert=None, preface=True, read=False, tls=True, alpn="h2"):
    """`conns` connections each writing what `chunks(i)` yields (a float: a pause of
    that many seconds), until `secs` pass."""
    stop = time.monotonic() + secs
    sent = [0]

    async def one(i):
        while time.monotonic() < stop:
            try:
                if tls:
                    reader, writer = await asyncio.wait_for(connect(server, listener, cert, preface, alpn), 5)
                else:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(*server.addr(listener)), 5)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                await asyncio.sleep(0.05)
                continue
            drain = asyncio.ensure_future(drain_reads(reader)) if read else None
            try:
                for chunk in chunks(i):
                    if time.monotonic() >= stop:
                        break
                    if isinstance(chunk, float):
                        await asyncio.sleep(min(chunk, max(0, stop - time.monotonic())))
                        continue
                    writer.write(chunk)
                    await asyncio.wait_for(writer.drain(), max(0.01, stop - time.monotonic()))
                    sent[0] += len(chunk)
                else:
                    await asyncio.sleep(max(0, stop - time.monotonic()))
            except (OSError, asyncio.TimeoutError, ConnectionError, ssl.SSLError):
                pass
            finally:
                if drain:
                    drain.cancel()
                writer.transport.abort()

    await asyncio.gather(*(one(i) for i in range(conns)))
    return sent[0]


async def drain_reads(reader):
    try:
        while await reader.read(65536):
            pass
    except (OSError, ssl.SSLError, ConnectionError):
        pass


def forever(make):
    def chunks(i):
        n = 0
        while True:
            yield make(i, n)
            n += 1
    return chunks


def push_headers(ctx, path=None, extra=()):
    path = path or f"/3/device/{ctx['token']}"
    return request_block("POST", path, [("authorization", f"bearer {ctx['jwt']}"),
                                        ("apns-topic", "com.example.abuse"), *extra])


def rapid_reset(ctx, path=None):
    block = push_headers(ctx, path)

    def make(i, n):
        out = []
        for k in range(100):
            s = 1 + 2 * (n * 100 + k)
            if s >= 1 << 31:
                break
            out.append(frame(HEADERS, END_HEADERS, s, block) + frame(RST_STREAM, 0, s, struct.pack(">I", 8)))
        return b"".join(out)
    return forever(make)


def continuation_flood(ctx, path=None):
    filler = b"".join(hpack_literal(f"x-filler-{k}", "v" * 1000) for k in range(15))

    def chunks(i):
        yield frame(HEADERS, 0, 1, push_headers(ctx, path))
        while True:
            yield frame(CONTINUATION, 0, 1, filler)
    return chunks


def hpack_bomb(ctx, path=None):
    # One 4 KiB header put in the dynamic table (literal with incremental indexing),
    # then referenced by one byte (index 62) over and over: 16 000 bytes on the wire
    # would decode to 64 MiB.
    big = b"\x40" + hpack_int(len("x-bomb"), 7, 0) + b"x-bomb" + hpack_int(4000, 7, 0) + b"b" * 4000

    def make(i, n):
        s = 1 + 2 * n
        return frame(HEADERS, END_HEADERS | END_STREAM, s, push_headers(ctx, path) + big + b"\xbe" * 16000)
    return forever(make)


def settings_flood(ctx, path=None):
    return forever(lambda i, n: b"".join(settings(header_table_size=4096) for _ in range(200)))


def ping_flood(ctx, path=None):
    return forever(lambda i, n: b"".join(frame(PING, 0, 0, struct.pack(">Q", n * 200 + k)) for k in range(200)))


def zero_window(ctx, path=None):
    # The window is shut (and the socket never read): every answer must wait.
    block = push_headers(ctx, path, [("apns-push-type", "nonsense")])

    def chunks(i):
        yield settings(initial_window_size=0)
        s = 1
        while s < 1 << 31:
            yield b"".join(frame(HEADERS, END_HEADERS | END_STREAM, s + 2 * k, block) for k in range(50))
            s += 100
    return chunks


def slowloris(ctx, path=None):
    # One byte of the preface a second (a float is a pause): the handshake timeout.
    def chunks(i):
        for b in PREFACE:
            yield bytes([b])
            yield 1.0
    return chunks


def idle(ctx, path=None):
    # Connect and say nothing (after TLS, or after TCP when there is no TLS).
    def chunks(i):
        while True:
            yield 1.0
    return chunks


def half_bodies(ctx, path=None):
    block = push_headers(ctx, path, [("content-length", "4000")])

    def make(i, n):
        s = 1 + 2 * n
        return frame(HEADERS, END_HEADERS, s, block) + frame(DATA, 0, s, b"{" * 100)
    return forever(make)


def big_bodies(ctx, path=None):
    block = push_headers(ctx, path)
    chunk = b"x" * 16384

    def chunks(i):
        s = 1
        while True:
            yield frame(HEADERS, END_HEADERS, s, block)
            for _ in range(1024):  # 16 MiB
                yield frame(DATA, 0, s, chunk)
            yield frame(DATA, END_STREAM, s, b"")
            s += 2
    return chunks


def garbage(ctx, path=None):
    rnd = os.urandom(1 << 16)
    return forever(lambda i, n: rnd)


def bad_jwt_storm(ctx, path=None):
    head, claims, sig = ctx["jwt"].split(".")

    def make(i, n):
        # A new signature every time, so no cache can answer: each is an ES256 check.
        bad = sig[:-8] + f"{(i * 1000003 + n) % 10**8:08d}"
        block = request_block("POST", path or f"/3/device/{ctx['token']}",
                              [("authorization", f"bearer {head}.{claims}.{bad}"), ("apns-topic", "com.example.abuse")])
        return frame(HEADERS, END_HEADERS | END_STREAM, 1, block)
    # One request per connection: the connection is closed after a bad token.
    def chunks(i):
        n = 0
        while True:
            yield make(i, n)
            n += 1
    return chunks


def stream_flood(ctx, path=None):
    block = request_block("POST", path or "/gateway/v1/activate", [("content-type", "application/json")])

    def make(i, n):
        return b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * (n * 100 + k), block) for k in range(100))
    return forever(make)


def http1_upload(ctx, path=None, size=60 << 20):
    head = (f"POST {path or '/api/v1/devices'} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    chunk = b" " * 65536

    def chunks(i):
        yield head
        for _ in range(size // len(chunk)):
            yield chunk
        while True:
            yield 1.0
    return chunks


def http1_slowloris(ctx, path=None):
    def chunks(i):
        for b in f"POST {path or '/api/v1/devices'} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{{}}".encode():
            yield bytes([b])
            yield 1.0
    return chunks


def http1_pipeline(ctx, path=None):
    """Pipelined HTTP/1.1 requests, written as fast as the server takes them and never
    reading an answer."""
    one = (f"POST {path or '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\nTTL: 60\r\nContent-Length: 0\r\n\r\n").encode()
    batch = one * 100
    return forever(lambda i, n: batch)


# name, listener, attack, connections, options
ATTACKS = [
    ("rapid reset", "sandbox", rapid_reset, 4, {}),
    ("rapid reset", "gateway", rapid_reset, 4, {"path": "/gateway/v1/activate"}),
    ("rapid reset", "channels_sandbox", rapid_reset, 4, {"path": "/1/apps/com.example.abuse/all-channels"}),
    ("CONTINUATION flood", "sandbox", continuation_flood, 32, {}),
    ("CONTINUATION flood", "gateway", continuation_flood, 32, {"path": "/gateway/v1/activate"}),
    ("CONTINUATION flood", "channels_sandbox", continuation_flood, 32, {"path": "/1/apps/com.example.abuse/channels"}),
    ("HPACK bomb", "sandbox", hpack_bomb, 16, {}),
    ("HPACK bomb", "gateway", hpack_bomb, 16, {"path": "/gateway/v1/activate"}),
    ("HPACK bomb", "channels_sandbox", hpack_bomb, 16, {"path": "/1/apps/com.example.abuse/channels"}),
    ("SETTINGS flood, never read", "sandbox", settings_flood, 16, {}),
    ("SETTINGS flood, never read", "gateway", settings_flood, 16, {}),
    ("PING flood, never read", "sandbox", ping_flood, 16, {}),
    ("PING flood, never read", "gateway", ping_flood, 16, {}),
    ("zero window, never read", "sandbox", zero_window, 16, {}),
    ("zero window, never read", "channels_sandbox", zero_window, 16, {"path": "/1/apps/com.example.abuse/all-channels"}),
    ("stream flood, never ended", "sandbox", stream_flood, 4, {"path": "/3/device/{token}"}),
    ("stream flood, never ended (no certificate)", "gateway", stream_flood, 4, {}),
    ("half bodies", "sandbox", half_bodies, 16, {}),
    ("half bodies", "gateway", half_bodies, 16, {"path": "/gateway/v1/activate"}),
    ("16 MiB bodies", "sandbox", big_bodies, 8, {}),
    ("16 MiB bodies", "gateway", big_bodies, 8, {"path": "/gateway/v1/activate"}),
    ("16 MiB bodies", "channels_sandbox", big_bodies, 8, {"path": "/1/apps/com.example.abuse/channels"}),
    ("garbage frames", "sandbox", garbage, 16, {}),
    ("garbage frames", "gateway", garbage, 16, {}),
    ("garbage frames", "channels_sandbox", garbage, 16, {}),
    ("garbage before TLS", "sandbox", garbage, 16, {"tls": False}),
    ("garbage before TLS", "gateway", garbage, 16, {"tls": False}),
    ("bad-signature JWT storm", "sandbox", bad_jwt_storm, 32, {}),
    ("bad-signature JWT storm", "channels_sandbox", bad_jwt_storm, 32, {"path": "/1/apps/com.example.abuse/all-channels"}),
    ("slowloris (1 byte/s)", "sandbox", slowloris, 1000, {"preface": False}),
    ("slowloris (1 byte/s)", "gateway", slowloris, 1000, {"preface": False}),
    ("TLS done, no preface", "sandbox", idle, 2000, {"preface": False}),
    ("TLS done, no preface", "gateway", idle, 2000, {"preface": False}),
    ("TCP only, no TLS", "sandbox", idle, 2000, {"tls": False}),
    ("TCP only, no TLS", "gateway", idle, 2000, {"tls": False}),
    ("connection flood (6 000)", "sandbox", idle, 6000, {}),
    ("connection flood (6 000)", "channels_sandbox", idle, 6000, {}),
    ("rapid reset", "webpush", rapid_reset, 4, {"path": "/{sub}"}),
    ("CONTINUATION flood", "webpush", continuation_flood, 32, {"path": "/{sub}"}),
    ("HPACK bomb", "webpush", hpack_bomb, 16, {"path": "/{sub}"}),
    ("stream flood, never ended", "webpush", stream_flood, 4, {"path": "/{sub}"}),
    ("half bodies", "webpush", half_bodies, 16, {"path": "/{sub}"}),
    ("16 MiB bodies", "webpush", big_bodies, 8, {"path": "/{sub}"}),
    ("garbage frames", "webpush", garbage, 16, {}),
    ("garbage before TLS", "webpush", garbage, 16, {"tls": False}),
    ("HTTP/1.1 pipelined, never read", "webpush", http1_pipeline, 16, {"path": "/{sub}", "alpn": "http/1.1"}),
    ("HTTP/1.1 60 MB uploads x 200", "webpush", http1_upload, 200, {"path": "/{sub}", "alpn": "http/1.1"}),
    ("HTTP/1.1 slowloris (1 byte/s)", "webpush", http1_slowloris, 1000, {"alpn": "http/1.1"}),
    ("slowloris (1 byte/s)", "webpush", slowloris, 1000, {"preface": False}),
    ("TLS done, no preface", "webpush", idle, 2000, {"preface": False}),
    ("connection flood (6 000)", "webpush", idle, 6000, {}),
    ("60 MB uploads x 200", "admin", http1_upload, 200, {"tls": False}),
    ("slowloris (1 byte/s)", "admin", http1_slowloris, 1000, {"tls": False}),
    ("garbage", "admin", garbage, 16, {"tls": False}),
    ("connection flood (6 000)", "admin", idle, 6000, {"tls": False}),
]


async def measure(server, ctx, name, listener, attack, conns, opts, secs):
    """Runs one attack with the canary going; returns the table row."""
    opts = dict(opts)
    path = opts.pop("path", None)
    path = path and path.format(**ctx)
    before_rss, before_fds = server.rss_mib(), server.fds()
    # The canary runs in a process of its own, so the attack's work on this side (TLS
    # handshakes, writing) never delays it: only the server can.
    canary = Canary(server, ctx["jwt"], ctx["token"])
    stop_canary, results = FORK.Event(), FORK.Queue()
    canary_proc = FORK.Process(target=canary.run_until, args=(stop_canary, results))
    canary_proc.start()
    peak = [before_rss]

    async def sample():
        while True:
            peak[0] = max(peak[0], server.rss_mib())
            await asyncio.sleep(0.1)
    sampler = asyncio.ensure_future(sample())
    await asyncio.sleep(0.5)
    sent = await flood(server, listener, conns, secs, attack(ctx, path), **opts)
    await asyncio.sleep(0.5)
    stop_canary.set()
    ok, p99, pushes = await asyncio.get_running_loop().run_in_executor(None, results.get)
    canary_proc.join()
    # After: the attack's connections are gone; give the server the time its own
    # timeouts take (10 s at most) to let go of what it held.
    deadline = time.monotonic() + 15
    while server.fds() > before_fds and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(3)  # the allocator returns freed pages after a second
    sampler.cancel()
    return {"attack": name, "listener": listener, "conns": conns, "sent_mib": sent / (1 << 20), "ok": ok, "p99_ms": p99,
            "pushes": pushes, "rss_before": before_rss, "rss_peak": peak[0], "rss_after": server.rss_mib(),
            "fds_before": before_fds, "fds_after": server.fds(), "alive": server.alive()}


async def one_push(server, ctx, conn):
    """Sends one push on `conn` and waits for its answer; the connection stays open."""
    reader, writer = conn
    body = b'{"aps":{"alert":"hi"}}'
    writer.write(frame(HEADERS, END_HEADERS, 1, push_headers(ctx)) + frame(DATA, END_STREAM, 1, body))
    await writer.drain()
    while True:
        kind, flags, sid, payload = await read_frame(reader)
        if kind == SETTINGS and not flags & ACK:
            writer.write(frame(SETTINGS, ACK, 0))
        if kind == HEADERS and sid == 1:
            return payload[:1] == b"\x88"


async def h2_ready(conn):
    """Finishes the HTTP/2 handshake: acknowledges the server's SETTINGS and waits for
    the answer to a PING (so the server has read everything sent before it)."""
    reader, writer = conn
    writer.write(frame(PING, 0, 0, b"abuse!!!"))
    await writer.drain()
    while True:
        kind, flags, _, _ = await read_frame(reader)
        if kind == SETTINGS and not flags & ACK:
            writer.write(frame(SETTINGS, ACK, 0))
        if kind == PING and flags & ACK:
            return


async def idle_connections(server, ctx, n, rounds, mode):
    """RSS per idle provider connection and RSS after `rounds` rounds of `n` of them
    opened and closed. `mode`: "tls" (handshake only), "h2" (HTTP/2 handshake done),
    "push" (and one push answered)."""
    base = server.rss_mib()
    per_conn = []
    for _ in range(rounds):
        sem = asyncio.Semaphore(200)

        async def open_one():
            async with sem:
                conn = await connect(server, "sandbox", preface=mode != "tls")
                if mode == "h2":
                    await h2_ready(conn)
                if mode == "push":
                    assert await one_push(server, ctx, conn), "a push was refused"
                return conn
        conns = await asyncio.gather(*(open_one() for _ in range(n)))
        await asyncio.sleep(1)
        per_conn.append((server.rss_mib() - base) * 1024 / n)
        for _, writer in conns:
            writer.transport.abort()
        deadline = time.monotonic() + 15
        while server.fds() > 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
    await asyncio.sleep(2)
    return base, per_conn, server.rss_mib()


async def phones(server, binary, n):
    """RSS per phone connected to the gateway: the devices are made first (through the
    admin API), then a fleet of `n` phones connects as them; the RSS it adds is the
    connections' (and the phones' sessions')."""
    for start in range(0, n, 1000):
        server.admin("POST", "/api/v1/devices/batch", {"devices": [
            {"udid": f"FLEET-{k:06d}", "apps": [{"bundle_id": "com.example.fleet"}]} for k in range(start, min(n, start + 1000))]})
    await asyncio.sleep(1)
    tokens = os.path.join(server.dir, "tokens")
    before = server.rss_mib()
    fleet = subprocess.Popen([binary, "device", "fleet", "--gateway", server.ready["gateway"], "--ca",
                              server.ready["ca_file"], "--count", str(n), "--app", "com.example.fleet",
                              "--tokens-out", tokens], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not os.path.exists(tokens) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(2)
    connected = server.fds()
    per_phone = (server.rss_mib() - before) * 1024 / n
    fleet.terminate()
    fleet.wait()
    assert connected > n, f"only {connected} fds open: the fleet did not connect"
    return per_phone


def ctx_for(server):
    """A device for the canary and the attacks, a provider token, and a web app's
    subscription on the device (its id: the Web Push endpoint's path)."""
    device = server.admin("POST", "/api/v1/devices", {"apps": [{"bundle_id": "com.example.abuse"}]})
    # RFC 8291's example application server key.
    key = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
    sub = server.admin("POST", f"/api/v1/devices/{device['udid']}/web-apps",
                       {"origin": "https://abuse.example", "application_server_key": key})
    return {"jwt": server.jwt(), "token": device["apps"][0]["token"], "sub": sub["endpoint"].rsplit("/", 1)[1]}


def verdict(row):
    fine = (row["alive"] and row["ok"] >= 99.0 and row["p99_ms"] <= 1000 and row["rss_peak"] - row["rss_before"] <= 512
            and row["rss_after"] - row["rss_before"] <= 64 and row["fds_after"] <= row["fds_before"])
    return "yes" if fine else "**no**"


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--only", default="")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/apns-lab"), type=os.path.abspath)
    ap.add_argument("--memory", action="store_true", help="only the memory rows")
    args = ap.parse_args()
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    server = Server(args.binary)
    try:
        ctx = ctx_for(server)
        if args.memory or not only:
            for mode, what in [("tls", "after TLS"), ("h2", "after the HTTP/2 handshake"),
                               ("push", "after one push")]:
                fresh = Server(args.binary)
                try:
                    base, per_conn, after = await idle_connections(fresh, ctx_for(fresh), 3000, 10, mode)
                finally:
                    fresh.stop()
                print(f"- RSS per idle provider connection {what}: {per_conn[0]:.1f} KiB (rounds: "
                      + ", ".join(f"{k:.1f}" for k in per_conn) + f"); after the 10 rounds: {base:.0f} → "
                      f"{after:.0f} MiB (+{after - base:.0f} MiB)", flush=True)
            fresh = Server(args.binary)
            try:
                print(f"- RSS per phone connected to the gateway: {await phones(fresh, args.binary, 3000):.1f} KiB")
            finally:
                fresh.stop()
            print(flush=True)
            if args.memory:
                return
        print("| attack | listener | conns | sent | canary ok | canary p99 | RSS before → peak → after (MiB) | fds before → after | holds |")
        print("|---|---|---:|---:|---:|---:|---|---|---|")
        for name, listener, attack, conns, opts in ATTACKS:
            if only and not any(o in name or o == listener for o in only):
                continue
            row = await measure(server, ctx, name, listener, attack, conns, opts, args.secs)
            print(f"| {name} | {listener} | {conns} | {row['sent_mib']:.0f} MiB | {row['ok']:.1f} % of {row['pushes']} | {row['p99_ms']:.0f} ms | "
                  f"{row['rss_before']:.0f} → {row['rss_peak']:.0f} → {row['rss_after']:.0f} | "
                  f"{row['fds_before']} → {row['fds_after']} | {verdict(row)} |", flush=True)
            if not server.alive():
                print("the server died", file=sys.stderr)
                sys.exit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
