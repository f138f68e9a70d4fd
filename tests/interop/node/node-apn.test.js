// @parse/node-apn against the mock through the npm package's startApnsLab(): a push accepted, a bad
// token refused with APNs's reason, and the capture log showing what was sent.
const { test } = require("node:test");
const assert = require("node:assert");
const apn = require("@parse/node-apn");
const { startApnsLab } = require("apns-lab");

test("node-apn pushes to the mock and the mock says what it got", async () => {
  const lab = await startApnsLab();
  const provider = new apn.Provider(lab.providerOptions);
  try {
    const device = await lab.admin("POST", "/api/v1/devices", { apps: [{ bundle_id: "com.example.chat" }] });
    const token = device.apps[0].token;
    const note = new apn.Notification({ alert: "Hello from node-apn", topic: "com.example.chat", pushType: "alert" });

    const ok = await provider.send(note, token);
    assert.deepStrictEqual(ok.failed, []);
    assert.strictEqual(ok.sent[0].device, token);
    assert.match(ok.sent[0]["apns-unique-id"], /^[0-9a-f-]{36}$/);

    const bad = await provider.send(note, "00");
    assert.strictEqual(Number(bad.failed[0].status), 400);
    assert.deepStrictEqual(bad.failed[0].response, { reason: "BadDeviceToken" });

    const log = await lab.admin("GET", `/api/v1/notifications?token=${token}`);
    assert.strictEqual(log.length, 1);
    assert.strictEqual(log[0].status, 200);
    assert.strictEqual(log[0].payload.aps.alert, "Hello from node-apn");
    assert.strictEqual(log[0].auth.key_id, lab.ready.key_id);
  } finally {
    provider.shutdown();
    await lab.stop();
  }
});
