import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { BundleStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import { loadConfig } from "../src/config.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { verifyBundle, type BundleDocument } from "../src/verify/bundle.js";
import { certificatesFromPem, verifyTimestampToken } from "../src/verify/rfc3161.js";
import { checkTimestamp } from "../src/verify/timestamp.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, testEnv } from "./support/server.js";
import { runCli } from "./support/process.js";
import { OpensslTsa } from "./support/tsa.js";

const run = promisify(execFile);

async function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type LogLine = { level: number; msg: string; tsa?: string; reason?: string; failedChecks?: string[] };
const lines: LogLine[] = [];
const logger = pino(
  { level: "info" },
  new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  }),
);
const failing = () => lines.filter((l) => l.msg.startsWith("a TSA is failing"));
const answering = () => lines.filter((l) => l.msg === "a TSA answers again");

let tsa: OpensslTsa;
let app: Attesto;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;

beforeAll(async () => {
  tsa = await OpensslTsa.create();
  const url = await tsa.listen();
  app = await startAttesto(loadConfig(await testEnv({ ATTESTO_TSA_URLS: url, ATTESTO_TSA_ROOTS: tsa.file("ca.pem"), ATTESTO_CHECKPOINT_INTERVAL_MS: "3600000" }), { port: 0 }), logger);
  const tenant = await newTenant(app.url);
  client = clientFor(ProofstreamService, app.url, tenant.key);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  tsa?.close();
});

/** A stream with `n` events and a checkpoint signed over them. */
async function checkpointed(name: string, n = 3) {
  const { stream } = await client.createStream({ name });
  for (let i = 0; i < n; i++) await client.appendEvent(appendRequest(stream!.id, `${name}-${i}`));
  const { checkpoint } = await client.createCheckpoint({ streamId: stream!.id });
  return { streamId: stream!.id, treeSize: checkpoint!.treeSize };
}

const timestamped = (streamId: string) =>
  until(`a timestamp on ${streamId}`, async () => {
    const { checkpoint } = await client.getCheckpoint({ streamId });
    return checkpoint!.timestampToken.length > 0 ? checkpoint! : undefined;
  });

