// npm's web-push against the mock's Web Push endpoint, changing only the CA (an
// https.Agent that trusts the mock's): a phone's web app subscribes with the sender's
// VAPID key, web-push encrypts and signs, the endpoint answers 201; a localhost subject
// gets Apple's 403 BadJwtToken, and a removed web app 410.
const { test } = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const https = require("node:https");
const webpush = require("web-push");
const { startApnsLab } = require("apns-lab");

test("web-push sends to a subscription the mock issued", async () => {
  const lab = await startApnsLab();
  try {
    const agent = new https.Agent({ ca: fs.readFileSync(lab.ready.ca_file) });
    const vapid = webpush.generateVAPIDKeys();
    await lab.createDevice([], "WEB-PHONE");
    const sub = await lab.admin("POST", "/api/v1/devices/WEB-PHONE/web-apps",
      { origin: "https://news.example", application_server_key: vapid.publicKey });
    assert.ok(sub.endpoint.startsWith(lab.ready.webpush), sub.endpoint);
    const subscription = { endpoint: sub.endpoint, keys: sub.keys };
    const options = (subject) => ({
      vapidDetails: { subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
      TTL: 60, urgency: "high", topic: "neueangebote", agent,
    });

    const sent = await webpush.sendNotification(subscription, JSON.stringify({ title: "Hello", body: "From web-push" }),
      options("mailto:ops@example.com"));
    assert.strictEqual(sent.statusCode, 201);
    assert.match(sent.headers["apns-id"], /^[0-9a-f-]{36}$/i);
    assert.ok(sent.headers.location.startsWith(lab.ready.webpush));

    await assert.rejects(webpush.sendNotification(subscription, "x", options("mailto:admin@localhost")), (e) =>
      e.statusCode === 403 && JSON.parse(e.body).reason === "BadJwtToken");

    await lab.admin("POST", "/api/v1/devices/WEB-PHONE/web-apps/remove", { origin: "https://news.example" });
    await assert.rejects(webpush.sendNotification(subscription, "x", options("mailto:ops@example.com")), (e) =>
      e.statusCode === 410 && JSON.parse(e.body).reason === "ExpiredToken");
  } finally {
    await lab.stop();
  }
});
