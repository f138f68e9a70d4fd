// The installed package as a user meets it: @parse/node-apn pushes to startApnsLab()'s
// mock with the providerOptions it gives, and the helpers drive and read the mock.
const { test } = require("node:test");
const assert = require("node:assert");
const { execFileSync } = require("node:child_process");
const apn = require("@parse/node-apn");
const fs = require("node:fs");
const { startApnsLab, connectApnsLab, binary, ApnsLabError } = require("apns-lab");

const APP = "com.example.chat";

test("the package carries a binary that runs", () => {
  assert.match(execFileSync(binary(), ["--version"], { encoding: "utf8" }), /^apns-lab \d+\.\d+\.\d+/);
});

test("node-apn pushes; uninstall brings 410; a fault rule fires; the log says so", async () => {
  const lab = await startApnsLab();
  const provider = new apn.Provider(lab.providerOptions);
  try {
    const device = await lab.createDevice([APP]);
    const token = device.apps[0].token;
    const note = (text) => new apn.Notification({ alert: text, topic: APP, pushType: "alert" });

    const ok = await provider.send(note("hello"), token);
    assert.deepStrictEqual(ok.failed, []);
    assert.strictEqual(ok.sent[0].device, token);

    await lab.appLifecycle(device.udid, APP, "uninstall");
    assert.deepStrictEqual((await provider.send(note("1"), token)).failed, []);
    const gone = await provider.send(note("2"), token);
    assert.strictEqual(Number(gone.failed[0].status), 410);
    assert.strictEqual(gone.failed[0].response.reason, "Unregistered");

    // (A reason node-apn does not retry: it retries 429 and 5xx on its own.)
    await lab.fault("TopicDisallowed", { count: 1 });
    const fresh = (await lab.createDevice([APP])).apps[0].token;
    const refused = await provider.send(note("3"), fresh);
    assert.strictEqual(Number(refused.failed[0].status), 400);
    assert.strictEqual(refused.failed[0].response.reason, "TopicDisallowed");

    const log = await lab.notifications({ limit: 10 });
    assert.deepStrictEqual(log.map((r) => r.status), [400, 410, 200, 200]);
    assert.strictEqual(log[3].payload.aps.alert, "hello");
  } finally {
    provider.shutdown();
    await lab.stop();
  }
});

test("the clock, the console push and errors", async () => {
  const lab = await startApnsLab();
  try {
    const token = (await lab.createDevice([APP])).apps[0].token;
    const answer = await lab.push(token, { aps: { alert: "from the console" } }, { topic: APP });
    assert.strictEqual(answer.status, 200);
    const moved = await lab.advanceClock(3600);
    assert.ok(moved.offset_ms >= 3_600_000);
    assert.strictEqual((await lab.resetClock()).offset_ms, 0);
    await assert.rejects(lab.device("NO-SUCH-DEVICE"), (e) => e instanceof ApnsLabError && e.status === 404);
  } finally {
    await lab.stop();
  }
});

test("connectApnsLab reaches a running mock through published ports", async () => {
  const lab = await startApnsLab();
  try {
    const sandboxPort = new URL(lab.ready.sandbox).port;
    const remote = await connectApnsLab(lab.ready.admin, { ports: { [sandboxPort]: 40000 } });
    assert.strictEqual(new URL(remote.ready.sandbox).port, "40000");
    assert.strictEqual(remote.ready.gateway, lab.ready.gateway);
    assert.strictEqual(remote.providerOptions.port, 40000);
    assert.strictEqual(fs.readFileSync(remote.ready.ca_file, "utf8"), fs.readFileSync(lab.ready.ca_file, "utf8"));
    assert.strictEqual(fs.readFileSync(remote.ready.key_file, "utf8"), fs.readFileSync(lab.ready.key_file, "utf8"));
    assert.strictEqual((await remote.health()).status, "ok");
    await remote.stop();
    assert.ok(!fs.existsSync(remote.ready.ca_file), "stop() removes what connect wrote");
  } finally {
    await lab.stop();
  }
});