describe("RFC 3161 timestamps of checkpoints, from a local openssl TSA", () => {
  it("stores a token that openssl ts -verify and the project's verifier accept", async () => {
    const { streamId, treeSize } = await checkpointed("stamped");
    const cp = await timestamped(streamId);
    expect(cp.treeSize).toBe(treeSize);
    expect(Math.abs(Number(cp.timestampedAt!.seconds) * 1000 - Date.now())).toBeLessThan(60_000);
    // No witnesses here: the served note is the log's note, the bytes the token is over.
    const noteFile = tsa.file("note.txt");
    const tokenFile = tsa.file("token.der");
    await writeFile(noteFile, cp.note);
    await writeFile(tokenFile, cp.timestampToken);
    const { stdout } = await run("openssl", ["ts", "-verify", "-data", noteFile, "-in", tokenFile, "-token_in", "-CAfile", tsa.file("ca.pem"), "-untrusted", tsa.file("tsa-trusted.pem")]);
    expect(stdout).toContain("Verification: OK");

    const sha256 = new Uint8Array(createHash("sha256").update(cp.note).digest());
    const roots = certificatesFromPem(await tsa.caPem());
    const verified = await verifyTimestampToken(cp.timestampToken, { sha256, roots });
    expect(verified.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verified.genTime!.getTime()).toBe(Number(cp.timestampedAt!.seconds) * 1000 + Math.floor(cp.timestampedAt!.nanos / 1e6));
    // Another note's bytes do not match it.
    const other = await verifyTimestampToken(cp.timestampToken, { sha256: new Uint8Array(32), roots });
    expect(other.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["imprint"]);

    // A bundle of the stream carries the token; the verifier's timestamp check passes against the TSA root.
    const { bundle: pending } = await client.createBundle({ streamId, fromSeqNo: 1n, toSeqNo: treeSize });
    const ready = await until("the bundle", async () => {
      const { bundle } = await client.getBundle({ bundleId: pending!.id });
      return bundle!.status === BundleStatus.READY ? bundle! : undefined;
    });
    const doc = JSON.parse(ready.bundleJson) as BundleDocument;
    expect(doc.timestamp_token).toBe(Buffer.from(cp.timestampToken).toString("base64"));
    const { stream } = await client.getStream({ streamId });
    const report = await checkTimestamp(verifyBundle(doc, { pinnedKey: stream!.verifierKey }), doc, await tsa.caPem());
    expect(report.checks.find((c) => c.name === "timestamp")).toMatchObject({ status: "pass" });
    expect(report.valid).toBe(true);
    // Against roots that are not the TSA's, only the timestamp check fails (its chain).
    const wrongRoots = await checkTimestamp(verifyBundle(doc, { pinnedKey: stream!.verifierKey }), doc, await tsa.openssl(["x509", "-in", "other_ca.pem"]));
    expect(wrongRoots.checks.filter((c) => c.status !== "pass" && c.status !== "skipped").map((c) => [c.name, c.status])).toEqual([["timestamp", "fail"]]);
    expect(wrongRoots.checks.at(-1)!.detail).toMatch(/^the token fails chain/);

    // attesto verify --tsa-roots: the timestamp check by name; without the token (and roots given) it is missing, exit 1.
    const bundleFile = tsa.file("bundle.json");
    await writeFile(bundleFile, ready.bundleJson);
    const cli = await runCli(["verify", bundleFile, "--key", stream!.verifierKey, "--tsa-roots", tsa.file("ca.pem")], { ...process.env, LOG_LEVEL: "warn" });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("✔ timestamp: pass");
    const { timestamp_token: _token, ...withoutToken } = doc;
    await writeFile(bundleFile, JSON.stringify(withoutToken));
    const missing = await runCli(["verify", bundleFile, "--key", stream!.verifierKey, "--tsa-roots", tsa.file("ca.pem")], { ...process.env, LOG_LEVEL: "warn" });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("✘ timestamp: missing");
  }, 60_000);

  it("VerifyBundle and POST /v2/verify check the token against the caller's TSA roots: pass, fail (its check only), missing; unusable roots are refused naming the field", async () => {
    Object.assign(tsa, { signer: "trusted", tamper: "none" });
    const { streamId, treeSize } = await checkpointed("policy");
    await timestamped(streamId);
    const { bundle: pending } = await client.createBundle({ streamId, fromSeqNo: 1n, toSeqNo: treeSize });
    const ready = await until("the bundle", async () => {
      const { bundle } = await client.getBundle({ bundleId: pending!.id });
      return bundle!.status === BundleStatus.READY ? bundle! : undefined;
    });
    const { stream } = await client.getStream({ streamId });
    const key = stream!.verifierKey;
    const root = await tsa.caPem();
    const otherRoot = await tsa.openssl(["x509", "-in", "other_ca.pem"]);
    const { timestamp_token: _token, ...withoutToken } = JSON.parse(ready.bundleJson) as BundleDocument;
    const unstamped = JSON.stringify(withoutToken);
    const verifier = clientFor(VerifierService, app.url);
    const viaRpc = async (bundleJson: string, tsaRoots: string[]) => {
      const r = await verifier.verifyBundle({ bundleJson, verifierKey: key, tsaRoots });
      return { valid: r.valid, checks: r.checks.map((c) => ({ name: c.name, status: c.status, ok: c.ok })) };
    };
    const viaHttp = async (body: string, tsaRoots: string[]) => {
      const query = new URLSearchParams([["verifier_key", key], ...tsaRoots.map((r) => ["tsa_roots", r])]);
      const res = await fetch(`${app.url}/v2/verify?${query}`, { method: "POST", body, headers: { "Content-Type": "application/json" } });
      expect(res.status).toBe(200);
      const r = (await res.json()) as { valid: boolean; checks: { name: string; status: string; ok: boolean }[] };
      return { valid: r.valid, checks: r.checks.map((c) => ({ name: c.name, status: c.status, ok: c.ok })) };
    };
    const timestampOf = (r: { checks: { name: string; status: string }[] }) => r.checks.find((c) => c.name === "timestamp")?.status;
    const notPassing = (r: { checks: { name: string; status: string }[] }) => r.checks.filter((c) => c.status !== "pass" && c.status !== "skipped").map((c) => c.name);
    for (const surface of [viaRpc, viaHttp]) {
      const pass = await surface(ready.bundleJson, [root]);
      expect(timestampOf(pass)).toBe("pass");
      expect(pass.valid).toBe(true);
      const wrong = await surface(ready.bundleJson, [otherRoot]);
      expect(timestampOf(wrong)).toBe("fail");
      expect(notPassing(wrong)).toEqual(["timestamp"]);
      expect(wrong.valid).toBe(false);
      const missing = await surface(unstamped, [root]);
      expect(timestampOf(missing)).toBe("missing");
      expect(notPassing(missing)).toEqual(["timestamp"]);
      expect(missing.valid).toBe(false);
      // No roots given: a carried token is skipped (present, not checked), and no token adds no check.
      expect(timestampOf(await surface(ready.bundleJson, []))).toBe("skipped");
      expect(timestampOf(await surface(unstamped, []))).toBeUndefined();
    }
    // The same report from the library the CLI and the page run.
    const { verifyWithPolicy } = await import("../src/verify/policy.js");
    expect(await viaRpc(ready.bundleJson, [root])).toEqual({
      valid: true,
      checks: (await verifyWithPolicy(ready.bundleJson, { pinnedKey: key, tsaRoots: [root] })).checks.map((c) => ({
        name: c.name,
        status: c.status,
        ok: c.status !== "fail" && c.status !== "missing",
      })),
    });

    // Unusable roots or k: refused before the document is read, naming the field.
    const badPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    const refused = await verifier.verifyBundle({ bundleJson: ready.bundleJson, tsaRoots: [badPem] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
    expect((refused as ConnectError).message).toContain("tsa_roots");
    const badK = await verifier.verifyBundle({ bundleJson: ready.bundleJson, witnessKeys: ["witness.example/w+00000000+BAAA"], witnessK: 1 }).catch((e: unknown) => e);
    expect((badK as ConnectError).message).toContain("witness_keys");
    for (const [query, field] of [
      [`tsa_roots=${encodeURIComponent(badPem)}`, "tsa_roots"],
      ["tsa_roots=not-base64", "tsa_roots"],
      ["witness_k=2", "witness_k"],
      ["witness_k=x", "witness_k"],
      ["require_anchor=maybe", "require_anchor"],
    ] as const) {
      const res = await fetch(`${app.url}/v2/verify?${query}`, { method: "POST", body: ready.bundleJson, headers: { "Content-Type": "application/json" } });
      expect(res.status, query).toBe(400);
      expect(JSON.stringify(await res.json()), query).toContain(field);
    }
    // require_anchor: this checkpoint is not anchored, so the anchors check is missing.
    const anchorRes = await fetch(`${app.url}/v2/verify?require_anchor=true&verifier_key=${encodeURIComponent(key)}`, { method: "POST", body: ready.bundleJson });
    const anchorReport = (await anchorRes.json()) as { valid: boolean; checks: { name: string; status: string }[] };
    expect(anchorReport.checks.find((c) => c.name === "anchors")?.status).toBe("missing");
    expect(anchorReport.valid).toBe(false);
  }, 60_000);

  it.each([
    ["a token over another imprint", { tamper: "imprint" }, "imprint"],
    ["a token with another nonce", { tamper: "nonce" }, "nonce"],
    ["a TSA certificate from a CA not trusted", { signer: "untrusted" }, "chain"],
    ["an expired TSA certificate", { signer: "expired" }, "validity"],
  ] as const)("refuses %s on receipt (its check only), stores nothing, and takes the token once the TSA is right", async (_why, mode, check) => {
    const before = { failing: failing().length, answering: answering().length, queries: tsa.queries };
    Object.assign(tsa, { signer: "trusted", tamper: "none" }, mode);
    const { streamId } = await checkpointed(`refused-${check}`, 2);
    const line = await until("the TSA failing", () => failing()[before.failing]);
    expect(line.failedChecks).toEqual([check]);
    const { checkpoint } = await client.getCheckpoint({ streamId });
    expect(checkpoint!.timestampToken).toHaveLength(0);
    expect(checkpoint!.timestampedAt).toBeUndefined();

    // The TSA put right: the job's retry (backoff) gets a token, logged once as the outage's end.
    Object.assign(tsa, { signer: "trusted", tamper: "none" });
    const cp = await timestamped(streamId);
    expect(cp.timestampToken.length).toBeGreaterThan(0);
    await until("the TSA answering again", () => answering()[before.answering]);
    expect(failing()).toHaveLength(before.failing + 1);
  });

  it("a TSA that is down delays only the timestamp: appends go on, one log line for the outage, metrics say so", async () => {
    const before = { failing: failing().length, answering: answering().length, queries: tsa.queries };
    tsa.failWith = 503;
    const { streamId } = await checkpointed("outage", 1);
    await until("two tries at the down TSA", () => (tsa.queries >= before.queries + 2 ? true : undefined));
    const started = performance.now();
    await client.appendEvent(appendRequest(streamId, "during-outage"));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(failing()).toHaveLength(before.failing + 1);
    expect(failing().at(-1)!.reason).toContain("HTTP 503");
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/attesto_tsa_down\{tsa="[^"]+"\} 1/);
    expect(metrics).toMatch(/attesto_tsa_failures_total\{tsa="[^"]+"\} [1-9]/);

    tsa.failWith = undefined;
    // The stream's newest checkpoint (over the event appended during the outage) is the one timestamped.
    const { checkpoint } = await client.createCheckpoint({ streamId });
    const cp = await timestamped(streamId);
    expect(cp.treeSize).toBe(checkpoint!.treeSize);
    await until("the TSA answering again", () => answering()[before.answering]);
    expect(failing()).toHaveLength(before.failing + 1);
    const after = await (await fetch(`${app.url}/metrics`)).text();
    expect(after).toMatch(/attesto_tsa_down\{tsa="[^"]+"\} 0/);
    expect(after).toMatch(/attesto_tsa_tokens_total\{tsa="[^"]+"\} [1-9]/);
  }, 60_000);
});
