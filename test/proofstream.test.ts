import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import canonicalize from "canonicalize";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ForkEvidenceKind, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { leafHash as rfcLeafHash } from "../src/crypto/rfc9162.js";
import { verifyConsistency, verifyInclusion } from "../src/verify/merkle.js";
import { formatCheckpoint, openNote, parseCheckpoint, parseVerifierKey, signNote } from "../src/proofstream/note.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest, referenceRoot, stolenSigner } from "./support/proofstream.js";
import { clientFor, codeOf, newTenant, startTestServer } from "./support/server.js";

let app: Attesto;
let tenant: Awaited<ReturnType<typeof newTenant>>;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;

beforeAll(async () => {
  app = await startTestServer({ checkpointIntervalMs: 200, selfAuditSample: 1000 });
  tenant = await newTenant(app.url);
  client = clientFor(ProofstreamService, app.url, tenant.key);
});
afterAll(() => app?.stop());

async function allEvents(streamId: string) {
  const out = [];
  let pageToken = "";
  do {
    const page = await client.listEvents({ streamId, pageSize: 500, pageToken });
    out.push(...page.events);
    pageToken = page.nextPageToken ?? "";
  } while (pageToken);
  return out;
}

describe("streams", () => {
  it("creates a stream with its own checkpoint key named by its origin", async () => {
    const { stream } = await client.createStream({ name: "audit" });
    expect(stream!.id).toMatch(/^str_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(stream!.origin).toBe(`${new URL(app.url).host}/proofstreams/${stream!.id}`);
    const vkey = parseVerifierKey(stream!.verifierKey);
    expect(vkey.name).toBe(stream!.origin);
    expect(stream!.treeSize).toBe(0n);
    const listed = await client.listStreams({});
    expect(listed.streams.map((s) => s.id)).toContain(stream!.id);
    expect((await client.getStream({ streamId: stream!.id })).stream?.verifierKey).toBe(stream!.verifierKey);
  });
});

describe("append", () => {
  it("reports the appender's warm set in /metrics: streams, bytes within the budget, hits and misses", async () => {
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);
    const missesBefore = await metric("attesto_proofstream_warm_misses_total");
    const hitsBefore = await metric("attesto_proofstream_warm_hits_total");
    const { stream } = await client.createStream({ name: "metrics" });
    await client.appendEvent(appendRequest(stream!.id, "m-1"));
    await client.appendEvent(appendRequest(stream!.id, "m-2"));
    expect(await metric("attesto_proofstream_warm_misses_total")).toBe(missesBefore + 1);
    expect(await metric("attesto_proofstream_warm_hits_total")).toBe(hitsBefore + 1);
    expect(await metric("attesto_proofstream_warm_streams")).toBeGreaterThanOrEqual(1);
    const bytes = await metric("attesto_proofstream_warm_bytes");
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(await metric("attesto_proofstream_warm_max_bytes"));
  });

  it("commits leaves exactly as DESIGN section 5 says", async () => {
    const { stream } = await client.createStream({ name: "leaves" });
    const payload = { z: 1, a: [true, null, "é"], nested: { b: 2.5, a: "x" } };
    const { event, duplicate } = await client.appendEvent(appendRequest(stream!.id, "ref-1", payload));
    expect(duplicate).toBe(false);
    expect(event!.seqNo).toBe(1n);
    const payloadSha = createHash("sha256").update(canonicalize(payload)!).digest("hex");
    expect(event!.payloadSha256).toBe(payloadSha);
    const leaf = canonicalize({
      v: 1,
      stream_id: stream!.id,
      seq_no: 1,
      source_ref: "ref-1",
      event_type: "source.observation",
      occurred_at: "2026-06-07T12:00:00.000Z",
      received_at: new Date(Number(event!.receivedAt!.seconds) * 1000 + event!.receivedAt!.nanos / 1e6).toISOString(),
      payload_sha256: payloadSha,
    })!;
    expect(Buffer.from(event!.leafHash).equals(rfcLeafHash(Buffer.from(leaf)))).toBe(true);
    expect(event!.payload).toEqual(payload);
  });

  it("replays idempotently, and refuses a conflicting replay without writing anything", async () => {
    const { stream } = await client.createStream({ name: "replay" });
    const first = await client.appendEvent(appendRequest(stream!.id, "evt-1", { v: 1 }));
    const again = await client.appendEvent(appendRequest(stream!.id, "evt-1", { v: 1 }));
    expect(again.duplicate).toBe(true);
    expect(again.event!.seqNo).toBe(first.event!.seqNo);
    expect(Buffer.from(again.event!.leafHash).equals(Buffer.from(first.event!.leafHash))).toBe(true);

    expect(await codeOf(client.appendEvent(appendRequest(stream!.id, "evt-1", { v: 2 })))).toBe(Code.AlreadyExists);
    expect(await codeOf(client.appendEvent(appendRequest(stream!.id, "evt-1", { v: 1 }, new Date("2026-06-08T00:00:00Z"))))).toBe(Code.AlreadyExists);
    expect((await client.getStream({ streamId: stream!.id })).stream!.treeSize).toBe(1n);
    expect(await codeOf(client.getEvent({ streamId: stream!.id, event: { case: "seqNo", value: 2n } }))).toBe(Code.NotFound);
    const next = await client.appendEvent(appendRequest(stream!.id, "evt-2"));
    expect(next.event!.seqNo).toBe(2n);
  });

  it("keeps seq_no gapless under concurrent appends, duplicates included", async () => {
    const { stream } = await client.createStream({ name: "concurrent" });
    const refs = Array.from({ length: 300 }, (_, i) => `c-${i % 250}`); // 50 duplicates in flight
    const results = await Promise.all(refs.map((ref) => client.appendEvent(appendRequest(stream!.id, ref))));
    const bySeq = new Map<bigint, string>();
    for (const [i, r] of results.entries()) {
      const seen = bySeq.get(r.event!.seqNo);
      if (seen) expect(seen).toBe(refs[i]);
      bySeq.set(r.event!.seqNo, refs[i]!);
    }
    expect([...bySeq.keys()].sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 250 }, (_, i) => BigInt(i + 1)));
    expect(results.filter((r) => r.duplicate)).toHaveLength(50);
  });

  it("names bad input", async () => {
    const { stream } = await client.createStream({ name: "bad" });
    const err = ConnectError.from(await client.appendEvent({ ...appendRequest(stream!.id, "has space") }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^source_ref: /);
    expect(await codeOf(client.appendEvent({ ...appendRequest(stream!.id, "x"), occurredAt: undefined }))).toBe(Code.InvalidArgument);
  });
});

