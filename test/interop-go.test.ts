import { execFile } from "node:child_process";
import { mkdir, copyFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFile } from "node:fs/promises";
import { BundleStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { runCli } from "./support/process.js";
import { clientFor, newTenant, startTestServer, tempDir, testEnv } from "./support/server.js";
import { Receiver, waitFor, webhookClient } from "./support/webhooks.js";

const run = promisify(execFile);
const GOPATH_DEBIAN = "/usr/share/gocode";
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/**
 * A second implementation checks our formats: Go's golang.org/x/mod/sumdb
 * note and tlog packages (Debian's golang-golang-x-mod-dev), built here in
 * GOPATH mode since the module proxy is out of reach.
 */
let verifier: string;
let app: Attesto;

beforeAll(async () => {
  const gopath = await tempDir("attesto-go-");
  const pkg = path.join(gopath, "src", "attestoverify");
  await mkdir(pkg, { recursive: true });
  await copyFile(path.join(import.meta.dirname, "go", "verify.go"), path.join(pkg, "main.go"));
  verifier = path.join(gopath, "verify");
  await run("go", ["build", "-o", verifier, "attestoverify"], {
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:${GOPATH_DEBIAN}`, GOCACHE: path.join(gopath, "cache"), GOFLAGS: "" },
  }).catch((err: { stderr?: string }) => {
    throw new Error(`cannot build the Go verifier (apt install golang-go golang-golang-x-mod-dev): ${err.stderr ?? err}`);
  });
  app = await startTestServer({ webhookAllowLoopback: true, webhookRetrySchedule: [0, 200] });
}, 120_000);
afterAll(() => app?.stop());

async function goVerify(request: unknown): Promise<string> {
  const child = execFile(verifier, [], { timeout: 60_000 });
  const out = new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(stderr || `exit ${code}`))));
  });
  child.stdin!.end(JSON.stringify(request));
  return out;
}

describe("golang.org/x/mod/sumdb accepts our checkpoints, proofs and tiles", () => {
  it("verifies notes, CheckRecord and CheckTree proofs, and reads the stream as a tile log", async () => {
    const tenant = await newTenant(app.url);
    const client = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await client.createStream({ name: "go interop" });
    const streamId = stream!.id;
    const sizes = [1, 256, 300, 700];
    let appended = 0;
    const roots = new Map<number, Uint8Array>();
    for (const size of sizes) {
      await Promise.all(Array.from({ length: size - appended }, (_, i) => client.appendEvent(appendRequest(streamId, `go-${appended + i}`))));
      appended = size;
      roots.set(size, (await client.createCheckpoint({ streamId })).checkpoint!.rootHash);
    }
    const { checkpoint } = await client.getCheckpoint({ streamId });
    const inclusion = [];
    for (const index of [0, 1, 2, 255, 256, 257, 299, 300, 511, 512, 699]) {
      const { proof } = await client.getInclusionProof({ streamId, leaf: { case: "seqNo", value: BigInt(index + 1) } });
      inclusion.push({ index, leafHash: b64(proof!.leafHash), hashes: proof!.auditPath.map(b64) });
    }
    const consistency = [];
    for (const from of sizes) {
      const { proof } = await client.getConsistencyProof({ streamId, fromSize: BigInt(from) });
      consistency.push({ from, rootFrom: b64(roots.get(from)!), hashes: proof!.consistencyPath.map(b64) });
    }
    // Exported C2SP tlog-proofs, from the HTTP route and from GetInclusionProof.
    const tlogProofs: string[] = [];
    for (const seqNo of [1, 2, 256, 257, 700]) {
      const res = await fetch(`${app.url}/proofstreams/${streamId}/proof/${seqNo}`, { headers: { Authorization: `Bearer ${tenant.key}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-disposition")).toContain(`${streamId}-${seqNo}.tlog-proof`);
      tlogProofs.push(await res.text());
    }
    const viaRpc = await client.getInclusionProof({ streamId, leaf: { case: "seqNo", value: 300n } });
    expect(viaRpc.tlogProof.split("\n").slice(0, 2)).toEqual(["c2sp.org/tlog-proof@v1", expect.stringMatching(/^extra /)]);
    expect(viaRpc.tlogProof).toContain(`\nindex 299\n`);
    expect(viaRpc.tlogProof.endsWith(checkpoint!.note)).toBe(true);
    tlogProofs.push(viaRpc.tlogProof);
    const output = await goVerify({
      base: `${app.url}/proofstreams/${streamId}`,
      token: tenant.key,
      verifierKey: stream!.verifierKey,
      note: checkpoint!.note,
      inclusion,
      consistency,
      tlogProofs,
    });
    expect(output).toContain("tlog-proof ok: 6");
    expect(output).toContain(`note ok: ${stream!.origin} size 700`);
    expect(output).toContain("inclusion ok: 11");
    expect(output).toContain("consistency ok: 4");
    expect(output).toContain("tiles ok: 700 entries");
  });

  it("accepts a key rotation: the handover checkpoint with either key, the statement with both, and the later checkpoints with the new key", async () => {
    // A server with no periodic checkpoint in the test's time: one signed between the third append and
    // the rotation would move the takeover size to 3 and leave no handover checkpoint to check.
    const quiet = await startTestServer({ checkpointIntervalMs: 3_600_000 });
    try {
      await rotationAcceptedByGo(quiet.url);
    } finally {
      await quiet.stop();
    }
  });

  async function rotationAcceptedByGo(url: string) {
    const tenant = await newTenant(url);
    const client = clientFor(ProofstreamService, url, tenant.key);
    const { stream } = await client.createStream({ name: "go rotation" });
    await Promise.all(["k-1", "k-2"].map((r) => client.appendEvent(appendRequest(stream!.id, r))));
    await client.createCheckpoint({ streamId: stream!.id });
    await client.appendEvent(appendRequest(stream!.id, "k-3"));
    const rotated = await client.rotateStreamKey({ streamId: stream!.id });
    const [oldKey, newKey] = [stream!.verifierKey, rotated.verifierKeys[0]!];
    const handover = rotated.handoverCheckpoint!.note;
    for (const verifierKey of [oldKey, newKey]) {
      expect(await goVerify({ verifierKey, note: handover, statements: [{ note: rotated.rotationStatement, verifierKeys: [oldKey, newKey] }] })).toContain(`note ok: ${stream!.origin} size 3`);
    }
    await client.appendEvent(appendRequest(stream!.id, "k-4"));
    const later = (await client.createCheckpoint({ streamId: stream!.id })).checkpoint!.note;
    expect(await goVerify({ verifierKey: newKey, note: later })).toContain("size 4");
    await expect(goVerify({ verifierKey: oldKey, note: later })).rejects.toThrow(/note.Open/);
    // A statement with a changed body opens with neither key.
    const altered = rotated.rotationStatement.replace("\n2\n", "\n1\n");
    await expect(goVerify({ verifierKey: newKey, note: later, statements: [{ note: altered, verifierKeys: [oldKey] }] })).rejects.toThrow(/statement 0/);
  }

  it("accepts the receipts AppendEvent answers with wait_for_proof (issue 31): each one's note and CheckRecord", async () => {
    const tenant = await newTenant(app.url);
    const client = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await client.createStream({ name: "go receipts" });
    // Concurrent waiters: receipts against several checkpoints the waits made. The first signs after its
    // commit (the stream's key is not in memory yet); the later ones' commits sign (the path comes from memory).
    const first = await client.appendEvent({ ...appendRequest(stream!.id, "rcpt-first"), waitForProof: true });
    const answers = [first, ...(await Promise.all(Array.from({ length: 24 }, (_, i) => client.appendEvent({ ...appendRequest(stream!.id, `rcpt-${i}`), waitForProof: true }))))];
    const receipts = answers.map((a) => a.proofReceipt!.tlogProof);
    expect(receipts.every((r) => r.startsWith("c2sp.org/tlog-proof@v1\n"))).toBe(true);
    const last = answers.reduce((m, a) => (a.proofReceipt!.checkpointTreeSize > m ? a.proofReceipt!.checkpointTreeSize : m), 0n);
    const { checkpoint } = await client.getCheckpoint({ streamId: stream!.id, treeSize: last });
    const output = await goVerify({ verifierKey: stream!.verifierKey, note: checkpoint!.note, inclusion: [], consistency: [], tlogProofs: receipts });
    expect(output).toContain(`tlog-proof ok: ${receipts.length}`);
  });

  it("accepts the tlog-proofs of a webhook delivery's attempts (issue 27), and attesto verify a bundle of the deliveries stream", async () => {
    const tenant = await newTenant(app.url);
    const receiver = await Receiver.start();
    try {
      const hooks = webhookClient(app, tenant.key);
      // The first attempt is refused, the second taken: two attempts, each committed to the deliveries stream.
      receiver.respond = (_r, i) => ({ status: i === 0 ? 503 : 200 });
      await hooks.createSubscription({ name: "go", url: receiver.url(), eventTypes: ["proofstream.checkpointed"] });
      const ps = clientFor(ProofstreamService, app.url, tenant.key);
      const { stream } = await ps.createStream({ name: "go deliveries" });
      await ps.appendEvent(appendRequest(stream!.id, "hook-1"));
      await ps.createCheckpoint({ streamId: stream!.id });
      const delivery = await waitFor(async () => {
        const { deliveries } = await hooks.listDeliveries({});
        const done = deliveries.find((d) => d.status === DeliveryStatus.SUCCEEDED);
        const full = done && (await hooks.getDelivery({ deliveryId: done.id })).delivery!;
        return full && full.attempts.length === 2 && full.attempts.every((a) => a.seqNo > 0n) ? full : undefined;
      }, "two attempts in the deliveries Proofstream");
      const deliveriesStream = delivery.attempts[0]!.proofStreamId;
      await ps.createCheckpoint({ streamId: deliveriesStream });
      const { stream: ds } = await ps.getStream({ streamId: deliveriesStream });
      const { checkpoint } = await ps.getCheckpoint({ streamId: deliveriesStream });
      const attempts = (await hooks.getDelivery({ deliveryId: delivery.id })).delivery!.attempts;
      const output = await goVerify({ verifierKey: ds!.verifierKey, note: checkpoint!.note, inclusion: [], consistency: [], tlogProofs: attempts.map((a) => a.tlogProof) });
      expect(output).toContain("tlog-proof ok: 2");

      const { bundle: pending } = await ps.createBundle({ streamId: deliveriesStream, fromSeqNo: 1n, toSeqNo: checkpoint!.treeSize, includePayloads: true });
      const ready = await waitFor(async () => {
        const { bundle } = await ps.getBundle({ bundleId: pending!.id });
        return bundle!.status === BundleStatus.READY ? bundle : undefined;
      }, "the deliveries stream's bundle");
      const file = path.join(await tempDir(), "deliveries.bundle.json");
      await writeFile(file, ready!.bundleJson);
      const verified = await runCli(["verify", file, "--key", ds!.verifierKey], await testEnv());
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      // Under another stream's key it fails.
      expect((await runCli(["verify", file, "--key", stream!.verifierKey], await testEnv())).code).not.toBe(0);
    } finally {
      await receiver.close();
    }
  }, 120_000);

  it("fails a tlog-proof whose extra was changed, and the proof route answers 4xx for bad input", async () => {
    const tenant = await newTenant(app.url);
    const client = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await client.createStream({ name: "go tlog tamper" });
    for (let i = 0; i < 5; i++) await client.appendEvent(appendRequest(stream!.id, `t-${i}`));
    const { checkpoint } = await client.createCheckpoint({ streamId: stream!.id });
    const auth = { headers: { Authorization: `Bearer ${tenant.key}` } };
    const text = await (await fetch(`${app.url}/proofstreams/${stream!.id}/proof/3`, auth)).text();
    const lines = text.split("\n");
    const leaf = Buffer.from(lines[1]!.slice("extra ".length), "base64").toString("utf8").replace("t-2", "t-X");
    lines[1] = `extra ${Buffer.from(leaf).toString("base64")}`;
    await expect(goVerify({ verifierKey: stream!.verifierKey, note: checkpoint!.note, inclusion: [], consistency: [], tlogProofs: [lines.join("\n")] })).rejects.toThrow(/CheckRecord 2/);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/proof/0`, auth)).status).toBe(400);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/proof/x1`, auth)).status).toBe(400);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/proof/6`, auth)).status).toBe(404);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/proof/1`)).status).toBe(401);
  });

  it("fails a tampered proof (the Go side is not a rubber stamp)", async () => {
    const tenant = await newTenant(app.url);
    const client = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await client.createStream({ name: "go tamper" });
    for (let i = 0; i < 5; i++) await client.appendEvent(appendRequest(stream!.id, `t-${i}`));
    const { checkpoint } = await client.createCheckpoint({ streamId: stream!.id });
    const { proof } = await client.getInclusionProof({ streamId: stream!.id, leaf: { case: "seqNo", value: 3n } });
    const hashes = proof!.auditPath.map((h) => Buffer.from(h));
    hashes[0]![0]! ^= 1;
    await expect(
      goVerify({ verifierKey: stream!.verifierKey, note: checkpoint!.note, inclusion: [{ index: 2, leafHash: b64(proof!.leafHash), hashes: hashes.map(b64) }], consistency: [] }),
    ).rejects.toThrow(/CheckRecord 2/);
  });

  it("serves the tile read path only to the owning tenant unless configured public", async () => {
    const a = await newTenant(app.url);
    const client = clientFor(ProofstreamService, app.url, a.key);
    const { stream } = await client.createStream({ name: "private tiles" });
    await client.appendEvent(appendRequest(stream!.id, "x"));
    await client.createCheckpoint({ streamId: stream!.id });
    const url = `${app.url}/proofstreams/${stream!.id}/checkpoint`;
    expect((await fetch(url)).status).toBe(401);
    const b = await newTenant(app.url);
    expect((await fetch(url, { headers: { Authorization: `Bearer ${b.key}` } })).status).toBe(404);
    const own = await fetch(url, { headers: { Authorization: `Bearer ${a.key}` } });
    expect(own.status).toBe(200);
    expect(await own.text()).toContain(stream!.origin);
    const tile = await fetch(`${app.url}/proofstreams/${stream!.id}/tile/0/000.p/1`, { headers: { Authorization: `Bearer ${a.key}` } });
    expect(Buffer.from(await tile.arrayBuffer()).length).toBe(32);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/tile/0/000.p/2`, { headers: { Authorization: `Bearer ${a.key}` } })).status).toBe(404);
    expect((await fetch(`${app.url}/proofstreams/${stream!.id}/tile/0/0`, { headers: { Authorization: `Bearer ${a.key}` } })).status).toBe(404);
  });
});
