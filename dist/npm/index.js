// apns-lab from Node: start a mock APNs on free ports (or use the one `apns-lab exec`
// runs, or reach one running elsewhere, such as a container) and drive it through its
// admin API. No dependencies.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

/** The apns-lab executable: APNS_LAB_BIN, else the one this package carries. */
function binary() {
  return process.env.APNS_LAB_BIN || path.join(__dirname, "bin", "apns-lab");
}

class ApnsLabError extends Error {
  constructor(status, message) {
    super(status ? `${status}: ${message}` : message);
    this.status = status;
  }
}

function helpers(ready, adminToken, stopProcess, ownedDir) {
  const admin = async (method, p, body) => {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (adminToken) headers.authorization = `Bearer ${adminToken}`;
    const res = await fetch(ready.admin + p, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try { message = JSON.parse(text).error || text; } catch { /* not JSON */ }
      throw new ApnsLabError(res.status, `${method} ${p}: ${message}`);
    }
    return text ? JSON.parse(text) : null;
  };
  const q = encodeURIComponent;
  const query = (params) => {
    const given = Object.entries(params).filter(([, v]) => v !== undefined && v !== null);
    return given.length ? "?" + new URLSearchParams(given).toString() : "";
  };
  const app = (a) => {
    if (typeof a !== "string") return a;
    const [bundle_id, environment] = a.split(":");
    return environment ? { bundle_id, environment } : { bundle_id };
  };
  // node-apn's options for this mock: only address, port and CA differ from Apple's.
  const sandbox = new URL(ready.sandbox);
  const providerOptions = {
    token: { key: ready.key_file, keyId: ready.key_id, teamId: ready.team_id },
    production: false, address: sandbox.hostname, port: Number(sandbox.port), ca: ready.ca_file,
  };
  const stop = async () => {
    await stopProcess();
    if (ownedDir) fs.rmSync(ownedDir, { recursive: true, force: true });
  };
  const device = (udid) => admin("GET", `/api/v1/devices/${q(udid)}`);
  return {
    ready, admin, providerOptions, stop,
    reset: () => admin("POST", "/api/v1/reset"),
    health: () => admin("GET", "/api/v1/health"),
    createDevice: (apps, udid) => admin("POST", "/api/v1/devices", { apps: apps.map(app), ...(udid ? { udid } : {}) }),
    device,
    devices: () => admin("GET", "/api/v1/devices"),
    lifecycle: (udid, event, body = {}) => admin("POST", `/api/v1/devices/${q(udid)}/${event}`, body),
    appLifecycle: (udid, bundleId, event) => admin("POST", `/api/v1/devices/${q(udid)}/apps/${q(bundleId)}/${event}`, {}),
    events: (filter = {}) => admin("GET", "/api/v1/events" + query(filter)),
    notifications: (filter = {}) => admin("GET", "/api/v1/notifications" + query(filter)),
    // The same record as an item of notifications(), plus its journey to the device.
    notification: async (apnsId) => {
      const { request, journey } = await admin("GET", `/api/v1/notifications/${q(apnsId)}`);
      return { ...(request || { apns_id: apnsId }), journey: journey || [] };
    },
    fault: (action, match = {}) => admin("POST", "/api/v1/faults",
      { ...match, action: typeof action === "string" ? { kind: "reason", reason: action } : action }),
    faults: () => admin("GET", "/api/v1/faults"),
    clearFaults: () => admin("DELETE", "/api/v1/faults"),
    clock: () => admin("GET", "/api/v1/clock"),
    advanceClock: (seconds) => admin("PUT", "/api/v1/clock", { advance_ms: Math.round(seconds * 1000) }),
    resetClock: () => admin("PUT", "/api/v1/clock", { offset_ms: 0 }),
    push: (token, payload, options = {}) => admin("POST", "/api/v1/console", { token, payload, ...options }),
    localPush: (udid, payload, bundleId) =>
      admin("POST", `/api/v1/devices/${q(udid)}/push`, { payload, ...(bundleId ? { bundle_id: bundleId } : {}) }),
    webApp: (udid, origin, applicationServerKey, { name } = {}) => admin("POST", `/api/v1/devices/${q(udid)}/web-apps`,
      { origin, application_server_key: applicationServerKey, ...(name ? { name } : {}) }),
    respond: (udid, apnsId, action = "tap") =>
      admin("POST", `/api/v1/devices/${q(udid)}/notifications/${q(apnsId)}/respond`, { action }),
    webApps: (udid) => admin("GET", `/api/v1/devices/${q(udid)}/web-apps`),
    removeWebApp: (udid, origin) => admin("POST", `/api/v1/devices/${q(udid)}/web-apps/remove`, { origin }),
    revokeWebApp: (udid, origin) => admin("POST", `/api/v1/devices/${q(udid)}/web-apps/revoke`, { origin }),
    phone: (apps, { udid, webApps = [], vapidKey, args = [], handlers = true } = {}) => {
      const web = webApps.flatMap((origin) => ["--web-app", origin]);
      if (vapidKey) web.push("--vapid-key", vapidKey);
      const names = handlers ? [...apps.map((a) => app(a).bundle_id), ...webApps] : [];
      return startPhone(ready, admin, device, apps.map(app), udid, [...web, ...args], names);
    },
  };
}