describe("checkpoints and proofs", () => {
  let streamId: string;
  let leafHashes: Uint8Array[];
  let verifierKey: string;

  beforeAll(async () => {
    const { stream } = await client.createStream({ name: "proofs" });
    streamId = stream!.id;
    verifierKey = stream!.verifierKey;
    for (let i = 0; i < 3; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => client.appendEvent(appendRequest(streamId, `p-${i}-${j}`))));
      await client.createCheckpoint({ streamId });
    }
    await Promise.all(Array.from({ length: 37 }, (_, j) => client.appendEvent(appendRequest(streamId, `p-tail-${j}`))));
    await client.createCheckpoint({ streamId });
    leafHashes = (await allEvents(streamId)).map((e) => e.leafHash);
  });

  it("signs C2SP checkpoints over the RFC 9162 root, verifiable with the stream's verifier key", async () => {
    const { checkpoint } = await client.getCheckpoint({ streamId });
    expect(checkpoint!.treeSize).toBe(337n);
    const opened = openNote(checkpoint!.note, [parseVerifierKey(verifierKey)]);
    expect(opened.verifiedBy).toHaveLength(1);
    const body = parseCheckpoint(opened.text);
    expect(body.origin).toBe((await client.getStream({ streamId })).stream!.origin);
    expect(body.size).toBe(337);
    expect(body.root.equals(referenceRoot(leafHashes))).toBe(true);
    expect(Buffer.from(checkpoint!.rootHash).equals(body.root)).toBe(true);
    expect(opened.text).toBe(formatCheckpoint(body));
    const older = await client.getCheckpoint({ streamId, treeSize: 200n });
    expect(Buffer.from(older.checkpoint!.rootHash).equals(referenceRoot(leafHashes.slice(0, 200)))).toBe(true);
    expect(await codeOf(client.getCheckpoint({ streamId, treeSize: 5000n }))).toBe(Code.NotFound);
  });

  it("does not sign again when the stream did not grow", async () => {
    const res = await client.createCheckpoint({ streamId });
    expect(res.created).toBe(false);
    expect(res.checkpoint!.treeSize).toBe(337n);
  });

  it("proves inclusion of every event, by seq_no and by leaf hash, in the latest and in older checkpoints", async () => {
    const root = referenceRoot(leafHashes);
    for (let seq = 1; seq <= leafHashes.length; seq++) {
      const { proof } = await client.getInclusionProof({ streamId, leaf: { case: "seqNo", value: BigInt(seq) } });
      expect(verifyInclusion(seq - 1, 337, leafHashes[seq - 1]!, proof!.auditPath, root)).toBe(true);
    }
    const byHash = await client.getInclusionProof({ streamId, leaf: { case: "leafHash", value: leafHashes[41]! }, treeSize: 100n });
    expect(byHash.proof!.leafIndex).toBe(41n);
    expect(verifyInclusion(41, 100, leafHashes[41]!, byHash.proof!.auditPath, referenceRoot(leafHashes.slice(0, 100)))).toBe(true);
    expect(await codeOf(client.getInclusionProof({ streamId, leaf: { case: "seqNo", value: 150n }, treeSize: 100n }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(client.getInclusionProof({ streamId, leaf: { case: "seqNo", value: 9999n } }))).toBe(Code.NotFound);
  });

  it("proves consistency from any size to a signed checkpoint", async () => {
    for (const from of [1, 2, 99, 100, 128, 200, 256, 300, 337]) {
      const { proof } = await client.getConsistencyProof({ streamId, fromSize: BigInt(from) });
      expect(proof!.toSize).toBe(337n);
      expect(verifyConsistency(from, 337, proof!.consistencyPath, referenceRoot(leafHashes.slice(0, from)), referenceRoot(leafHashes))).toBe(true);
    }
    expect(await codeOf(client.getConsistencyProof({ streamId, fromSize: 300n, toSize: 200n }))).toBe(Code.InvalidArgument);
  });

  it("accepts submitted checkpoints that agree with history", async () => {
    const old = await client.getCheckpoint({ streamId, treeSize: 100n });
    const res = await client.submitCheckpoint({ streamId, note: old.checkpoint!.note, submitter: "witness-1" });
    expect(res.consistent).toBe(true);
    expect(res.forkEvidenceId).toBe("");
    expect(verifyConsistency(100, 337, res.consistencyProof!.consistencyPath, old.checkpoint!.rootHash, res.checkpoint!.rootHash)).toBe(true);
  });

  it("stores fork evidence for a validly signed checkpoint of the same size with another root", async () => {
    const stream = (await client.getStream({ streamId })).stream!;
    const signer = await stolenSigner(app.database.db, app.keyring, streamId, stream.origin);
    const forged = signNote(formatCheckpoint({ origin: stream.origin, size: 200, root: Buffer.alloc(32, 9) }), signer);
    const res = await client.submitCheckpoint({ streamId, note: forged, submitter: "witness-2" });
    expect(res.consistent).toBe(false);
    const evidence = (await client.getForkEvidence({ forkEvidenceId: res.forkEvidenceId })).forkEvidence!;
    expect(evidence.kind).toBe(ForkEvidenceKind.SAME_SIZE_DIFFERENT_ROOT);
    expect(evidence.sourceDetail).toBe("witness-2");
    expect(evidence.conflictingNote).toBe(forged);
    expect(evidence.historyNote).toBe((await client.getCheckpoint({ streamId, treeSize: 200n })).checkpoint!.note);
    const again = await client.submitCheckpoint({ streamId, note: forged });
    expect(again.forkEvidenceId).toBe(res.forkEvidenceId);
    const listed = await client.listForkEvidence({ streamId });
    expect(listed.forkEvidence.map((f) => f.id)).toContain(res.forkEvidenceId);
  });

  it("stores fork evidence for a larger or unsigned-size checkpoint that history contradicts", async () => {
    const stream = (await client.getStream({ streamId })).stream!;
    const signer = await stolenSigner(app.database.db, app.keyring, streamId, stream.origin);
    const beyond = signNote(formatCheckpoint({ origin: stream.origin, size: 5000, root: Buffer.alloc(32, 1) }), signer);
    const res = await client.submitCheckpoint({ streamId, note: beyond });
    expect(res.consistent).toBe(false);
    const evidence = (await client.getForkEvidence({ forkEvidenceId: res.forkEvidenceId })).forkEvidence!;
    expect(evidence.kind).toBe(ForkEvidenceKind.INCONSISTENT);
    expect(evidence.proofAttempt?.failure).toMatch(/no consistency proof possible/);

    const within = signNote(formatCheckpoint({ origin: stream.origin, size: 150, root: Buffer.alloc(32, 2) }), signer);
    const res2 = await client.submitCheckpoint({ streamId, note: within });
    const e2 = (await client.getForkEvidence({ forkEvidenceId: res2.forkEvidenceId })).forkEvidence!;
    expect(e2.kind).toBe(ForkEvidenceKind.INCONSISTENT);
    expect(e2.proofAttempt?.consistencyPath.length).toBeGreaterThan(0);
  });

  it("refuses notes it cannot verify, and writes no evidence for them", async () => {
    const stream = (await client.getStream({ streamId })).stream!;
    const { generateKeyPairSync } = await import("node:crypto");
    const { keyId, rawPublicKey } = await import("../src/proofstream/note.js");
    const stranger = generateKeyPairSync("ed25519").privateKey;
    const note = signNote(formatCheckpoint({ origin: stream.origin, size: 1, root: Buffer.alloc(32) }), {
      name: stream.origin,
      keyId: keyId(stream.origin, rawPublicKey(stranger)),
      privateKey: stranger,
    });
    const before = (await client.listForkEvidence({ streamId })).forkEvidence.length;
    const err = ConnectError.from(await client.submitCheckpoint({ streamId, note }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^note: /);
    expect(await codeOf(client.submitCheckpoint({ streamId, note: "garbage" }))).toBe(Code.InvalidArgument);
    expect((await client.listForkEvidence({ streamId })).forkEvidence.length).toBe(before);
  });
});

describe("periodic checkpointing and self-audit", () => {
  it("closes a checkpoint on its own after appends", async () => {
    const { stream } = await client.createStream({ name: "timer" });
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.appendEvent(appendRequest(stream!.id, `t-${i}`))));
    await expect.poll(async () => (await client.getCheckpoint({ streamId: stream!.id }).catch(() => undefined))?.checkpoint?.treeSize, { timeout: 10_000 }).toBe(20n);
  });

  it("records fork evidence when stored leaves no longer match a signed root", async () => {
    const { stream } = await client.createStream({ name: "tampered" });
    for (let i = 0; i < 5; i++) await client.appendEvent(appendRequest(stream!.id, `s-${i}`));
    await client.createCheckpoint({ streamId: stream!.id });
    const { sql } = await import("drizzle-orm");
    await app.database.db.execute(sql`UPDATE events SET leaf = convert_to('{"forged":true}', 'UTF8') WHERE stream_id = ${stream!.id} AND seq_no = 3`);
    await expect
      .poll(async () => {
        await app.proofstreams.selfAudit();
        return (await client.listForkEvidence({ streamId: stream!.id })).forkEvidence.map((f) => f.kind);
      })
      .toContain(ForkEvidenceKind.SELF_AUDIT_MISMATCH);
  });
});

