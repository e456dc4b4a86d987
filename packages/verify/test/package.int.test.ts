/**
 * The installable verifier as a user gets it: `npm pack` (whose prepack
 * builds dist/), the tarball installed into an empty folder with no other
 * package and no registry (`npm install --offline`), then a bundle verified
 * by the installed `attesto-verify` command (on this project's Node 24 and
 * on the machine's own `node`, whatever its version), by the library
 * imported from an ES module in Node, and by the same file loaded as a
 * module in headless Chromium. A tampered bundle fails in each.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "../../../test/support/bundles.js";

const run = promisify(execFile);
const here = path.resolve(import.meta.dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let dir: string;
let app: string;
let key: string;
let tarball: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "attesto-verify-pkg-"));
  await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: here, timeout: 240_000 });
  tarball = path.join(
    dir,
    readdirSync(dir).find((f) => f.endsWith(".tgz"))!,
  );
  app = path.join(dir, "app");
  mkdirSync(app);
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: app, timeout: 240_000 });
  const { bundle, signer } = buildBundle({ size: 40, from: 5, to: 30, payloads: true, anchored: true });
  key = signer.verifierKey;
  writeFileSync(path.join(app, "bundle.json"), JSON.stringify(bundle));
  const tampered = structuredClone(bundle);
  tampered.entries[3]!.payload = { n: 999 };
  writeFileSync(path.join(app, "tampered.json"), JSON.stringify(tampered));
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const installed = () => path.join(app, "node_modules", "@attesto", "verify");

describe("the @attesto/verify tarball", () => {
  it("holds the single-file library, the command, declarations and README, and nothing it depends on", () => {
    const pkg = JSON.parse(readFileSync(path.join(installed(), "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.dependencies).toBeUndefined();
    expect(
      readdirSync(path.join(app, "node_modules"))
        .filter((f) => !f.startsWith("."))
        .sort(),
    ).toEqual(["@attesto"]);
    const library = readFileSync(path.join(installed(), "dist", "index.js"), "utf8");
    // One file: no import of anything (noble and canonicalize are inside), no Node builtin.
    expect(library).not.toMatch(/^\s*import\s/m);
    expect(library).not.toMatch(/\bfrom\s*["']|require\(|node:/);
    expect(readFileSync(path.join(installed(), "README.md"), "utf8")).toContain("attesto-verify");
    expect(statSync(path.join(installed(), "dist", "types", "index.d.ts")).isFile()).toBe(true);
    expect(statSync(tarball).size).toBeLessThan(100_000);
  });

  // The project's Node 24, and the machine's own /usr/bin/node where there is one (Node 20 here: the package asks for >= 20).
  const nodes: Array<[string, string]> = [[`Node ${process.versions.node} (the project's)`, process.execPath]];
  const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
  if (system.status === 0) nodes.push([`Node ${system.stdout.trim()} (/usr/bin/node)`, "/usr/bin/node"]);
  for (const [label, node] of nodes) {
    it(`attesto-verify on ${label}: valid with the pinned key (exit 0), tampered fails leaves (exit 1), unpinned (exit 2)`, () => {
      const cli = path.join(app, "node_modules", ".bin", "attesto-verify");
      const ok = spawnSync(node, [cli, "bundle.json", "--key", key], { cwd: app, encoding: "utf8" });
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
      expect(ok.stdout).toMatch(/✔ leaves: pass — 26 leaves recomputed, 26 payload digests checked/);
      expect(ok.stdout.trim().split("\n").at(-1)).toBe("VALID");

      const bad = spawnSync(node, [cli, "tampered.json", "--key", key, "--json"], { cwd: app, encoding: "utf8" });
      expect(bad.status).toBe(1);
      const report = JSON.parse(bad.stdout) as { valid: boolean; checks: Array<{ name: string; status: string }> };
      expect(report.valid).toBe(false);
      expect(report.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["leaves"]);

      const unpinned = spawnSync(node, [cli, "-"], { cwd: app, encoding: "utf8", input: readFileSync(path.join(app, "bundle.json")) });
      expect(unpinned.status).toBe(2);
      expect(unpinned.stdout).toContain("NOT TRUSTED (pin the stream's verifier key with --key)");

      const usage = spawnSync(node, [cli], { cwd: app, encoding: "utf8" });
      expect(usage.status).toBe(64);
      expect(usage.stderr).toContain("usage: attesto-verify");
    });
  }

  it("the library imported by its package name from an ES module", async () => {
    writeFileSync(
      path.join(app, "check.mjs"),
      `import { readFileSync } from "node:fs";
import { verifyDocument } from "@attesto/verify";
const [file, key] = process.argv.slice(2);
const r = verifyDocument(readFileSync(file, "utf8"), { pinnedKey: key });
console.log(JSON.stringify({ valid: r.valid, failed: r.checks.filter((c) => c.status === "fail").map((c) => c.name) }));`,
    );
    const good = await run(process.execPath, ["check.mjs", "bundle.json", key], { cwd: app });
    expect(JSON.parse(good.stdout)).toEqual({ valid: true, failed: [] });
    const bad = await run(process.execPath, ["check.mjs", "tampered.json", key], { cwd: app });
    expect(JSON.parse(bad.stdout)).toEqual({ valid: false, failed: ["leaves"] });
  });

  describe("in a browser", () => {
    let server: Server;
    let browser: Browser;
    let base: string;
    beforeAll(async () => {
      // The installed folder served as it is, the way a site would serve the file.
      server = createServer((req, res) => {
        const file = path.join(app, decodeURIComponent(new URL(req.url!, "http://x").pathname));
        if (!file.startsWith(app)) return void res.writeHead(403).end();
        try {
          const body = readFileSync(file);
          res.writeHead(200, { "content-type": file.endsWith(".js") || file.endsWith(".mjs") ? "text/javascript" : file.endsWith(".html") ? "text/html" : "application/json" }).end(body);
        } catch {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // The page imports the installed file as a module and verifies both documents; the results land in #out.
      writeFileSync(
        path.join(app, "index.html"),
        `<!doctype html><meta charset="utf-8"><title>verify</title><pre id="out"></pre>
<script type="module">
import { verifyDocument } from "/node_modules/@attesto/verify/dist/index.js";
const key = new URLSearchParams(location.search).get("key");
const out = [];
for (const file of ["/bundle.json", "/tampered.json"]) {
  const r = verifyDocument(await (await fetch(file)).text(), { pinnedKey: key });
  out.push({ valid: r.valid, failed: r.checks.filter((c) => c.status === "fail").map((c) => c.name) });
}
document.getElementById("out").textContent = JSON.stringify(out);
</script>`,
      );
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => server?.close(resolve));
    });

    it("the installed dist/index.js, loaded as a module, verifies the bundle and fails the tampered one", async () => {
      const page = await browser.newPage();
      const outside: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith(base)) outside.push(r.url());
      });
      await page.goto(`${base}/index.html?key=${encodeURIComponent(key)}`);
      await page.waitForFunction(() => document.getElementById("out")!.textContent !== "", undefined, { timeout: 30_000 });
      const results = JSON.parse((await page.textContent("#out"))!) as unknown;
      expect(results).toEqual([
        { valid: true, failed: [] },
        { valid: false, failed: ["leaves"] },
      ]);
      expect(outside).toEqual([]);
    });
  });
});