/**
 * The phone's apps' handler: a loopback HTTP server answering each event with the
 * callback `phone.on` registered for it (awaited), or `{"default": true}`.
 */
function handlerServer(callbacks, errors) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      let status = 200;
      let answer;
      try {
        const event = JSON.parse(Buffer.concat(chunks).toString() || "{}");
        const appName = decodeURIComponent(req.url.slice(1));
        const callback = callbacks.get(`${event.event}\0${appName}`) || callbacks.get(`${event.event}\0`);
        answer = callback ? await callback(event) : undefined;
        answer = answer == null ? { default: true } : answer;
      } catch (e) {
        errors.push(e);
        status = 500;
        answer = { error: String(e) };
      }
      const body = JSON.stringify(answer);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

/** A simulated iPhone (`apns-lab device run`) in a child process. */
function startPhone(ready, admin, device, apps, udid, args, names) {
  udid = udid || `PHONE-${require("node:crypto").randomBytes(6).toString("hex").toUpperCase()}`;
  const cmd = ["device", "run", "--gateway", ready.gateway, "--ca", ready.ca_file, "--udid", udid];
  for (const a of apps) cmd.push("--app", a.environment ? `${a.bundle_id}:${a.environment}` : a.bundle_id);
  const lines = [];
  const waiting = new Set();
  const callbacks = new Map();
  const errors = [];
  let exited = false;
  let proc;
  const wake = () => { for (const w of [...waiting]) w(); };
  const started = (names.length ? handlerServer(callbacks, errors) : Promise.resolve(null)).then((handlers) => {
    const extra = handlers ? names.flatMap((n) => ["--handler", `${n}=${handlers.url}/${encodeURIComponent(n)}`]) : [];
    proc = spawn(binary(), [...cmd, ...extra, ...args], {
      stdio: ["ignore", "pipe", "inherit"], env: { RUST_LOG: "warn", ...process.env },
    });
    readline.createInterface({ input: proc.stdout }).on("line", (line) => { lines.push(line); wake(); });
    proc.once("exit", () => { exited = true; wake(); });
    return handlers;
  });
  const until = (found, timeoutMs, what) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new ApnsLabError(0, `${udid}: ${what} within ${timeoutMs} ms:\n${lines.join("\n")}`)), timeoutMs);
    const check = () => {
      const value = found();
      if (value !== undefined) done(null, value);
      else if (exited) done(new ApnsLabError(0, `${udid} exited before ${what}:\n${lines.join("\n")}`));
    };
    function done(error, value) {
      clearTimeout(timer);
      waiting.delete(check);
      if (error) reject(error); else resolve(value);
    }
    waiting.add(check);
    check();
  });
  return {
    udid,
    lines,
    /** The first line the phone printed that matches `pattern` (a RegExp or a string). */
    waitFor: (pattern, timeoutMs = 10000) => {
      const regex = pattern instanceof RegExp ? pattern : new RegExp(pattern);
      return until(() => lines.find((l) => regex.test(l)), timeoutMs, `no line matching ${regex}`);
    },
    /** Its app's device token (hex, whole), once the phone has registered it. */
    token: async (bundleId, timeoutMs = 10000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const app = (await device(udid)).apps.find((a) => a.bundle_id === bundleId);
          if (app) return app.token;
        } catch (e) {
          if (!(e instanceof ApnsLabError) || e.status !== 404) throw e;
        }
        if (Date.now() > deadline || exited) {
          throw new ApnsLabError(0, `${udid} did not register ${bundleId}:\n${lines.join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** Its web app's Web Push subscription (`PushSubscription.toJSON()` and more), once made. */
    subscription: async (origin, timeoutMs = 10000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const subs = await admin("GET", `/api/v1/devices/${encodeURIComponent(udid)}/web-apps`);
          const sub = subs.find((s) => s.origin === origin && s.state === "active");
          if (sub) return sub;
        } catch (e) {
          if (!(e instanceof ApnsLabError) || e.status !== 404) throw e;
        }
        if (Date.now() > deadline || exited) {
          throw new ApnsLabError(0, `${udid} did not subscribe ${origin}:\n${lines.join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /**
     * Runs `callback(event)` (it may be async) when iOS would call the app with `event`:
     * didReceive, serviceExtensionTimeWillExpire, didReceiveRemoteNotification,
     * willPresent, didReceiveIncomingPushWith, didRegisterForRemoteNotifications,
     * pushToStartTokenUpdates, pushTokenUpdates, didReceiveResponse (lab.respond), or
     * push (a web app's service worker).
     * Returning undefined leaves the event to the built-in app; `app` limits it to one
     * bundle ID or web origin. Returns the phone.
     */
    on(event, callback, appName) {
      if (!names.length) throw new ApnsLabError(0, "this phone was started with handlers: false");
      callbacks.set(`${event}\0${appName || ""}`, callback);
      return this;
    },
    /** What the callbacks threw (each answered the phone as the app's failure). */
    errors,
    stop: async () => {
      const handlers = await started;
      await new Promise((resolve) => {
        if (exited) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      });
      if (handlers) {
        handlers.server.closeAllConnections();
        await new Promise((resolve) => handlers.server.close(resolve));
      }
    },
  };
}

/**
 * A fresh mock for a test. Under `apns-lab exec` (APNS_LAB_ADMIN is set) with no
 * `serveArgs`, exec's mock, reset first (its stop() leaves it running); otherwise — or
 * with `{ start: true }`, or APNS_LAB_START=1 — `apns-lab serve` on free loopback ports
 * with a fresh data dir (removed by stop()), `serveArgs` being more `serve` options.
 */
async function startApnsLab(serveArgs = [], { start = process.env.APNS_LAB_START === "1" } = {}) {
  if (process.env.APNS_LAB_ADMIN && process.env.APNS_LAB_READY && serveArgs.length === 0 && !start) {
    const lab = helpers(JSON.parse(process.env.APNS_LAB_READY), process.env.APNS_LAB_ADMIN_TOKEN, async () => {}, null);
    await lab.reset();
    return lab;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "apns-lab-"));
  const args = ["serve", "--data-dir", dataDir];
  for (const l of ["sandbox", "production", "admin", "gateway", "channels-sandbox", "channels-production"]) {
    args.push(`--${l}-addr`, "127.0.0.1:0");
  }
  const env = { RUST_LOG: "warn", ...process.env };
  delete env.APNS_LAB_ADMIN_TOKEN;
  const proc = spawn(binary(), [...args, ...serveArgs], { stdio: ["ignore", "pipe", "inherit"], env });
  let ready;
  try {
    ready = JSON.parse(await new Promise((resolve, reject) => {
      readline.createInterface({ input: proc.stdout }).once("line", resolve);
      proc.once("error", reject);
      proc.once("exit", (code) => reject(new ApnsLabError(0, `apns-lab serve exited with ${code}`)));
    }));
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const stopProcess = () => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", resolve);
    proc.kill("SIGTERM");
  });
  return helpers(ready, null, stopProcess, dataDir);
}

