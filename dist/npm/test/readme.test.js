// Holds the package's README to the code: every ```js block runs as a test file under
// `node --test` and passes, and every call the package has appears in one.
const { test } = require("node:test");
const assert = require("node:assert");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const apnsLab = require("apns-lab");

const readme = fs.readFileSync(path.join(path.dirname(require.resolve("apns-lab/package.json")), "README.md"), "utf8");
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const code = blocks.join("\n");

test("every call of the package has an example in the README", async () => {
  const lab = await apnsLab.startApnsLab();
  const phone = lab.phone([]);
  try {
    const names = [...Object.keys(apnsLab), ...Object.keys(lab), ...Object.keys(phone)];
    const missing = names.filter((n) => !new RegExp(`\\b${n}\\b`).test(code));
    assert.deepStrictEqual(missing, [], "calls with no example in a js block of the README");
    // The ready line's fields are described in the text.
    const fields = Object.keys(lab.ready).filter((k) => !["event", "pid", "data_dir"].includes(k));
    assert.deepStrictEqual(fields.filter((k) => !readme.includes(`\`${k}\``)), [], "ready-line fields the README does not name");
  } finally {
    await phone.stop();
    await lab.stop();
  }
});

test("every js block of the README runs and passes", () => {
  assert.ok(blocks.length >= 5, `${blocks.length} js blocks`);
  const dir = fs.mkdtempSync(path.join(__dirname, ".readme-"));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  try {
    blocks.forEach((block, i) => {
      const file = path.join(dir, `example-${i}.test.js`);
      fs.writeFileSync(file, block);
      let out;
      try {
        out = execFileSync(process.execPath, ["--test", file], { encoding: "utf8", env, stdio: "pipe" });
      } catch (e) {
        assert.fail(`README block ${i + 1} failed:\n${block}\n${e.stdout}${e.stderr}`);
      }
      assert.match(out, /# fail 0/, `README block ${i + 1}`);
      assert.doesNotMatch(out, /# pass 0\b/, `README block ${i + 1} ran no test`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
