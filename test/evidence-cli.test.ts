import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import type { VerificationReport } from "../src/verify/bundle.js";
import { buildBundle, TAMPERS } from "./support/bundles.js";
import { ed25519FromSeed, ed25519RawPublic, signatureLine } from "../src/crypto/note-signing.js";
import { keyId, SIG_COSIGNATURE_V1, splitNote, verifierKeyString } from "../src/verify/note.js";
import { runCli, runCliOnTerminal } from "./support/process.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer, tempDir } from "./support/server.js";

let app: Attesto;
let dir: string;

beforeAll(async () => {
  app = await startTestServer({ dbPoolSize: 4, checkpointIntervalMs: 60_000 });
  dir = await tempDir("attesto-evidence-");
});
afterAll(() => app?.stop());

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { ...process.env, LOG_LEVEL: "warn", ...env });

describe("attesto proof, bundle and verify", () => {
  it("exports a tlog-proof and a bundle from a server and verifies both offline, each check by name", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "cli evidence" });
    for (let i = 0; i < 20; i++) await ps.appendEvent(appendRequest(stream!.id, `c-${i}`));
    await ps.createCheckpoint({ streamId: stream!.id });
    const server = { ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key };

    const proofFile = path.join(dir, `${stream!.id}-3.tlog-proof`);
    const proof = await run(["proof", stream!.id, "3", "--out", proofFile], server);
    expect(proof.code, proof.stderr).toBe(0);
    expect(proof.stdout).toContain(`wrote ${proofFile}`);
    expect((await readFile(proofFile, "utf8")).split("\n").slice(0, 1)).toEqual(["c2sp.org/tlog-proof@v1"]);
    const checked = await run(["verify", proofFile, "--key", stream!.verifierKey]);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain("✔ signature: pass");
    expect(checked.stdout).toContain("✔ inclusion_proof: pass");
    expect(checked.stdout).toContain("VALID");

    const out = path.join(dir, "range.json");
    const created = await run(["--json", "bundle", "create", stream!.id, "2", "19", "--payloads", "--wait", "--out", out], server);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toBe(""); // --json: no progress bar
    const summary = JSON.parse(created.stdout) as { id: string; status: string; events_done: number; path: string };
    expect(summary).toMatchObject({ status: "ready", events_done: 18, path: out });

    const verified = await run(["--json", "verify", out, "--key", stream!.verifierKey]);
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as VerificationReport;
    expect(report).toMatchObject({ valid: true, kind: "bundle", stream_id: stream!.id, from_seq_no: 2, to_seq_no: 19 });
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ["format", "pass"],
      ["signature", "pass"],
      ["leaves", "pass"],
      ["range_proof", "pass"],
      ["anchors", "skipped"],
    ]);

    const unpinned = await run(["verify", out]);
    expect(unpinned.code).toBe(2);
    expect(unpinned.stdout).toContain("⚠ signature: unpinned");

    const fetched = await run(["--json", "bundle", "get", summary.id], server);
    expect(JSON.parse(fetched.stdout)).toMatchObject({ id: summary.id, status: "ready" });
    const downloaded = await run(["bundle", "download", summary.id, "--out", path.join(dir, "again.json")], server);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    expect(await readFile(path.join(dir, "again.json"), "utf8")).toBe(await readFile(out, "utf8"));

    const refused = await run(["bundle", "create", stream!.id, "5", "2"], server);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/to_seq_no/);
    // Eleven CLI processes, each paying tsx start-up: minutes on a loaded two-core machine.
  }, 400_000);

  it("draws a progress bar while it waits, on a terminal", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "cli progress" });
    for (let i = 0; i < 30; i++) await ps.appendEvent(appendRequest(stream!.id, `g-${i}`));
    const res = await runCliOnTerminal(["bundle", "create", stream!.id, "1", "30", "--wait"], { ...process.env, LOG_LEVEL: "warn", ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    expect(res.code, res.out).toBe(0);
    expect(res.out).toMatch(/\[█{30}\] 100% 30\/30 events/);
    expect(res.out).toMatch(/bundle bundle_\w+ ready: events 1\.\.30/);
  }, 200_000);

  it("bundle create --share prints a link that works without a key; bundle share makes another, bundle unshare revokes it (issue 26)", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "cli share" });
    for (let i = 0; i < 4; i++) await ps.appendEvent(appendRequest(stream!.id, `sh-${i}`));
    const server = { ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key };
    const sharedFetch = (url: string) => fetch(`${app.url}/v1/shared-bundle`, { headers: { "X-Attesto-Share-Token": new URL(url).hash.replace(/^#share=/, "") } });

    const created = await run(["bundle", "create", stream!.id, "1", "4", "--wait", "--share", "--share-ttl", "2h"], server);
    expect(created.code, created.stderr).toBe(0);
    const link = /verify \(share link, anyone with it, until [^)]+\): (\S+)/.exec(created.stdout)?.[1];
    expect(link, created.stdout).toMatch(new RegExp(`^${app.url}/verify#share=ats_`));
    expect((await sharedFetch(link!)).status).toBe(200);
    const bundleId = /bundle (bundle_\w+) ready/.exec(created.stdout)![1]!;

    const shared = await run(["--json", "bundle", "share", bundleId, "--ttl", "1d"], server);
    expect(shared.code, shared.stderr).toBe(0);
    const second = JSON.parse(shared.stdout) as { id: string; url: string; expires_at: string };
    expect(Date.parse(second.expires_at) - Date.now()).toBeGreaterThan(86_400_000 - 120_000);
    expect((await sharedFetch(second.url)).status).toBe(200);
    const unshared = await run(["bundle", "unshare", second.id], server);
    expect(unshared.code, unshared.stderr).toBe(0);
    expect(unshared.stdout).toContain(`share link ${second.id} of ${bundleId} revoked at`);
    expect((await sharedFetch(second.url)).status).toBe(404);
    expect((await sharedFetch(link!)).status).toBe(200);

    const plain = await run(["bundle", "create", stream!.id, "1", "2"], server);
    expect(plain.stdout).toContain("fetches the bundle with the tenant's API key only; --share");
  }, 300_000);

  it("fails exactly the tampered check, with exit code 1", async () => {
    const base = buildBundle({ size: 12, from: 3, to: 9, payloads: true, anchored: true });
    for (const name of ["changed event type", "reordered entries", "anchor path altered"]) {
      const tamper = TAMPERS.find((t) => t.name === name)!;
      const file = path.join(dir, `${name.replace(/ /g, "-")}.json`);
      await writeFile(file, JSON.stringify(tamper.apply(base.bundle, base.signer)));
      const res = await run(["--json", "verify", file, "--key", base.signer.verifierKey]);
      expect(res.code, name).toBe(1);
      const report = JSON.parse(res.stdout) as VerificationReport;
      expect(
        report.checks.filter((c) => c.status === "fail").map((c) => c.name),
        name,
      ).toEqual([tamper.fails]);
    }
    const human = await run(["verify", path.join(dir, "anchor-path-altered.json"), "--key", base.signer.verifierKey]);
    expect(human.stdout).toContain("✘ anchors: fail");
    expect(human.stdout).toContain("✔ range_proof: pass");
  }, 200_000);

  it("checks the caller's policy: --witness-key/--witness-k and --require-anchor, each its own check; an unusable flag is named", async () => {
    const base = buildBundle({ size: 12, from: 3, to: 9, payloads: true });
    const seed = randomBytes(32);
    const pub = ed25519RawPublic(ed25519FromSeed(seed));
    const name = "witness.example/cli";
    const line = signatureLine(splitNote(base.bundle.checkpoint).text, { name, keyId: keyId(name, pub, SIG_COSIGNATURE_V1), type: SIG_COSIGNATURE_V1, privateKey: ed25519FromSeed(seed) });
    const file = path.join(dir, "cosigned.json");
    await writeFile(file, JSON.stringify({ ...base.bundle, checkpoint: base.bundle.checkpoint + line }));
    const vkey = verifierKeyString(name, pub, SIG_COSIGNATURE_V1);
    const statusOf = (stdout: string, check: string) => (JSON.parse(stdout) as VerificationReport).checks.find((c) => c.name === check)?.status;

    const witnessed = await run(["--json", "verify", file, "--key", base.signer.verifierKey, "--witness-key", vkey, "--witness-k", "1"]);
    expect(witnessed.code, witnessed.stderr).toBe(0);
    expect(statusOf(witnessed.stdout, "witnesses")).toBe("pass");
    const other = verifierKeyString("witness.example/other", pub, SIG_COSIGNATURE_V1);
    const short = await run(["--json", "verify", file, "--key", base.signer.verifierKey, "--witness-key", vkey, "--witness-key", other, "--witness-k", "2"]);
    expect(short.code).toBe(1);
    expect(statusOf(short.stdout, "witnesses")).toBe("fail");
    const anchor = await run(["verify", file, "--key", base.signer.verifierKey, "--require-anchor"]);
    expect(anchor.code).toBe(1);
    expect(anchor.stdout).toContain("✘ anchors: missing");
    expect(anchor.stdout).toContain("– witnesses: skipped");

    const badK = await run(["verify", file, "--witness-key", vkey, "--witness-k", "3"]);
    expect(badK.code).not.toBe(0);
    expect(badK.stderr).toContain("--witness-k");
    const noK = await run(["verify", file, "--witness-key", vkey]);
    expect(noK.code).not.toBe(0);
    expect(noK.stderr).toContain("--witness-k");
  }, 120_000);
});
