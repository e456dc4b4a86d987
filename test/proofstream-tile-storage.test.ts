/**
 * How the tiles are stored: level 0 holds complete tiles only, each written
 * once as it completes (on the one-statement path and on the integration
 * path), and every reader takes level 0's incomplete tile from the leaf
 * hashes of the events. An incomplete level-0 row left by an earlier version
 * is never read, and the completing write replaces it.
 */
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { Appender } from "../src/proofstream/append.js";
import { edgeRoot } from "../src/proofstream/merkle/right-edge.js";
import { inclusionRanges } from "../src/proofstream/merkle/ranges.js";
import { createStream } from "../src/proofstream/streams.js";
import { TileCache } from "../src/proofstream/tile-cache.js";
import { readStreamStates } from "../src/proofstream/warm-streams.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { verifyInclusion } from "../src/verify/merkle.js";
import { referenceRoot, suiteDatabase } from "./support/proofstream.js";

const database = suiteDatabase();
const keyring = new Keyring(randomBytes(32));

async function newStream(): Promise<{ tenantId: string; streamId: string }> {
  const tenantId = (await createTenant(database().db, `tiles-${randomBytes(4).toString("hex")}`)).id;
  const streamId = (await createStream(database().db, keyring, { tenantId, name: "tiles", publicBaseUrl: "https://attesto.example" })).id;
  return { tenantId, streamId };
}

let ref = 0;
const appendBatch = (appender: Appender, tenantId: string, streamId: string, count: number) =>
  Promise.all(Array.from({ length: count }, () => appender.append({ tenantId, streamId, sourceRef: `e-${ref++}`, eventType: "t", occurredAt: new Date(0), payload: { ref } })));

const leavesOf = async (streamId: string) =>
  (await database().db.execute<{ leaf_hash: Buffer }>(sql`SELECT leaf_hash FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`)).map((r) => r.leaf_hash);

const levelZeroRows = async (streamId: string) =>
  (await database().db.execute<{ idx: string; hashes: Buffer }>(sql`SELECT idx, hashes FROM tiles WHERE stream_id = ${streamId} AND level = 0 ORDER BY idx`)).map((r) => ({
    index: Number(r.idx),
    hashes: r.hashes,
  }));

const treeSize = async (streamId: string) => Number((await database().db.execute<{ tree_size: string }>(sql`SELECT tree_size FROM streams WHERE id = ${streamId}`))[0]!.tree_size);

/** Level 0 as it must be stored for the stream's tree: one row per complete tile, the tile's leaf hashes, nothing else. */
async function expectCompleteLevelZero(streamId: string): Promise<void> {
  const size = await treeSize(streamId);
  const leaves = await leavesOf(streamId);
  const rows = await levelZeroRows(streamId);
  expect(rows.map((r) => r.index)).toEqual(Array.from({ length: Math.floor(size / 256) }, (_, i) => i));
  for (const row of rows) expect(row.hashes.equals(Buffer.concat(leaves.slice(row.index * 256, row.index * 256 + 256))), `tile 0/${row.index}`).toBe(true);
}

describe("level-0 tile storage", () => {
  it("writes a level-0 tile once it completes, whatever the batches that fill it", async () => {
    const { tenantId, streamId } = await newStream();
    const appender = new Appender(database().db);
    // 100 + 100 + 100 completes tile 0 with 200 kept; 250 spans tile 1 whole and starts tile 2.
    for (const count of [100, 100, 100, 250, 1, 300]) {
      await appendBatch(appender, tenantId, streamId, count);
      await expectCompleteLevelZero(streamId);
    }
    expect(await treeSize(streamId)).toBe(851);
  });

  it("writes it the same way when other processes' appends are integrated", async () => {
    const { tenantId, streamId } = await newStream();
    // Two appenders on one stream: the second's compare-and-swap fails, and both take the sequencing path.
    const [a, b] = [new Appender(database().db), new Appender(database().db)];
    try {
      for (let round = 0; round < 8; round++) await Promise.all([appendBatch(a, tenantId, streamId, 37), appendBatch(b, tenantId, streamId, 41)]);
      await Promise.all([a.integrated(), b.integrated()]);
      expect(await treeSize(streamId)).toBe(8 * 78);
      await expectCompleteLevelZero(streamId);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("reads level 0's incomplete tile from the events, for a cold edge, a proof and the tile itself", async () => {
    const { tenantId, streamId } = await newStream();
    await appendBatch(new Appender(database().db), tenantId, streamId, 300);
    const leaves = await leavesOf(streamId);
    const root = referenceRoot(leaves);
    const state = (await readStreamStates(database().db, [streamId])).get(streamId)!;
    expect(state.edge.size).toBe(300);
    expect(edgeRoot(state.edge)!.equals(root)).toBe(true);
    const tiles = new TileCache(1 << 22);
    for (const index of [0, 255, 256, 299]) {
      const { hashes, extra } = await tiles.proof(database().db, streamId, 300, inclusionRanges(index, 300), [{ level: 0, index }]);
      expect(verifyInclusion(index, 300, extra[0]!, hashes, root), `leaf ${index}`).toBe(true);
    }
    expect((await new TileCache(1 << 22).tile(database().db, streamId, { level: 0, index: 1 }, 44))!.equals(Buffer.concat(leaves.slice(256, 300)))).toBe(true);
    // Beyond the events there is nothing to read: not stored, as before.
    expect(await new TileCache(1 << 22).tile(database().db, streamId, { level: 0, index: 2 }, 1)).toBeUndefined();
  });

  it("never reads an incomplete level-0 row an earlier version stored, and replaces it as the tile completes", async () => {
    const { tenantId, streamId } = await newStream();
    const appender = new Appender(database().db);
    await appendBatch(appender, tenantId, streamId, 260);
    // What an earlier version kept for tile 1, here with hashes that are not the events': a reader that took it would fail.
    await database().db.execute(sql`INSERT INTO tiles (stream_id, level, idx, hashes) VALUES (${streamId}, 0, 1, ${randomBytes(4 * 32)})`);
    const root = referenceRoot(await leavesOf(streamId));
    expect(edgeRoot((await readStreamStates(database().db, [streamId])).get(streamId)!.edge)!.equals(root)).toBe(true);
    const { hashes, extra } = await new TileCache(1 << 22).proof(database().db, streamId, 260, inclusionRanges(258, 260), [{ level: 0, index: 258 }]);
    expect(verifyInclusion(258, 260, extra[0]!, hashes, root)).toBe(true);
    await appendBatch(appender, tenantId, streamId, 300);
    await expectCompleteLevelZero(streamId);
  });
});
