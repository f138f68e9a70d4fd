// @parse/node-apn's Live Activity notifications against the mock, asserted on a running
// phone (`apns-lab device run`): push-to-start with input-push-token, an update, an end,
// then the ended activity's token — accepted once, then 410.
const { test } = require("node:test");
const assert = require("node:assert");
const apn = require("@parse/node-apn");
const { startApnsLab } = require("apns-lab");

const APP = "com.example.food";

function liveActivity(event, fields) {
  const note = new apn.Notification();
  note.topic = `${APP}.push-type.liveactivity`;
  note.pushType = "liveactivity";
  note.priority = 10;
  note.event = event;
  note.timestamp = Math.floor(Date.now() / 1000);
  for (const [k, v] of Object.entries(fields)) note[k] = v;
  return note;
}

test("node-apn starts, updates and ends a Live Activity on a phone", async () => {
  const lab = await startApnsLab();
  const phone = lab.phone([APP], { udid: "NODE-LA-PHONE", args: ["--activity-type", `${APP}:DeliveryAttributes`] });
  const provider = new apn.Provider(lab.providerOptions);
  const tokenOf = async (kind) => {
    const device = await lab.admin("GET", "/api/v1/devices/NODE-LA-PHONE");
    return (device.activities || []).find((a) => a.kind === kind);
  };
  try {
    await phone.waitFor(/online: waiting for notifications/);
    const start = (await tokenOf("push-to-start")).token;
    assert.strictEqual(start.length, 160);

    const sent = await provider.send(liveActivity("start", {
      contentState: { eta: 30 }, attributesType: "DeliveryAttributes", attributes: { order: "A7" },
      alert: { title: "Order confirmed", body: "30 min" }, inputPushToken: 1,
    }), start);
    assert.deepStrictEqual(sent.failed, []);
    await phone.waitFor(/Live Activity \S+ started by push, on the Lock Screen: \{"eta":30\}/);
    await phone.waitFor(/\[2\] APNs issued update token/);
    const update = (await tokenOf("update")).token;

    const updated = await provider.send(liveActivity("update", { contentState: { eta: 12 }, staleDate: 2000000000 }), update);
    assert.deepStrictEqual(updated.failed, []);
    await phone.waitFor(/Live Activity \S+ updated: \{"eta":12\}/);

    const ended = await provider.send(liveActivity("end", { contentState: { eta: 0 }, dismissalDate: 1 }), update);
    assert.deepStrictEqual(ended.failed, []);
    await phone.waitFor(/Live Activity \S+ ended: \{"eta":0\}/);
    // The phone told APNs the activity ended: accepted once (and dropped), then 410.
    for (let i = 0; i < 100 && (await tokenOf("update")).state !== "ended"; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const late = await provider.send(liveActivity("update", { contentState: { eta: 1 } }), update);
    assert.deepStrictEqual(late.failed, []);
    const gone = await provider.send(liveActivity("update", { contentState: { eta: 1 } }), update);
    assert.strictEqual(Number(gone.failed[0].status), 410);
    assert.strictEqual(gone.failed[0].response.reason, "Unregistered");

    const log = await lab.admin("GET", `/api/v1/notifications?token=${update}&limit=10`);
    assert.strictEqual(log[log.length - 1].payload.aps.event, "update");
    assert.ok(log.every((r) => r.topic === `${APP}.push-type.liveactivity`));
  } finally {
    provider.shutdown();
    await phone.stop();
    await lab.stop();
  }
});
