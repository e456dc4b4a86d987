import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase, type Database } from "../src/db/db.js";
import { Appender, type AppendInput } from "../src/proofstream/append.js";
import { leafBytes, leafOf, payloadSha256 } from "../src/proofstream/leaf.js";
import { createStream } from "../src/proofstream/streams.js";
import { TileCache } from "../src/proofstream/tile-cache.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { referenceRoot } from "./support/proofstream.js";

/**
 * Several appenders (each stands for a process or an instance) on one
 * stream: after the first compare-and-swap fails they sequence in the
 * stream row and integrate in the background, in turn. Whatever the
 * interleaving, the stream stays gapless, every answer is stored with its
 * final seq_no when it is given and in the tree once the integrators ran,
 * a checkpoint signed after an answer covers it, the leaves PostgreSQL
 * builds are the leaves the verifier rebuilds, and events a killed process
 * sequenced but never integrated are integrated later.
 */
let database: Database;
let tenantId: string;
const keyring = new Keyring(randomBytes(32));

beforeAll(async () => {
  database = openDatabase({ url: inject("databaseUrl"), poolSize: 8 });
  await database.migrate();
  tenantId = (await createTenant(database.db, `sequencing-${randomBytes(4).toString("hex")}`)).id;
});
afterAll(() => database?.close());

const newStream = (name: string) => createStream(database.db, keyring, { tenantId, name, publicBaseUrl: "https://attesto.example" }).then((s) => s.id);
const input = (streamId: string, sourceRef: string, payload: Record<string, unknown> = { sourceRef }): AppendInput => ({
  tenantId,
  streamId,
  sourceRef,
  eventType: "t",
  occurredAt: new Date("2026-06-07T12:00:00.250Z"),
  payload: payload as AppendInput["payload"],
});

async function head(streamId: string): Promise<{ tree: number; unintegrated: number }> {
  const [row] = await database.db.execute<{ tree_size: string; unintegrated: string }>(sql`SELECT tree_size, unintegrated FROM streams WHERE id = ${streamId}`);
  return { tree: Number(row!.tree_size), unintegrated: Number(row!.unintegrated) };
}

async function stored(streamId: string) {
  return database.db.execute<{
    seq_no: string;
    source_ref: string;
    event_type: string;
    occurred_at: Date | string;
    received_at: Date | string;
    payload_sha256: string;
    leaf: Buffer;
    leaf_hash: Buffer;
  }>(sql`SELECT seq_no, source_ref, event_type, occurred_at, received_at, payload_sha256, leaf, leaf_hash FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`);
}

