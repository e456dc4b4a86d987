import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase, type Database } from "../src/db/db.js";
import { Appender, type AppendInput } from "../src/proofstream/append.js";
import { createStream } from "../src/proofstream/streams.js";
import { TileCache } from "../src/proofstream/tile-cache.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { referenceRoot } from "./support/proofstream.js";

let database: Database;
let tenantId: string;
const keyring = new Keyring(randomBytes(32));

beforeAll(async () => {
  database = openDatabase({ url: inject("databaseUrl"), poolSize: 8 });
  await database.migrate();
  tenantId = (await createTenant(database.db, `group-commit-${randomBytes(4).toString("hex")}`)).id;
});
afterAll(() => database?.close());

const newStreams = (n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => createStream(database.db, keyring, { tenantId, name: `gc-${i}`, publicBaseUrl: "https://attesto.example" }).then((s) => s.id)));

const input = (streamId: string, sourceRef: string): AppendInput => ({ tenantId, streamId, sourceRef, eventType: "t", occurredAt: new Date("2026-06-07T12:00:00Z"), payload: { sourceRef } });

/** Rows written by one transaction share its xmin: the number of commits that wrote these events. */
async function commitsOf(streamIds: string[], afterSeq: number): Promise<number> {
  const [row] = await database.db.execute<{ n: number }>(
    sql`SELECT count(DISTINCT xmin::text)::int AS n FROM events WHERE stream_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(streamIds)}::jsonb)) AND seq_no > ${afterSeq}`,
  );
  return row!.n;
}

async function seqNos(streamId: string): Promise<number[]> {
  const rows = await database.db.execute<{ seq_no: string }>(sql`SELECT seq_no FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`);
  return rows.map((r) => Number(r.seq_no));
}

