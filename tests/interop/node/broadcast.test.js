// @parse/node-apn's broadcast support against the mock: manageChannels (create, read,
// readAll, delete) on the channel listener and broadcast on the provider API, asserted on
// a running phone whose Live Activity joined the channel (a push-to-start with
// input-push-channel).
const { test } = require("node:test");
const assert = require("node:assert");
const apn = require("@parse/node-apn");
const { startApnsLab } = require("apns-lab");

const APP = "com.example.score";

test("node-apn manages channels and broadcasts to a phone's Live Activity", async () => {
  const lab = await startApnsLab();
  const phone = lab.phone([APP], { udid: "NODE-BC-PHONE", args: ["--activity-type", `${APP}:MatchAttributes`] });
  const channels = new URL(lab.ready.channels_sandbox);
  const provider = new apn.Provider({ ...lab.providerOptions,
    manageChannelsAddress: channels.hostname, manageChannelsPort: Number(channels.port) });
  try {
    await phone.waitFor(/online: waiting for notifications/);
    // create: 201, the id in apns-channel-id, the request id echoed.
    const create = new apn.Notification();
    create.requestId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    create.payload = { "message-storage-policy": 1 };
    const made = await provider.manageChannels(create, APP, "create");
    assert.deepStrictEqual(made.failed, []);
    const channelId = made.sent[0]["apns-channel-id"];
    assert.strictEqual(channelId.length, 24);
    assert.strictEqual(made.sent[0]["apns-request-id"], create.requestId);

    const read = new apn.Notification();
    read.channelId = channelId;
    const got = await provider.manageChannels(read, APP, "read");
    assert.deepStrictEqual(got.failed, []);
    assert.strictEqual(got.sent[0]["message-storage-policy"], 1);
    const all = await provider.manageChannels(new apn.Notification(), APP, "readAll");
    assert.deepStrictEqual(all.sent[0].channels, [channelId]);

    // The phone's activity joins the channel as it starts (push-to-start, input-push-channel).
    const device = await lab.admin("GET", "/api/v1/devices/NODE-BC-PHONE");
    const startToken = device.activities.find((a) => a.kind === "push-to-start").token;
    const start = new apn.Notification();
    Object.assign(start, { topic: `${APP}.push-type.liveactivity`, pushType: "liveactivity", priority: 10,
      event: "start", timestamp: Math.floor(Date.now() / 1000), contentState: { score: "0-0" },
      attributesType: "MatchAttributes", attributes: { match: "Final" }, alert: { title: "Kick-off" },
      inputPushChannel: channelId });
    assert.deepStrictEqual((await provider.send(start, startToken)).failed, []);
    await phone.waitFor(/Live Activity \S+ started by push/);
    for (let i = 0; i < 100; i++) {
      const d = await lab.admin("GET", "/api/v1/devices/NODE-BC-PHONE");
      if ((d.activities || []).some((a) => a.channel === channelId)) break;
      await new Promise((r) => setTimeout(r, 20));
    }

    // One broadcast: node-apn sends no topic, the channel id, and its own headers.
    const update = new apn.Notification();
    Object.assign(update, { channelId, pushType: "liveactivity", priority: 10, expiry: Math.floor(Date.now() / 1000) + 3600,
      event: "update", timestamp: Math.floor(Date.now() / 1000) + 1, contentState: { score: "1-0" } });
    const sent = await provider.broadcast(update, APP);
    assert.deepStrictEqual(sent.failed, []);
    assert.match(sent.sent[0]["apns-request-id"], /^[0-9a-f-]{36}$/);
    await phone.waitFor(/Live Activity \S+ updated: \{"score":"1-0"\}/);

    const del = new apn.Notification();
    del.channelId = channelId;
    assert.deepStrictEqual((await provider.manageChannels(del, APP, "delete")).failed, []);
    const again = await provider.manageChannels(read, APP, "read");
    assert.strictEqual(again.failed[0].response.reason, "ChannelNotRegistered");
  } finally {
    provider.shutdown();
    await phone.stop();
    await lab.stop();
  }
});
