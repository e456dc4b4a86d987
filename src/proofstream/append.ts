import { and, eq, sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { isUniqueViolation, normalizeDbError } from "../db/errors.js";
import { checkStorableJson, checkStorableText, checkStorableTime } from "../db/storable.js";
import { streamEvents, streams, tiles } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { advance, planBatch, type Frontier, type NewEventRow } from "./batch-plan.js";
import { payloadSha256, type JsonObject, type LeafFields } from "./leaf.js";
import { appendToTiles, partialTiles, type TileWrite } from "./merkle/tiles.js";

export interface AppendInput {
  tenantId: string;
  streamId: string;
  sourceRef: string;
  eventType: string;
  occurredAt: Date;
  payload: JsonObject;
}

/** An event as committed: the fields its leaf commits to, the payload and the leaf hash. */
export interface EventRecord extends LeafFields {
  payload: JsonObject;
  leafHash: Buffer;
}

export interface AppendResult {
  event: EventRecord;
  duplicate: boolean;
}

interface Pending {
  input: AppendInput & { payloadSha256: string };
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}


/**
 * Appends events, grouping the concurrent appends of one stream into one
 * transaction (group commit): while a batch commits, the next one gathers.
 * Gapless sequence numbers come from the stream row, locked FOR UPDATE, so
 * appends from any number of processes form one tree; streams never wait on
 * each other. A result is returned only after its transaction committed.
 */
export class Appender {
  readonly #queues = new Map<string, { pending: Pending[]; running: boolean }>();
  /** Bounded: a stream that falls out only costs one tile read on its next append. */
  readonly #frontiers = new LRUCache<string, Frontier>({ max: 10_000 });

  constructor(
    private readonly db: Db,
    private readonly opts: { maxBatch: number } = { maxBatch: 512 },
  ) {}

  append(input: AppendInput): Promise<AppendResult> {
    // Checking and canonicalizing here keeps a bad event out of everyone else's batch.
    let prepared: Pending["input"];
    try {
      checkStorableText(input.sourceRef, "source_ref");
      checkStorableText(input.eventType, "event_type");
      checkStorableTime(input.occurredAt, "occurred_at");
      checkStorableJson(input.payload, "payload");
      prepared = { ...input, occurredAt: new Date(input.occurredAt.getTime()), payloadSha256: payloadSha256(input.payload) };
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(input.streamId);
      if (!queue) {
        queue = { pending: [], running: false };
        this.#queues.set(input.streamId, queue);
      }
      queue.pending.push({ input: prepared, resolve, reject });
      if (!queue.running) void this.#drain(input.streamId, queue);
    });
  }

  async #drain(streamId: string, queue: { pending: Pending[]; running: boolean }): Promise<void> {
    queue.running = true;
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0, this.opts.maxBatch);
      try {
        settle(batch, await this.#commit(streamId, batch));
      } catch (err) {
        this.#frontiers.delete(streamId);
        const error = normalizeDbError(err);
        // An outage or a conflict fails every member alike; anything else may
        // be one member the checks above did not foresee: each is retried
        // alone, so only that one fails.
        if (batch.length === 1 || error.code === "unavailable") {
          for (const p of batch) p.reject(error);
          continue;
        }
        for (const p of batch) {
          try {
            settle([p], await this.#commit(streamId, [p]));
          } catch (single) {
            this.#frontiers.delete(streamId);
            p.reject(normalizeDbError(single));
          }
        }
      }
    }
    queue.running = false;
    this.#queues.delete(streamId);
  }

  /** When the event with this source_ref happened, if the stream holds one (connectors keep redeliveries identical with it). */
  async occurredAtOf(streamId: string, sourceRef: string): Promise<Date | undefined> {
    const [row] = await this.db
      .select({ occurredAt: streamEvents.occurredAt })
      .from(streamEvents)
      .where(and(eq(streamEvents.streamId, streamId), eq(streamEvents.sourceRef, sourceRef)))
      .limit(1);
    return row?.occurredAt;
  }

  async #commit(streamId: string, batch: Pending[]): Promise<Array<AppendResult | AppError>> {
    return (await this.#commitOptimistic(streamId, batch)) ?? (await this.#commitLocked(streamId, batch));
  }

  /**
   * The common case in one statement and one round trip: this process wrote
   * the stream last, so it knows the size, owner and open tiles. The stream
   * row's size is advanced by compare-and-swap and the inserts only happen if
   * it succeeded. Another writer in between, or a replayed source_ref (the
   * unique index refuses it), sends the batch to the locked path instead.
   */
  async #commitOptimistic(streamId: string, batch: Pending[]): Promise<Array<AppendResult | AppError> | undefined> {
    const before = this.#frontiers.get(streamId);
    if (!before) return undefined;
    const plan = planBatch(streamId, batch.map((p) => p.input), { tenantId: before.tenantId, treeSize: before.size }, new Map());
    if (plan.rows.length === 0) return plan.results;
    const writes = appendToTiles(before.size, plan.rows.map((r) => r.leafHash), (level) => before.partial.get(level) ?? Buffer.alloc(0));
    let swapped: boolean;
    try {
      const result = await this.db.execute<{ swapped: number }>(sql`
        WITH head AS (
          UPDATE streams SET tree_size = ${plan.size} WHERE id = ${streamId} AND tree_size = ${before.size} RETURNING id
        ), new_events AS (
          ${eventsInsert(plan.rows)} WHERE EXISTS (SELECT 1 FROM head)
        ), new_tiles AS (
          ${tilesUpsert(streamId, writes, sql`WHERE EXISTS (SELECT 1 FROM head)`)}
        )
        SELECT count(*)::int AS swapped FROM head`);
      swapped = result[0]?.swapped === 1;
    } catch (err) {
      if (isUniqueViolation(err)) swapped = false;
      else throw err;
    }
    if (!swapped) {
      this.#frontiers.delete(streamId);
      return undefined;
    }
    this.#frontiers.set(streamId, advance(before, plan.size, writes));
    return plan.results;
  }

  /** The general path: lock the stream row, look up replays, then write. */
  async #commitLocked(streamId: string, batch: Pending[]): Promise<Array<AppendResult | AppError>> {
    let frontier: Frontier | undefined;
    const outcomes = await this.db.transaction(async (tx) => {
      const refs = [...new Set(batch.map((p) => p.input.sourceRef))];
      // Sent together (postgres.js pipelines them); the server runs them in
      // order, so the lookup sees everything committed before the lock was granted.
      const [[head], stored] = await Promise.all([
        tx.select({ tenantId: streams.tenantId, treeSize: streams.treeSize }).from(streams).where(eq(streams.id, streamId)).for("update"),
        tx
          .select()
          .from(streamEvents)
          .where(and(eq(streamEvents.streamId, streamId), sql`${streamEvents.sourceRef} IN (SELECT jsonb_array_elements_text(${JSON.stringify(refs)}::jsonb))`)),
      ]);
      if (!head) return batch.map(() => notFound("stream"));
      const plan = planBatch(streamId, batch.map((p) => p.input), head, new Map(stored.map((row) => [row.sourceRef, toRecord(row)])));
      const before = await this.#frontier(tx, streamId, head);
      if (plan.rows.length === 0) {
        frontier = before;
        return plan.results;
      }
      const writes = appendToTiles(head.treeSize, plan.rows.map((r) => r.leafHash), (level) => before.partial.get(level) ?? Buffer.alloc(0));
      await Promise.all([
        tx.execute(eventsInsert(plan.rows)),
        tx.execute(tilesUpsert(streamId, writes)),
        tx.update(streams).set({ treeSize: plan.size }).where(eq(streams.id, streamId)),
      ]);
      frontier = advance(before, plan.size, writes);
      return plan.results;
    });
    if (frontier) this.#frontiers.set(streamId, frontier);
    return outcomes;
  }

  /** The incomplete tiles as of `size`: from memory when this process wrote last, else from the database. */
  async #frontier(tx: Db, streamId: string, { tenantId, treeSize: size }: { tenantId: string; treeSize: number }): Promise<Frontier> {
    const cached = this.#frontiers.get(streamId);
    if (cached?.size === size) return cached;
    const wanted = partialTiles(size);
    const partial = new Map<number, Buffer>();
    if (wanted.length > 0) {
      const rows = await tx
        .select({ level: tiles.level, idx: tiles.idx, hashes: tiles.hashes })
        .from(tiles)
        .where(and(eq(tiles.streamId, streamId), sql`(${tiles.level}, ${tiles.idx}) IN (${sql.join(wanted.map((w) => sql`(${w.level}, ${w.index})`), sql`, `)})`));
      for (const w of wanted) {
        const row = rows.find((r) => r.level === w.level && r.idx === w.index);
        if (!row) throw new AppError("internal", `tile ${w.level}/${w.index} of ${streamId} is missing`);
        partial.set(w.level, row.hashes.subarray(0, w.width * 32));
      }
    }
    return { tenantId, size, partial };
  }
}