describe("group commit across streams", () => {
  it("commits the concurrent appends of many streams in one transaction, each stream numbered in arrival order", async () => {
    const streams = await newStreams(20);
    const appender = new Appender(database.db);
    // One append each first: this process then knows every stream's size (the one-statement path).
    await Promise.all(streams.map((id) => appender.append(input(id, "warm"))));
    const results = await Promise.all(streams.flatMap((id) => Array.from({ length: 5 }, (_, i) => appender.append(input(id, `e-${i}`)))));
    // The first append starts a commit alone; the other 99 gather behind it and share the next.
    expect(await commitsOf(streams, 1)).toBeLessThanOrEqual(2);
    for (const [k, r] of results.entries()) {
      expect(r.duplicate).toBe(false);
      expect(r.event.seqNo).toBe(2 + (k % 5));
      expect(r.event.sourceRef).toBe(`e-${k % 5}`);
    }
    const tileCache = new TileCache(1 << 20);
    for (const id of streams) {
      expect(await seqNos(id)).toEqual([1, 2, 3, 4, 5, 6]);
      // The tiles written in the shared statement give each stream its own tree.
      const leaves = (await database.db.execute<{ leaf_hash: Buffer }>(sql`SELECT leaf_hash FROM events WHERE stream_id = ${id} ORDER BY seq_no`)).map((r) => r.leaf_hash);
      expect((await tileCache.root(database.db, id, 6)).equals(referenceRoot(leaves))).toBe(true);
    }
  });

  it("keeps the others committing when another writer moved one stream, and answers replays from storage", async () => {
    const streams = await newStreams(4);
    const appender = new Appender(database.db);
    const otherProcess = new Appender(database.db);
    await Promise.all(streams.map((id) => appender.append(input(id, "warm"))));
    // Another process appends to stream 0: this appender's size for it is stale, its compare-and-swap fails.
    await otherProcess.append(input(streams[0]!, "elsewhere"));
    const results = await Promise.all([
      ...streams.map((id) => appender.append(input(id, "next"))),
      appender.append(input(streams[1]!, "warm")), // a replay this process did not see in its batch
    ]);
    expect(results.map((r) => [r.event.seqNo, r.duplicate])).toEqual([
      [3, false],
      [2, false],
      [2, false],
      [2, false],
      [1, true],
    ]);
    expect(await seqNos(streams[0]!)).toEqual([1, 2, 3]);
  });

  it("fails only the bad member of a shared commit", async () => {
    const streams = await newStreams(3);
    const appender = new Appender(database.db);
    await Promise.all(streams.map((id) => appender.append(input(id, "warm"))));
    // Passes the appender's checks but not the database's: too long for the source_ref index.
    const huge = randomBytes(9000).toString("base64");
    const outcomes = await Promise.allSettled([
      appender.append(input(streams[0]!, "a")),
      appender.append(input(streams[1]!, huge)),
      appender.append(input(streams[1]!, "b")),
      appender.append(input(streams[2]!, "c")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.event.seqNo] : []))).toEqual([2, 2, 2]);
    for (const id of streams) expect(await seqNos(id)).toEqual([1, 2]);
  });

  it("commits the first appends of streams this process never wrote in one transaction, reading their state in one statement", async () => {
    const streams = await newStreams(20);
    // Another process gave each stream 300 events: a full tile and a partial one at level 0, a partial one at level 1.
    const otherProcess = new Appender(database.db, { maxBatch: 4096 });
    await Promise.all(streams.flatMap((id) => Array.from({ length: 300 }, (_, i) => otherProcess.append(input(id, `old-${i}`)))));
    const appender = new Appender(database.db);
    const results = await Promise.all(streams.flatMap((id) => Array.from({ length: 3 }, (_, i) => appender.append(input(id, `new-${i}`)))));
    // The first append may start a commit alone; every other stream's appends share the next one.
    expect(await commitsOf(streams, 300)).toBeLessThanOrEqual(2);
    expect(results.map((r) => r.event.seqNo)).toEqual(streams.flatMap(() => [301, 302, 303]));
    const first = appender.warmStats();
    expect(first).toMatchObject({ streams: 20, misses: 20 });
    await Promise.all(streams.map((id) => appender.append(input(id, "warm"))));
    expect(appender.warmStats()).toMatchObject({ streams: 20, hits: first.hits + 20, misses: 20 });
    const tileCache = new TileCache(1 << 20);
    for (const id of streams) {
      const leaves = (await database.db.execute<{ leaf_hash: Buffer }>(sql`SELECT leaf_hash FROM events WHERE stream_id = ${id} ORDER BY seq_no`)).map((r) => r.leaf_hash);
      expect(leaves).toHaveLength(304);
      expect((await tileCache.root(database.db, id, 304)).equals(referenceRoot(leaves))).toBe(true);
    }
  });

  it("keeps the warm set within its byte budget; a stream that fell out is read again and appended to correctly", async () => {
    const streams = await newStreams(30);
    const appender = new Appender(database.db, { warmStreamBytes: 4096 });
    for (let round = 1; round <= 3; round++) {
      const results = await Promise.all(streams.map((id) => appender.append(input(id, `r-${round}`))));
      expect(results.map((r) => r.event.seqNo)).toEqual(streams.map(() => round));
      const stats = appender.warmStats();
      expect(stats.bytes).toBeLessThanOrEqual(4096);
      expect(stats.streams).toBeGreaterThan(0);
      expect(stats.streams).toBeLessThan(30);
    }
    for (const id of streams) expect(await seqNos(id)).toEqual([1, 2, 3]);
  });

  it("answers a missing stream and another tenant's stream as not found from the shared read, writing nothing", async () => {
    const [stream] = await newStreams(1);
    const appender = new Appender(database.db);
    const outcomes = await Promise.allSettled([
      appender.append(input("str_01J0000000000000000000MISS", "x")),
      appender.append({ ...input(stream!, "y"), tenantId: "ten_someone_else" }),
      appender.append(input(stream!, "z")),
    ]);
    expect(outcomes.map((o) => (o.status === "rejected" ? (o.reason as { code: string }).code : o.value.event.seqNo))).toEqual(["not_found", "not_found", 1]);
    expect(await seqNos(stream!)).toEqual([1]);
  });
});
