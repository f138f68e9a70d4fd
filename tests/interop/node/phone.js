// A simulated phone for the interop tests: `apns-lab device run` with the given
// arguments; waitFor(re) resolves with the first line it prints that matches re.
const { spawn } = require("node:child_process");
const readline = require("node:readline");

const APNS_LAB = process.env.APNS_LAB_BIN || "apns-lab";

function startPhone(ready, args) {
  const proc = spawn(APNS_LAB, ["device", "run", "--gateway", ready.gateway, "--ca", ready.ca_file, ...args],
    { stdio: ["ignore", "pipe", "inherit"] });
  const lines = [];
  const waiting = [];
  readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    lines.push(line);
    for (const w of waiting.splice(0)) {
      if (w.re.test(line)) w.resolve(line); else waiting.push(w);
    }
  });
  const waitFor = (re) => new Promise((resolve, reject) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return resolve(seen);
    waiting.push({ re, resolve });
    setTimeout(() => reject(new Error(`the phone never printed ${re}:\n${lines.join("\n")}`)), 10000).unref();
  });
  return { waitFor, stop: () => proc.kill() };
}

module.exports = { startPhone };
