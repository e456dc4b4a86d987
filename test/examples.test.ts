import { execFile } from "node:child_process";
import { mkdir, readFile, symlink } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { ROOT } from "./support/process.js";
import { ADMIN_TOKEN, newTenant, tempDir } from "./support/server.js";
import { isolatedStore, startWebhookServer, type Store } from "./support/webhooks.js";

const run = promisify(execFile);

let store: Store;
let app: Attesto;

beforeAll(async () => {
  store = await isolatedStore("examples");
  app = await startWebhookServer(store);
});
afterAll(async () => {
  await app?.stop();
  await store?.drop();
});

describe("the examples, against a live server", () => {
  it("examples/ts: the typed client creates, appends, checkpoints and proves; the proofs verify locally", async () => {
    const { key } = await newTenant(app.url);
    const { stdout } = await run(process.execPath, ["--conditions=source", "--import", "tsx", path.join(ROOT, "examples/ts/quickstart.ts")], {
      cwd: ROOT,
      env: { ...process.env, ATTESTO_URL: app.url, ATTESTO_API_KEY: key },
      timeout: 60_000,
    });
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({ ok: true, checkpoints: [5, 8], inclusion: "verified", consistency: "verified" });
    expect(result.origin).toBe(`${new URL(app.url).host}/proofstreams/${result.streamId as string}`);
  });

  it("examples/ts refuses to run without a key, and fails on a wrong one", async () => {
    const example = ["--conditions=source", "--import", "tsx", path.join(ROOT, "examples/ts/quickstart.ts")];
    const without = await run(process.execPath, example, { cwd: ROOT, env: { ...process.env, ATTESTO_URL: app.url, ATTESTO_API_KEY: "" } }).catch((e: { code: number; stderr: string }) => e);
    expect(without).toMatchObject({ code: 2 });
    const wrong = await run(process.execPath, example, { cwd: ROOT, env: { ...process.env, ATTESTO_URL: app.url, ATTESTO_API_KEY: "atk_" + "A".repeat(43) } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((wrong as { code: number }).code).not.toBe(0);
    expect((wrong as { stderr: string }).stderr).toMatch(/unauthenticated|invalid API key/i);
  });

  it("examples/go: over gRPC with an API key, the proofs verify with golang.org/x/mod/sumdb note and tlog", async () => {
    // GOPATH mode, as Debian ships Go and its libraries (grpc, protobuf and x/mod in /usr/share/gocode):
    // the repository is linked in at its module path, so gen/go is imported by its go_package.
    const gopath = await tempDir("attesto-go-example-");
    await mkdir(path.join(gopath, "src", "github.com", "attesto-eu"), { recursive: true });
    await symlink(ROOT, path.join(gopath, "src", "github.com", "attesto-eu", "attesto"));
    const binary = path.join(gopath, "example");
    const env = { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: path.join(gopath, "cache"), GOFLAGS: "" };
    await run("go", ["build", "-o", binary, "github.com/attesto-eu/attesto/examples/go"], { env, timeout: 240_000 }).catch((err: { stderr?: string }) => {
      throw new Error(
        `cannot build examples/go (apt install golang-go golang-golang-x-mod-dev golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev): ${err.stderr ?? err}`,
      );
    });
    const { key } = await newTenant(app.url);
    const { stdout } = await run(binary, [], { env: { ...process.env, ATTESTO_ADDR: new URL(app.url).host, ATTESTO_API_KEY: key }, timeout: 60_000 });
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result).toMatchObject({ ok: true, checkpoints: [5, 8], inclusion: "verified", consistency: "verified" });
    expect(result.origin).toBe(`${new URL(app.url).host}/proofstreams/${result.streamId as string}`);
  }, 300_000);

  it("examples/curl.sh: every REST route and a few RPCs answer as the README shows", async () => {
    const { key } = await newTenant(app.url);
    const { stdout, stderr } = await run("bash", [path.join(ROOT, "examples/curl.sh")], {
      cwd: ROOT,
      env: { ...process.env, ATTESTO_URL: app.url, ATTESTO_API_KEY: key, ATTESTO_ADMIN_TOKEN: ADMIN_TOKEN },
      timeout: 60_000,
    }).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`curl.sh failed:\n${e.stdout}\n${e.stderr}`);
    });
    expect(stderr).toBe("");
    expect(stdout).toContain("all curl examples passed");
  });

  it("the README's curl lines are the script's, so what CI runs is what the README shows", async () => {
    const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
    const script = (await readFile(path.join(ROOT, "examples/curl.sh"), "utf8")).split("\n");
    const section = readme.slice(readme.indexOf("## Raw HTTP (curl)"));
    const block = section.slice(section.indexOf("```sh\n") + 6, section.indexOf("\n```", section.indexOf("```sh\n")));
    const lines = block.split("\n").filter((l) => l.startsWith("curl "));
    expect(lines.length).toBeGreaterThan(30);
    const run = script.filter((l) => /^want \d{3}; curl /.test(l)).map((l) => l.replace(/^want \d{3}; /, ""));
    expect(lines).toEqual(run);

    // A line meant to fail says so: a "# expect <status>" comment covers it ("from the next <n>" covers n lines),
    // with the status the script checks; no other line has one.
    const wanted = script.filter((l) => /^want \d{3}; curl /.test(l)).map((l) => Number(l.slice(5, 8)));
    const counts: Record<string, number> = { two: 2, three: 3, four: 4, five: 5 };
    let declared: { status: number; left: number } | undefined;
    const said: Array<number | undefined> = [];
    for (const line of block.split("\n")) {
      const m = /^# expect (\d{3})\b(?:.*?from the next (\w+))?/.exec(line);
      if (m) declared = { status: Number(m[1]), left: m[2] ? counts[m[2]]! : 1 };
      if (!line.startsWith("curl ")) continue;
      said.push(declared && declared.left > 0 ? declared.status : undefined);
      if (declared) declared.left--;
    }
    expect(said).toEqual(wanted.map((status) => (status >= 400 ? status : undefined)));
  });
});
