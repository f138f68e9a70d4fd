// Under `apns-lab exec -- node --test --test-concurrency=1`: startApnsLab() is exec's
// mock, reset for each test, unless told to start its own. (Skipped outside exec.)
const { test } = require("node:test");
const assert = require("node:assert");
const { startApnsLab } = require("apns-lab");

const underExec = Boolean(process.env.APNS_LAB_ADMIN);

test("under exec, startApnsLab() is exec's mock, reset first", { skip: !underExec && "not under apns-lab exec" }, async () => {
  const lab = await startApnsLab();
  assert.strictEqual(lab.ready.admin, process.env.APNS_LAB_ADMIN);
  await lab.createDevice(["com.example.chat"], "LEFT-BEHIND");
  await lab.stop();
  const again = await startApnsLab();
  assert.deepStrictEqual(await again.devices(), [], "reset before the next test");
  assert.strictEqual((await again.health()).status, "ok", "stop() left exec's mock running");
});

test("{ start: true } and serve options start a mock of its own", { skip: !underExec && "not under apns-lab exec" }, async () => {
  for (const lab of [await startApnsLab([], { start: true }), await startApnsLab(["--token-scope", "per-device"])]) {
    try {
      assert.notStrictEqual(lab.ready.admin, process.env.APNS_LAB_ADMIN);
    } finally {
      await lab.stop();
    }
  }
});
