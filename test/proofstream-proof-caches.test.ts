import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { AppError } from "../src/errors.js";
import { Appender } from "../src/proofstream/append.js";
import { StreamHeads } from "../src/proofstream/heads.js";
import { consistencyRanges, inclusionRanges } from "../src/proofstream/merkle/ranges.js";
import { verifyConsistency, verifyInclusion } from "../src/verify/merkle.js";
import { createStream } from "../src/proofstream/streams.js";
import { TileCache } from "../src/proofstream/tile-cache.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { referenceRoot, suiteDatabase } from "./support/proofstream.js";

const database = suiteDatabase();
const keyring = new Keyring(randomBytes(32));

const tenant = async () => (await createTenant(database().db, `caches-${randomBytes(4).toString("hex")}`)).id;
const stream = async (tenantId: string) => (await createStream(database().db, keyring, { tenantId, name: "caches", publicBaseUrl: "https://attesto.example" })).id;

async function append(tenantId: string, streamId: string, from: number, count: number) {
  const appender = new Appender(database().db);
  await Promise.all(Array.from({ length: count }, (_, i) => appender.append({ tenantId, streamId, sourceRef: `e-${from + i}`, eventType: "t", occurredAt: new Date(0), payload: { i: from + i } })));
}

const leavesOf = async (streamId: string) =>
  (await database().db.execute<{ leaf_hash: Buffer }>(sql`SELECT leaf_hash FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`)).map((r) => r.leaf_hash);

describe("stream heads", () => {
  it("share one read among the concurrent requests of any tenant, and still refuse the other tenant", async () => {
    const [owner, other] = [await tenant(), await tenant()];
    const streamId = await stream(owner);
    const heads = new StreamHeads(60_000);
    const asked = Array.from({ length: 20 }, (_, i) =>
      heads.head(database().db, i % 4 === 3 ? other : owner, streamId).then(
        (h) => h,
        (e: unknown) => e,
      ),
    );
    const answers = await Promise.all(asked);
    const found = answers.filter((a) => !(a instanceof Error));
    expect(found).toHaveLength(15);
    // One read: every owner's request got the very object it produced.
    expect(new Set(found).size).toBe(1);
    expect(answers.filter((a) => a instanceof AppError && a.code === "not_found")).toHaveLength(5);
  });

  it("reads again when asked fresh, and sees what committed since", async () => {
    const owner = await tenant();
    const streamId = await stream(owner);
    const heads = new StreamHeads(60_000);
    expect((await heads.head(database().db, owner, streamId)).treeSize).toBe(0);
    await append(owner, streamId, 0, 3);
    expect((await heads.head(database().db, owner, streamId)).treeSize).toBe(0);
    expect((await heads.head(database().db, owner, streamId, true)).treeSize).toBe(3);
  });
  it("keeps an announced checkpoint's bytes in memory of their own, not the larger buffer they were decoded into", async () => {
    const owner = await tenant();
    const streamId = await stream(owner);
    await append(owner, streamId, 0, 2);
    const heads = new StreamHeads(60_000);
    const head = await heads.head(database().db, owner, streamId);
    // As an announcement decodes them: slices of one shared block.
    const block = Buffer.alloc(64 * 1024, 9);
    const rootHash = block.subarray(100, 132);
    const timestampToken = block.subarray(200, 1200);
    const announced = {
      streamId,
      treeSize: 2,
      rootHash,
      note: "n\n",
      logNote: "n\n",
      keyId: 1,
      signedAt: new Date(),
      cosignatures: "",
      cosignatureCount: 0,
      witnessedAt: null,
      timestampToken,
      timestampedAt: new Date(),
    };
    heads.announced(announced);
    const kept = (await heads.checkpoint(database().db, streamId, head, 2))!;
    expect(kept.rootHash.equals(rootHash) && kept.timestampToken!.equals(timestampToken)).toBe(true);
    expect(kept.rootHash.buffer).not.toBe(block.buffer);
    expect(kept.rootHash.buffer.byteLength).toBe(32);
    expect(kept.timestampToken!.buffer.byteLength).toBe(1000);
  });
});

describe("tile store proofs", () => {
  it("proves inclusion and consistency at several sizes of a growing tree, with right edges cached per size", async () => {
    const owner = await tenant();
    const streamId = await stream(owner);
    const tiles = new TileCache(1 << 22);
    const sizes = [1, 300, 301, 777, 1000];
    let at = 0;
    for (const size of sizes) {
      await append(owner, streamId, at, size - at);
      at = size;
      const root = referenceRoot(await leavesOf(streamId));
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        // Twice: the second answer comes from the cached right edge.
        for (let round = 0; round < 2; round++) {
          const { hashes, extra } = await tiles.proof(database().db, streamId, size, inclusionRanges(index, size), [{ level: 0, index }]);
          expect(verifyInclusion(index, size, extra[0]!, hashes, root), `leaf ${index} of ${size}, round ${round}`).toBe(true);
        }
      }
      for (const from of sizes.filter((s) => s < size)) {
        const oldRoot = referenceRoot((await leavesOf(streamId)).slice(0, from));
        const { hashes } = await tiles.proof(database().db, streamId, size, consistencyRanges(from, size));
        expect(verifyConsistency(from, size, hashes, oldRoot, root)).toBe(true);
      }
    }
  });

  it("reads tiles again when its byte budget cannot hold them, and still answers", async () => {
    const owner = await tenant();
    const streamId = await stream(owner);
    await append(owner, streamId, 0, 600);
    const root = referenceRoot(await leavesOf(streamId));
    const tiny = new TileCache(1);
    const { hashes, extra } = await tiny.proof(database().db, streamId, 600, inclusionRanges(42, 600), [{ level: 0, index: 42 }]);
    expect(verifyInclusion(42, 600, extra[0]!, hashes, root)).toBe(true);
    expect((await tiny.root(database().db, streamId, 600)).equals(root)).toBe(true);
  });
});