/**
 * A mock that runs elsewhere (a container, a CI service), by its admin API's URL; its
 * listeners are reached at `host` (default: the admin URL's host), on the ports it
 * listens on or the ones `ports` maps them to ({ 2197: 49153 }: a container's published
 * ports). The CA and the
 * default key come from GET /api/v1/ready, written to a temporary directory.
 */
async function connectApnsLab(adminUrl, { adminToken, host, ports = {} } = {}) {
  const admin = adminUrl.replace(/\/+$/, "");
  const headers = adminToken ? { authorization: `Bearer ${adminToken}` } : {};
  const res = await fetch(`${admin}/api/v1/ready`, { headers });
  if (!res.ok) throw new ApnsLabError(res.status, `GET /api/v1/ready: ${await res.text()}`);
  const ready = await res.json();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "apns-lab-remote-"));
  const reach = host || new URL(admin).hostname;
  for (const name of ["sandbox", "production", "gateway", "channels_sandbox", "channels_production", "webpush"]) {
    const u = new URL(ready[name]);
    u.hostname = reach;
    if (ports[u.port]) u.port = String(ports[u.port]);
    ready[name] = u.origin;
  }
  ready.ca_file = path.join(dir, "ca.pem");
  fs.writeFileSync(ready.ca_file, ready.ca_pem);
  ready.key_file = path.join(dir, `AuthKey_${ready.key_id}.p8`);
  fs.writeFileSync(ready.key_file, ready.key_p8);
  delete ready.ca_pem;
  delete ready.key_p8;
  ready.admin = admin;
  return helpers(ready, adminToken, async () => {}, dir);
}

module.exports = { startApnsLab, connectApnsLab, binary, ApnsLabError };
