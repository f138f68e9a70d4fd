// Compiled with `tsc --noEmit --strict`: the package's types describe its helpers.
import { startApnsLab, connectApnsLab, ApnsLab, ProviderOptions, Phone, CaptureRecord } from "apns-lab";

async function main(): Promise<void> {
  const lab: ApnsLab = await startApnsLab(["--token-scope", "per-device"]);
  const options: ProviderOptions = lab.providerOptions;
  const device = await lab.createDevice(["com.example.chat", { bundle_id: "com.example.news", environment: "production" }]);
  const token: string = device.apps[0].token;
  const answer = await lab.push(token, { aps: {} }, { topic: "com.example.chat" });
  const status: number = answer.status;
  await lab.fault({ kind: "delay", ms: 10 }, { count: 1 });
  const [logged]: CaptureRecord[] = await lab.notifications({ token });
  const headers: Map<string, string> = new Map(logged.headers);
  const one = await lab.notification(answer.apns_id);
  const state: string = one.journey[0].state;
  const phone: Phone = lab.phone(["com.example.chat"], { udid: "TS-PHONE" });
  const phoneToken: string = await phone.token("com.example.chat");
  const line: string = await phone.waitFor(/online/);
  await lab.localPush(phone.udid, { aps: { alert: "hi" } }, "com.example.chat");
  await phone.stop();
  const kinds: string[] = (await lab.events({ udid: device.udid })).map((e) => e.kind);
  const fired: number = (await lab.faults())[0].fired;
  const offset: number = (await lab.clock()).offset_ms;
  const own = await startApnsLab([], { start: true });
  console.log(headers.size, state, phoneToken, line, kinds, fired, offset, (await lab.devices()).length);
  await own.stop();
  const remote = await connectApnsLab(lab.ready.admin, { adminToken: "t" });
  console.log(options.port, status, remote.ready.sandbox);
  await lab.stop();
}
void main;