describe("one stream, several appenders", () => {
  it("stays gapless and one tree; each answer is stored with its seq_no when given; the sequenced leaves are the verifier's", async () => {
    const streamId = await newStream("shared");
    const appenders = [new Appender(database.db), new Appender(database.db), new Appender(database.db)];
    const tileCache = new TileCache(1 << 20);
    const answered: Array<{ seqNo: number; storedAtAnswer: number | undefined; sequencedAtAnswer: number }> = [];
    // Waves of concurrent appends through all three, so every appender finds the stream moved by the others.
    for (let wave = 0; wave < 8; wave++) {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          appenders[i % 3]!.append(input(streamId, `w${wave}-${i}`, { wave, i, text: 'quote " and ünïcødé' })).then(async (r) => {
            const [row] = await database.db.execute<{ seq_no: string }>(sql`SELECT seq_no FROM events WHERE stream_id = ${streamId} AND source_ref = ${r.event.sourceRef}`);
            const { tree, unintegrated } = await head(streamId);
            answered.push({ seqNo: r.event.seqNo, storedAtAnswer: row ? Number(row.seq_no) : undefined, sequencedAtAnswer: tree + unintegrated });
            return r;
          }),
        ),
      );
      expect(results.every((r) => !r.duplicate)).toBe(true);
    }
    // Final and durable at the answer: stored under the seq_no it names, and counted by the stream row.
    for (const { seqNo, storedAtAnswer, sequencedAtAnswer } of answered) {
      expect(storedAtAnswer).toBe(seqNo);
      expect(sequencedAtAnswer).toBeGreaterThanOrEqual(seqNo);
    }
    await Promise.all(appenders.map((a) => a.integrated()));
    const rows = await stored(streamId);
    expect(rows.map((r) => Number(r.seq_no))).toEqual(Array.from({ length: 480 }, (_, i) => i + 1));
    expect(await head(streamId)).toEqual({ tree: 480, unintegrated: 0 });
    for (const raw of rows) {
      const r = { ...raw, occurred_at: new Date(raw.occurred_at), received_at: new Date(raw.received_at) };
      const leaf = leafBytes({
        streamId,
        seqNo: Number(r.seq_no),
        sourceRef: r.source_ref,
        eventType: r.event_type,
        occurredAt: r.occurred_at,
        receivedAt: r.received_at,
        payloadSha256: r.payload_sha256,
      });
      expect(r.leaf.equals(leaf)).toBe(true);
      expect(
        r.leaf_hash.equals(
          leafOf({ streamId, seqNo: Number(r.seq_no), sourceRef: r.source_ref, eventType: r.event_type, occurredAt: r.occurred_at, receivedAt: r.received_at, payloadSha256: r.payload_sha256 })
            .leafHash,
        ),
      ).toBe(true);
    }
    // The tiles the integrators wrote in turn give the tree of the stored leaves, at every size an answer saw.
    for (const size of [1, 255, 256, 257, 300, 480]) {
      expect((await tileCache.root(database.db, streamId, size)).equals(referenceRoot(rows.slice(0, size).map((r) => r.leaf_hash)))).toBe(true);
    }
    // The sequencing path batches: far fewer commits than events.
    const [commits] = await database.db.execute<{ n: number }>(sql`SELECT count(DISTINCT xmin::text)::int AS n FROM events WHERE stream_id = ${streamId}`);
    const n = commits!.n;
    expect(n).toBeLessThan(240);
  });

  it("answers replays and refuses conflicts across appenders, concurrent with new appends", async () => {
    const streamId = await newStream("replays");
    const [a, b] = [new Appender(database.db), new Appender(database.db)];
    await Promise.all(Array.from({ length: 20 }, (_, i) => [a, b][i % 2]!.append(input(streamId, `r-${i}`))));
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => [b, a][i % 2]!.append(input(streamId, `r-${i}`))),
      a.append(input(streamId, "r-3", { other: true })),
      ...Array.from({ length: 20 }, (_, i) => [a, b][i % 2]!.append(input(streamId, `n-${i}`))),
    ]);
    const replays = outcomes.slice(0, 20);
    for (const o of replays) expect(o.status === "fulfilled" && o.value.duplicate).toBe(true);
    const conflict = outcomes[20]!;
    expect(conflict.status).toBe("rejected");
    expect(conflict.status === "rejected" && (conflict.reason as { code?: string }).code).toBe("replay_conflict");
    const fresh = outcomes.slice(21).map((o) => (o.status === "fulfilled" ? o.value : undefined));
    expect(fresh.every((r) => r && !r.duplicate)).toBe(true);
    expect(new Set(fresh.map((r) => r!.event.seqNo))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => 21 + i)));
    expect((await stored(streamId)).length).toBe(40);
    await Promise.all([a.integrated(), b.integrated()]);
    expect(await head(streamId)).toEqual({ tree: 40, unintegrated: 0 });
  });

  it("integrates events a killed process sequenced but never integrated: on the next append, and by integratePending", async () => {
    const streamId = await newStream("orphans");
    const appender = new Appender(database.db);
    await appender.append(input(streamId, "first"));
    // What a process killed between its sequencing commit and its integration leaves: events beyond the tree.
    const orphan = async (seqNo: number, sourceRef: string) => {
      const occurredAt = new Date("2026-06-07T12:00:00.250Z");
      const receivedAt = new Date();
      const sha = payloadSha256({ sourceRef });
      const { leaf, leafHash } = leafOf({ streamId, seqNo, sourceRef, eventType: "t", occurredAt, receivedAt, payloadSha256: sha });
      await database.db.execute(sql`
        WITH e AS (
          INSERT INTO events (stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, leaf, leaf_hash)
          VALUES (${streamId}, ${seqNo}, ${sourceRef}, 't', ${occurredAt.toISOString()}, ${receivedAt.toISOString()}, ${JSON.stringify({ sourceRef })}::jsonb, ${sha}, ${leaf}, ${leafHash})
        ) UPDATE streams SET unintegrated = unintegrated + 1 WHERE id = ${streamId}`);
    };
    await orphan(2, "orphan-a");
    await orphan(3, "orphan-b");
    expect(await head(streamId)).toEqual({ tree: 1, unintegrated: 2 });
    // A replay of an orphan answers the stored event, and its appender integrates what it found beyond the tree.
    const replaying = new Appender(database.db);
    const replay = await replaying.append(input(streamId, "orphan-a"));
    expect(replay.duplicate).toBe(true);
    expect(replay.event.seqNo).toBe(2);
    await replaying.integrated();
    expect(await head(streamId)).toEqual({ tree: 3, unintegrated: 0 });

    await orphan(4, "orphan-c");
    expect(await appender.integratePending()).toBeGreaterThanOrEqual(1);
    expect(await head(streamId)).toEqual({ tree: 4, unintegrated: 0 });
    const next = await appender.append(input(streamId, "after"));
    expect(next.event.seqNo).toBe(5);
    await appender.integrated();
    const rows = await stored(streamId);
    expect((await new TileCache(1 << 20).root(database.db, streamId, 5)).equals(referenceRoot(rows.map((r) => r.leaf_hash)))).toBe(true);
  });
});