function settle(batch: readonly Pending[], outcomes: ReadonlyArray<AppendResult | AppError>): void {
  batch.forEach((p, i) => {
    const outcome = outcomes[i]!;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  });
}

/**
 * The batch as one INSERT with a single JSON parameter: building a statement
 * with ten parameters per row costs more CPU than the database spends
 * storing the batch.
 */
function eventsInsert(rows: readonly NewEventRow[]) {
  const json = JSON.stringify(
    rows.map((r) => ({
      stream_id: r.streamId,
      seq_no: r.seqNo,
      source_ref: r.sourceRef,
      event_type: r.eventType,
      occurred_at: r.occurredAt.toISOString(),
      received_at: r.receivedAt.toISOString(),
      payload: r.payload,
      payload_sha256: r.payloadSha256,
      leaf: r.leaf.toString("hex"),
      leaf_hash: r.leafHash.toString("hex"),
    })),
  );
  return sql`
    INSERT INTO events (stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, leaf, leaf_hash)
    SELECT stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, decode(leaf, 'hex'), decode(leaf_hash, 'hex')
    FROM jsonb_to_recordset(${json}::jsonb) AS r(stream_id text, seq_no bigint, source_ref text, event_type text, occurred_at timestamptz,
      received_at timestamptz, payload jsonb, payload_sha256 text, leaf text, leaf_hash text)`;
}

/** Tile writes as one upsert; `guard` is an optional WHERE on the rows. */
function tilesUpsert(streamId: string, writes: readonly TileWrite[], guard = sql``) {
  const json = JSON.stringify(writes.map((w) => ({ level: w.level, idx: w.index, hashes: w.hashes.toString("hex") })));
  return sql`
    INSERT INTO tiles (stream_id, level, idx, hashes)
    SELECT ${streamId}, level, idx, decode(hashes, 'hex') FROM jsonb_to_recordset(${json}::jsonb) AS t(level smallint, idx bigint, hashes text) ${guard}
    ON CONFLICT (stream_id, level, idx) DO UPDATE SET hashes = excluded.hashes`;
}

export function toRecord(row: typeof streamEvents.$inferSelect): EventRecord {
  return {
    streamId: row.streamId,
    seqNo: row.seqNo,
    sourceRef: row.sourceRef,
    eventType: row.eventType,
    occurredAt: row.occurredAt,
    receivedAt: row.receivedAt,
    payload: row.payload as JsonObject,
    payloadSha256: row.payloadSha256,
    leafHash: row.leafHash,
  };
}