describe("tenant isolation of every Proofstream RPC", () => {
  it("another tenant's stream reads as not found everywhere", async () => {
    const { stream } = await client.createStream({ name: "private" });
    await client.appendEvent(appendRequest(stream!.id, "only-a"));
    const { checkpoint } = await client.createCheckpoint({ streamId: stream!.id });
    const other = clientFor(ProofstreamService, app.url, (await newTenant(app.url)).key);
    const id = stream!.id;
    const calls: Array<() => Promise<unknown>> = [
      () => other.getStream({ streamId: id }),
      () => other.appendEvent(appendRequest(id, "from-b")),
      () => other.getEvent({ streamId: id, event: { case: "seqNo", value: 1n } }),
      () => other.listEvents({ streamId: id }),
      () => other.getCheckpoint({ streamId: id }),
      () => other.createCheckpoint({ streamId: id }),
      () => other.getInclusionProof({ streamId: id, leaf: { case: "seqNo", value: 1n } }),
      () => other.getConsistencyProof({ streamId: id, fromSize: 1n }),
      () => other.submitCheckpoint({ streamId: id, note: checkpoint!.note }),
      () => other.listForkEvidence({ streamId: id }),
    ];
    for (const call of calls) expect(await codeOf(call())).toBe(Code.NotFound);
    expect((await other.listStreams({})).streams.map((s) => s.id)).not.toContain(id);
    expect((await client.getStream({ streamId: id })).stream!.treeSize).toBe(1n);
  });
});
