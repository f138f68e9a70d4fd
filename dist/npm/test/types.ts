// Compiled with `tsc --noEmit --strict`: the package's types describe its helpers.
import { startApnsLab, connectApnsLab, ApnsLab, ProviderOptions } from "apns-lab";

async function main(): Promise<void> {
  const lab: ApnsLab = await startApnsLab(["--token-scope", "per-device"]);
  const options: ProviderOptions = lab.providerOptions;
  const device = await lab.createDevice(["com.example.chat", { bundle_id: "com.example.news", environment: "production" }]);
  const token: string = device.apps[0].token;
  const answer = await lab.push(token, { aps: {} }, { topic: "com.example.chat" });
  const status: number = answer.status;
  await lab.fault({ kind: "delay", ms: 10 }, { count: 1 });
  const remote = await connectApnsLab(lab.ready.admin, { adminToken: "t" });
  console.log(options.port, status, remote.ready.sandbox);
  await lab.stop();
}
void main;
