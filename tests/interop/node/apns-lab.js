// A fresh apns-lab mock per test, on free ports, torn down by stop().
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const APNS_LAB = process.env.APNS_LAB_BIN || "apns-lab";

async function startApnsLab() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "apns-lab-"));
  const proc = spawn(APNS_LAB, ["serve", "--data-dir", dataDir,
    "--sandbox-addr", "127.0.0.1:0", "--production-addr", "127.0.0.1:0",
    "--admin-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  const ready = JSON.parse(await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`apns-lab serve exited with ${code}`)));
  })); // sandbox, admin, ca_file, key_file, key_id, team_id

  const admin = async (method, p, body) => {
    const res = await fetch(ready.admin + p, {
      method, headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.status === 204 ? null : res.json();
  };
  // node-apn's options for this mock: only address, port and CA differ from Apple's.
  const sandbox = new URL(ready.sandbox);
  const providerOptions = {
    token: { key: ready.key_file, keyId: ready.key_id, teamId: ready.team_id },
    production: false, address: sandbox.hostname, port: Number(sandbox.port), ca: ready.ca_file,
  };
  const stop = () => new Promise((resolve) => {
    proc.once("exit", () => { fs.rmSync(dataDir, { recursive: true, force: true }); resolve(); });
    proc.kill();
  });
  return { ready, admin, providerOptions, stop };
}

module.exports = { startApnsLab };
