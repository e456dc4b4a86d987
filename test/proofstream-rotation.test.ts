import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BundleStatus, ProofstreamService, type Stream } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import { ed25519RawPublic, signNoteWith, SIG_ED25519 } from "../src/crypto/note-signing.js";
import type { Attesto } from "../src/server/app.js";
import type { BundleDocument } from "../src/verify/bundle.js";
import { verifyDocument } from "../src/verify/document.js";
import { formatKeyRotation, parseKeyRotation } from "../src/verify/key-rotation.js";
import { keyId, openNote, parseCheckpoint, parseVerifierKey, splitNote, verifierKeyString } from "../src/verify/note.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, codeOf, newTenant, startTestServer } from "./support/server.js";
import { waitFor } from "./support/webhooks.js";

let app: Attesto;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;
let tenantKey: string;
/** One master key for both instances: each unseals the stream keys the other wrote. */
const ENCRYPTION_KEY = randomBytes(32).toString("base64");

beforeAll(async () => {
  // No periodic signing in the way: each test says when a checkpoint is made.
  app = await startTestServer({ checkpointIntervalMs: 3_600_000, dbPoolSize: 6, encryptionKey: ENCRYPTION_KEY });
  tenantKey = (await newTenant(app.url)).key;
  client = clientFor(ProofstreamService, app.url, tenantKey);
});
afterAll(() => app?.stop());

const append = (streamId: string, refs: string[], waitForProof = false) => Promise.all(refs.map((r) => client.appendEvent({ ...appendRequest(streamId, r), waitForProof })));
/** The keys of `vkeys` whose signature lines verify on `note`, as the vkey strings. */
const signedBy = (note: string, vkeys: string[]) => {
  const verifiers = vkeys.map((k) => parseVerifierKey(k));
  const by = openNote(note, verifiers).verifiedBy;
  return vkeys.filter((_, i) => by.includes(verifiers[i]!));
};
const logLines = (note: string, origin: string) => splitNote(note).signatures.filter((s) => s.name === origin).length;

async function bundleOf(streamId: string, fromSeqNo: bigint, toSeqNo: bigint): Promise<{ doc: BundleDocument; json: string }> {
  const { bundle } = await client.createBundle({ streamId, fromSeqNo, toSeqNo });
  const ready = await waitFor(
    async () => {
      const { bundle: b } = await client.getBundle({ bundleId: bundle!.id });
      if (b!.status === BundleStatus.FAILED) throw new Error(`bundle failed: ${b!.failureReason}`);
      return b!.status === BundleStatus.READY ? b! : undefined;
    },
    "the bundle",
    60_000,
  );
  return { doc: JSON.parse(ready.bundleJson) as BundleDocument, json: ready.bundleJson };
}

