// npm's web-push against the mock's Web Push endpoint, changing only the CA (an
// https.Agent that trusts the mock's): a running phone's web app subscribes with the
// sender's VAPID key, web-push encrypts and signs, the endpoint answers 201 and the phone
// decrypts and shows the message; a localhost subject gets Apple's 403 BadJwtToken, and a
// removed web app 410.
const { test } = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const https = require("node:https");
const webpush = require("web-push");
const { startApnsLab } = require("apns-lab");

test("web-push sends to a running phone's web app, which shows it", async () => {
  const lab = await startApnsLab();
  const vapid = webpush.generateVAPIDKeys();
  const phone = lab.phone([], { udid: "WEB-PHONE", webApps: ["https://news.example"], vapidKey: vapid.publicKey });
  try {
    const agent = new https.Agent({ ca: fs.readFileSync(lab.ready.ca_file) });
    await phone.waitFor(/online/);
    const sub = await phone.subscription("https://news.example");
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
    const shown = await phone.waitFor("From web-push");
    assert.match(shown, /banner "Hello — From web-push"/);
    const journey = (await lab.notification(sent.headers["apns-id"])).journey.map((s) => s.state);
    assert.deepStrictEqual(journey.slice(0, 2), ["received", "delivered"]);

    await assert.rejects(webpush.sendNotification(subscription, "x", options("mailto:admin@localhost")), (e) =>
      e.statusCode === 403 && JSON.parse(e.body).reason === "BadJwtToken");

    await lab.removeWebApp("WEB-PHONE", "https://news.example");
    await assert.rejects(webpush.sendNotification(subscription, "x", options("mailto:ops@example.com")), (e) =>
      e.statusCode === 410 && JSON.parse(e.body).reason === "ExpiredToken");
  } finally {
    await phone.stop();
    await lab.stop();
  }
});