describe("stream key rotation", () => {
  let stream: Stream;
  let k0: string;
  let k1: string;
  let bundle: { doc: BundleDocument; json: string };

  it("hands signing to a new key: the handover checkpoint is signed by both keys, later ones by the new key alone", async () => {
    stream = (await client.createStream({ name: "rotating" })).stream!;
    k0 = stream.verifierKey;
    await append(stream.id, ["a1", "a2", "a3"]);
    const first = (await client.createCheckpoint({ streamId: stream.id })).checkpoint!;
    expect(first.treeSize).toBe(3n);
    await append(stream.id, ["a4", "a5"]);

    const rotated = await client.rotateStreamKey({ streamId: stream.id });
    k1 = rotated.verifierKeys[0]!;
    expect(rotated.verifierKeys).toHaveLength(1);
    expect(k1).not.toBe(k0);
    expect(rotated.takesOverAfter).toBe(3n);
    expect(rotated.stream!.verifierKey).toBe(k1);
    expect(rotated.stream!.previousVerifierKeys).toEqual([k0]);
    // The tree had grown past the checkpoint at the rotation: the handover checkpoint is signed at once, by both keys.
    const handover = rotated.handoverCheckpoint!;
    expect(handover.treeSize).toBe(5n);
    expect(signedBy(handover.note, [k0, k1]).sort()).toEqual([k0, k1].sort());
    expect((await client.getCheckpoint({ streamId: stream.id })).checkpoint!.note).toBe(handover.note);
    // The statement: origin, header, takeover size, the new key; signed by the old key and the new one.
    const body = parseKeyRotation(splitNote(rotated.rotationStatement).text);
    expect(body).toMatchObject({ origin: stream.origin, takesOverAfter: 3, keys: [k1] });
    expect(signedBy(rotated.rotationStatement, [k0, k1]).sort()).toEqual([k0, k1].sort());

    await append(stream.id, ["a6", "a7"]);
    const after = (await client.createCheckpoint({ streamId: stream.id })).checkpoint!;
    expect(after.treeSize).toBe(7n);
    expect(signedBy(after.note, [k0, k1])).toEqual([k1]);
    expect(logLines(after.note, stream.origin)).toBe(1);
    // Appends that wait for proof sign at commit once the handover is done: with the new key alone.
    const [proven] = await append(stream.id, ["a8"], true);
    const receiptNote = proven!.proofReceipt!.tlogProof.split("\n\n").slice(-2).join("\n\n");
    expect(receiptNote).toContain(`${stream.origin}\n8\n`);
    const at8 = (await client.getCheckpoint({ streamId: stream.id, treeSize: 8n })).checkpoint!;
    expect(signedBy(at8.note, [k0, k1])).toEqual([k1]);
    // Checkpoints the old key signed stay as they were.
    expect((await client.getCheckpoint({ streamId: stream.id, treeSize: 3n })).checkpoint!.note).toBe(first.note);
  });

  it("GetStream lists the key history with each key's takeover size, times and statement", async () => {
    const { stream: got } = await client.getStream({ streamId: stream.id });
    const history = got!.keyHistory;
    expect(history.map((k) => [k.verifierKey, k.algorithm, k.generation, k.takesOverAfter])).toEqual([
      [k0, "ed25519", 0, 0n],
      [k1, "ed25519", 1, 3n],
    ]);
    expect(history[0]!.retiredAt).toBeDefined();
    expect(history[1]!.retiredAt).toBeUndefined();
    expect(history[0]!.rotationStatement).toBe("");
    expect(parseKeyRotation(splitNote(history[1]!.rotationStatement).text).keys).toEqual([k1]);
    expect(history[0]!.createdAt!.seconds).toBe(got!.createdAt!.seconds);
  });

  it("a bundle after the rotation verifies with only the original pinned key and the statements it carries", async () => {
    bundle = await bundleOf(stream.id, 2n, 7n);
    expect(bundle.doc.key_rotations).toHaveLength(1);
    expect(bundle.doc.verifier_key).toBe(k1);
    const report = verifyDocument(bundle.json, { pinnedKey: k0 });
    expect(report.valid).toBe(true);
    expect(report.checks.find((c) => c.name === "key_rotation")).toMatchObject({ status: "pass" });
    expect(report.checks.find((c) => c.name === "signature")).toMatchObject({ status: "pass" });
    // The new key pinned directly also verifies; the RPC verifier agrees with the original key.
    expect(verifyDocument(bundle.json, { pinnedKey: k1 }).valid).toBe(true);
    const rpc = await clientFor(VerifierService, app.url).verifyBundle({ bundleJson: bundle.json, verifierKey: k0 });
    expect(rpc.valid).toBe(true);
    // Without the statements the original key does not reach the checkpoint.
    const { key_rotations: _dropped, ...bare } = bundle.doc;
    const without = verifyDocument(JSON.stringify(bare), { pinnedKey: k0 });
    expect(without.valid).toBe(false);
    expect(without.checks.find((c) => c.name === "signature")).toMatchObject({ status: "fail" });
    // A range from before the rotation is proven in the latest checkpoint too, with the same chain.
    const old = await bundleOf(stream.id, 1n, 3n);
    expect(old.doc.key_rotations).toEqual(bundle.doc.key_rotations);
    expect(verifyDocument(old.json, { pinnedKey: k0 }).valid).toBe(true);
  });

  it("a forged rotation statement fails the key_rotation check and the verification", () => {
    const statement = bundle.doc.key_rotations![0]!;
    const origin = stream.origin;
    // 1. The body altered (an earlier takeover size): neither signature holds any more.
    const altered = statement.replace(`\nattesto key-rotation v1\n3\n`, `\nattesto key-rotation v1\n2\n`);
    expect(altered).not.toBe(statement);
    // 2. An attacker's key, with a statement signed by itself and a line that claims the old key's id, and a checkpoint it signed.
    const attacker = generateKeyPairSync("ed25519").privateKey;
    const attackerPublic = ed25519RawPublic(attacker);
    const signer = { name: origin, keyId: keyId(origin, attackerPublic), type: SIG_ED25519, privateKey: attacker } as const;
    const attackerKey = verifierKeyString(origin, attackerPublic);
    const forgedText = formatKeyRotation({ origin, takesOverAfter: 3, keys: [attackerKey] });
    const k0Id = parseVerifierKey(k0).keyId;
    const claimed =
      signNoteWith(forgedText, [signer]).replace(/\n$/, "") + `\n— ${origin} ${Buffer.concat([Buffer.from(k0Id.toString(16).padStart(8, "0"), "hex"), Buffer.alloc(64, 7)]).toString("base64")}\n`;
    const checkpointText = splitNote(bundle.doc.checkpoint).text;
    const attackerCheckpoint = signNoteWith(checkpointText, [signer]);
    // 3. The genuine statement moved to another stream's origin is of no use either: the chain is the pinned key's origin.
    const cases: Array<[string, Partial<BundleDocument>]> = [
      ["altered body", { key_rotations: [altered] }],
      ["attacker statement", { key_rotations: [claimed], checkpoint: attackerCheckpoint, verifier_key: attackerKey }],
      ["statement not a note", { key_rotations: ["hello\n"] }],
    ];
    for (const [name, change] of cases) {
      const report = verifyDocument(JSON.stringify({ ...bundle.doc, ...change }), { pinnedKey: k0 });
      expect(report.valid, name).toBe(false);
      expect(
        report.checks.find((c) => c.name === "key_rotation"),
        name,
      ).toMatchObject({ status: "fail" });
    }
    // The bundle is of the latest checkpoint that covers its range (the one signed at commit, size 8).
    expect(parseCheckpoint(checkpointText).size).toBe(8);
  });

  it("a rotation with nothing new to sign makes the next checkpoint the handover, even one signed at commit", async () => {
    const { stream: s } = await client.createStream({ name: "idle rotation" });
    await append(s!.id, ["b1", "b2"], true);
    const before = (await client.getStream({ streamId: s!.id })).stream!;
    expect(before.checkpointSize).toBe(2n);
    const rotated = await client.rotateStreamKey({ streamId: s!.id });
    expect(rotated.takesOverAfter).toBe(2n);
    expect(rotated.handoverCheckpoint).toBeUndefined();
    const [proven] = await append(s!.id, ["b3"], true);
    expect(proven!.proofReceipt!.checkpointTreeSize).toBe(3n);
    const handover = (await client.getCheckpoint({ streamId: s!.id, treeSize: 3n })).checkpoint!;
    expect(signedBy(handover.note, [before.verifierKey, rotated.verifierKeys[0]!]).sort()).toEqual([before.verifierKey, rotated.verifierKeys[0]!].sort());
    await append(s!.id, ["b4"], true);
    const next = (await client.getCheckpoint({ streamId: s!.id, treeSize: 4n })).checkpoint!;
    expect(signedBy(next.note, [before.verifierKey, rotated.verifierKeys[0]!])).toEqual([rotated.verifierKeys[0]!]);
  });

  it("rotates an ML-DSA-44 stream to new keys of both algorithms; the statement names both", async () => {
    const { stream: s } = await client.createStream({ name: "pq", mlDsa44: true });
    await append(s!.id, ["c1", "c2"]);
    await client.createCheckpoint({ streamId: s!.id });
    await append(s!.id, ["c3"]);
    const rotated = await client.rotateStreamKey({ streamId: s!.id });
    expect(rotated.verifierKeys).toHaveLength(2);
    expect(parseVerifierKey(rotated.verifierKeys[1]!).type).toBe(0x06);
    const old = [s!.verifierKey, s!.mlDsa44VerifierKey];
    const handover = rotated.handoverCheckpoint!;
    expect(signedBy(handover.note, [...old, ...rotated.verifierKeys])).toHaveLength(4);
    expect(parseKeyRotation(splitNote(rotated.rotationStatement).text).keys).toEqual(rotated.verifierKeys);
    expect(rotated.stream!.mlDsa44VerifierKey).toBe(rotated.verifierKeys[1]);
    expect(rotated.stream!.keyHistory.map((k) => k.algorithm)).toEqual(["ed25519", "ml-dsa-44", "ed25519", "ml-dsa-44"]);
    await append(s!.id, ["c4"]);
    const after = (await client.createCheckpoint({ streamId: s!.id })).checkpoint!;
    expect(signedBy(after.note, [...old, ...rotated.verifierKeys])).toEqual(rotated.verifierKeys);
  });

  it("rotations racing appends that sign at commit and explicit checkpoints never leave a checkpoint signed by the wrong generation", async () => {
    const { stream: s } = await client.createStream({ name: "racing" });
    await append(s!.id, ["r0"], true);
    const work: Array<Promise<unknown>> = [];
    for (let i = 1; i <= 30; i++) {
      work.push(client.appendEvent({ ...appendRequest(s!.id, `r${i}`), waitForProof: i % 2 === 0 }));
      if (i % 10 === 5) work.push(client.rotateStreamKey({ streamId: s!.id }));
      if (i % 7 === 0) work.push(client.createCheckpoint({ streamId: s!.id }));
    }
    await Promise.all(work);
    // One more event after every rotation: a checkpoint above the last takeover exists, the last handover.
    await append(s!.id, ["r-final"]);
    await client.createCheckpoint({ streamId: s!.id });
    const { stream: got } = await client.getStream({ streamId: s!.id });
    const generations = [0, 1, 2, 3].map((g) => got!.keyHistory.find((k) => k.generation === g)!);
    expect(generations.every(Boolean)).toBe(true);
    const all = generations.map((g) => g.verifierKey);
    let seen = 0;
    let handovers = 0;
    for (let size = 1n; size <= got!.checkpointSize; size++) {
      const checkpoint = await client.getCheckpoint({ streamId: s!.id, treeSize: size }).then(
        (r) => r.checkpoint!,
        () => undefined,
      );
      if (!checkpoint) continue;
      seen++;
      // The generation whose keys sign this size: the last one that took over below it.
      const g = generations.filter((k) => k.takesOverAfter < size).at(-1)!.generation;
      const handover = g > 0 && (await firstCheckpointAbove(s!.id, generations[g]!.takesOverAfter)) === size;
      const want = handover ? [all[g - 1]!, all[g]!] : [all[g]!];
      if (handover) handovers++;
      expect(signedBy(checkpoint.note, all).sort(), `checkpoint ${size}`).toEqual(want.sort());
    }
    expect(seen).toBeGreaterThanOrEqual(2);
    expect(handovers).toBeGreaterThanOrEqual(1);
  });

  it("a rotation on another instance stops this one's commit from signing with the keys it holds: the handover is still signed by both", async () => {
    const other = await startTestServer({ checkpointIntervalMs: 3_600_000, dbPoolSize: 3, encryptionKey: ENCRYPTION_KEY });
    try {
      const { stream: s } = await client.createStream({ name: "two instances" });
      // This instance signs the first receipt itself, then holds the keys and signs the next at commit.
      await append(s!.id, ["i-1"], true);
      await append(s!.id, ["i-2"], true);
      const rotated = await clientFor(ProofstreamService, other.url, tenantKey).rotateStreamKey({ streamId: s!.id });
      expect(rotated.takesOverAfter).toBe(2n);
      const [k0, k1] = [s!.verifierKey, rotated.verifierKeys[0]!];
      const [third] = await append(s!.id, ["i-3"], true);
      expect(third!.proofReceipt!.checkpointTreeSize).toBe(3n);
      const handover = (await client.getCheckpoint({ streamId: s!.id, treeSize: 3n })).checkpoint!;
      expect(signedBy(handover.note, [k0, k1]).sort()).toEqual([k0, k1].sort());
      await append(s!.id, ["i-4"], true);
      expect(signedBy((await client.getCheckpoint({ streamId: s!.id, treeSize: 4n })).checkpoint!.note, [k0, k1])).toEqual([k1]);
    } finally {
      await other.stop();
    }
  });

  it("another tenant's RotateStreamKey is NOT_FOUND and changes nothing of the owner's keys", async () => {
    const { stream: s } = await client.createStream({ name: "owned" });
    const other = clientFor(ProofstreamService, app.url, (await newTenant(app.url)).key);
    expect(await codeOf(other.rotateStreamKey({ streamId: s!.id }))).toBe(Code.NotFound);
    expect(await codeOf(client.rotateStreamKey({ streamId: "str_01ARZ3NDEKTSV4RRFFQ69G5FAV" }))).toBe(Code.NotFound);
    expect(await codeOf(client.rotateStreamKey({ streamId: "nope" }))).toBe(Code.InvalidArgument);
    const { stream: after } = await client.getStream({ streamId: s!.id });
    expect(after!.keyHistory).toHaveLength(1);
    expect(after!.verifierKey).toBe(s!.verifierKey);
  });
});

async function firstCheckpointAbove(streamId: string, size: bigint): Promise<bigint | undefined> {
  const { stream } = await client.getStream({ streamId });
  for (let s = size + 1n; s <= stream!.checkpointSize; s++) {
    const found = await client.getCheckpoint({ streamId, treeSize: s }).then(
      () => true,
      () => false,
    );
    if (found) return s;
  }
  return undefined;
}
