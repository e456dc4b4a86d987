import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { isUniqueViolation, normalizeDbError, sqlState } from "../db/errors.js";
import { checkStorableJson, checkStorableText, checkStorableTime } from "../db/storable.js";
import { streamEvents, streams } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { groupByStream, planBatch, type NewEventRow } from "./batch-plan.js";
import { toRecord, type AppendInput, type AppendResult } from "./event-record.js";
import { payloadSha256 } from "./leaf.js";
import { appendToEdge, type TileAppend } from "./merkle/right-edge.js";
import { readStreamStates, WarmStreams, type StreamState, type WarmStreamStats } from "./warm-streams.js";

export type { AppendInput, AppendResult, EventRecord } from "./event-record.js";
export { toRecord } from "./event-record.js";

/** The warm set's default budget: some 100,000 streams of a few thousand events each. */
export const DEFAULT_WARM_STREAM_BYTES = 64 * 1024 * 1024;

interface Pending {
  input: AppendInput & { payloadSha256: string };
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/** One stream's share of a commit. */
interface Group {
  streamId: string;
  members: Pending[];
}

/**
 * Appends events with group commit across streams: while one commit runs,
 * the appends of every stream gather, and the next commit takes them all in
 * one statement (each stream's size advanced by compare-and-swap, the
 * events and tiles of every stream that swapped in one insert each). So 100
 * streams commit in batches as one stream does. Gapless sequence numbers
 * come from the stream row.
 *
 * What a commit needs of a stream (owner, size, the right edge of its
 * tree) is kept in a warm set bounded by bytes; a stream missing from it is
 * read as its append arrives, with every other stream missing at that
 * moment, in one statement that overlaps the commit in progress. So the
 * first append to a stream takes the same one-statement path as any other.
 * A stream another process moved since fails its compare-and-swap and takes
 * the locked path (its row FOR UPDATE), so appends from any number of
 * processes form one tree. A result is returned only after its transaction
 * committed; one stream's conflict or one bad member fails nobody else.
 */
export class Appender {
  #pending: Pending[] = [];
  #running = false;
  readonly #warm: WarmStreams;
  readonly #maxBatch: number;

  constructor(
    private readonly db: Db,
    opts: { maxBatch?: number; warmStreamBytes?: number } = {},
  ) {
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#warm = new WarmStreams(db, opts.warmStreamBytes ?? DEFAULT_WARM_STREAM_BYTES);
  }

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
      this.#warm.prefetch(prepared.streamId);
      this.#pending.push({ input: prepared, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  /** The warm set's size and hit rate. */
  warmStats(): WarmStreamStats {
    return this.#warm.stats();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#pending.length > 0) {
      // One commit at a time: a stream's next batch numbers after the last one's outcome.
      await this.#commitBatch(this.#pending.splice(0, this.#maxBatch));
    }
    this.#running = false;
  }

  async #commitBatch(batch: Pending[]): Promise<void> {
    const groups = groupByStream(batch);
    const states = await this.#warm.states([...groups.keys()]);
    const optimistic: Array<Group & { before: StreamState }> = [];
    let rest: Group[] = [];
    for (const [streamId, members] of groups) {
      const before = states.get(streamId);
      if (before === null) for (const p of members) p.reject(notFound("stream"));
      else if (before) optimistic.push({ streamId, members, before });
      // Unread (the read failed): the locked path finds out why, stream by stream.
      else rest.push({ streamId, members });
    }
    if (optimistic.length > 0) {
      try {
        const { done, moved } = await this.#commitOptimistic(optimistic);
        for (const { group, results } of done) settle(group.members, results);
        rest = [...moved, ...rest];
      } catch (err) {
        const error = normalizeDbError(err);
        // Writers in other processes may lock an overlapping set of stream rows
        // in another order; alone, each stream locks one row and cannot deadlock.
        const state = sqlState(err);
        if (error.code === "unavailable" && state !== "40P01" && state !== "40001") {
          for (const { members } of [...optimistic, ...rest]) for (const p of members) p.reject(error);
          for (const { streamId } of optimistic) this.#warm.delete(streamId);
          return;
        }
        // The statement changed nothing; each stream alone finds out whose member it was.
        rest = [...optimistic, ...rest];
      }
    }
    await Promise.all(rest.map((group) => this.#commitStream(group)));
  }

  /** One stream's members alone; after a failure, each member alone, so only a bad one fails. */
  async #commitStream({ streamId, members }: Group): Promise<void> {
    try {
      settle(members, await this.#commit(streamId, members));
    } catch (err) {
      this.#warm.delete(streamId);
      const error = normalizeDbError(err);
      // An outage or a conflict fails every member alike.
      if (members.length === 1 || error.code === "unavailable") {
        for (const p of members) p.reject(error);
        return;
      }
      for (const p of members) {
        try {
          settle([p], await this.#commit(streamId, [p]));
        } catch (single) {
          this.#warm.delete(streamId);
          p.reject(normalizeDbError(single));
        }
      }
    }
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

  async #commit(streamId: string, members: Pending[]): Promise<Array<AppendResult | AppError>> {
    const [before] = (await this.#warm.states([streamId])).values();
    if (before === null) return members.map(() => notFound("stream"));
    if (before) {
      try {
        const { done } = await this.#commitOptimistic([{ streamId, members, before }]);
        if (done[0]) return done[0].results;
      } catch (err) {
        // A replayed source_ref the statement's check did not see (a race): the locked path resolves it.
        if (!isUniqueViolation(err)) throw err;
        this.#warm.delete(streamId);
      }
    }
    return this.#commitLocked(streamId, members);
  }

  /**
   * The common case in one statement and one round trip, for any number of
   * streams whose state this process knows (written here last, or read
   * before the commit). Each stream's size is advanced by compare-and-swap,
   * and only when none of its new source_refs is stored already; the
   * inserts take the events and tiles of the streams that swapped. The
   * others (another writer in between, or a replay) are returned for the
   * locked path.
   */
  async #commitOptimistic(groups: ReadonlyArray<Group & { before: StreamState }>): Promise<{ done: Array<{ group: Group; results: Array<AppendResult | AppError> }>; moved: Group[] }> {
    const done: Array<{ group: Group; results: Array<AppendResult | AppError> }> = [];
    const planned: Array<{ group: Group; before: StreamState; plan: ReturnType<typeof planBatch>; after: StreamState; writes: TileAppend[] }> = [];
    for (const group of groups) {
      const { before } = group;
      const plan = planBatch(
        group.streamId,
        group.members.map((p) => p.input),
        { tenantId: before.tenantId, treeSize: before.edge.size },
        new Map(),
      );
      if (plan.rows.length === 0) {
        done.push({ group, results: plan.results });
        continue;
      }
      const { edge, writes } = appendToEdge(
        before.edge,
        plan.rows.map((r) => r.leafHash),
      );
      planned.push({ group, before, plan, after: { tenantId: before.tenantId, edge }, writes });
    }
    if (planned.length === 0) return { done, moved: [] };
    // Rows locked in stream id order, as another process's statement would lock them.
    planned.sort((a, b) => (a.group.streamId < b.group.streamId ? -1 : a.group.streamId > b.group.streamId ? 1 : 0));
    const heads = JSON.stringify(planned.map((p) => ({ id: p.group.streamId, before: p.before.edge.size, after: p.plan.size, refs: p.plan.rows.map((r) => r.sourceRef) })));
    const swapped = new Set(
      (
        await this.db.execute<{ id: string }>(sql`
        WITH want AS (
          SELECT * FROM jsonb_to_recordset(${heads}::jsonb) AS w(id text, before bigint, after bigint, refs jsonb)
        ), head AS (
          UPDATE streams s SET tree_size = w.after FROM want w
          WHERE s.id = w.id AND s.tree_size = w.before
            AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.refs) AS ref(v) JOIN events e ON e.stream_id = w.id AND e.source_ref = ref.v)
          RETURNING s.id
        ), new_events AS (
          ${eventsInsert(
            planned.flatMap((p) => p.plan.rows),
            sql`WHERE r.stream_id IN (SELECT id FROM head)`,
          )}
        ), new_tiles AS (
          ${tilesUpsert(
            planned.flatMap((p) => p.writes.map((w) => ({ ...w, streamId: p.group.streamId }))),
            sql`WHERE w.stream_id IN (SELECT id FROM head)`,
          )}
        )
        SELECT id FROM head`)
      ).map((r) => r.id),
    );
    const moved: Group[] = [];
    for (const { group, plan, after } of planned) {
      if (swapped.has(group.streamId)) {
        this.#warm.set(group.streamId, after);
        done.push({ group, results: plan.results });
      } else {
        this.#warm.delete(group.streamId);
        moved.push(group);
      }
    }
    return { done, moved };
  }

  /** The general path: lock the stream row, look up replays and read the stream's state, then write. */
  async #commitLocked(streamId: string, batch: Pending[]): Promise<Array<AppendResult | AppError>> {
    let state: StreamState | undefined;
    const outcomes = await this.db.transaction(async (tx) => {
      const refs = [...new Set(batch.map((p) => p.input.sourceRef))];
      // Sent together (postgres.js pipelines them); the server runs them in
      // order, so the lookup and the state read see everything committed before the lock was granted.
      const [[head], stored, states] = await Promise.all([
        tx.select({ tenantId: streams.tenantId, treeSize: streams.treeSize }).from(streams).where(eq(streams.id, streamId)).for("update"),
        tx
          .select()
          .from(streamEvents)
          .where(and(eq(streamEvents.streamId, streamId), sql`${streamEvents.sourceRef} IN (SELECT jsonb_array_elements_text(${JSON.stringify(refs)}::jsonb))`)),
        readStreamStates(tx, [streamId]),
      ]);
      if (!head) return batch.map(() => notFound("stream"));
      const before = states.get(streamId);
      if (!before || before.edge.size !== head.treeSize) throw new AppError("internal", `stream ${streamId} changed size under its lock`);
      const plan = planBatch(
        streamId,
        batch.map((p) => p.input),
        head,
        new Map(stored.map((row) => [row.sourceRef, toRecord(row)])),
      );
      if (plan.rows.length === 0) {
        state = before;
        return plan.results;
      }
      const { edge, writes } = appendToEdge(
        before.edge,
        plan.rows.map((r) => r.leafHash),
      );
      await Promise.all([
        tx.execute(eventsInsert(plan.rows)),
        tx.execute(tilesUpsert(writes.map((w) => ({ ...w, streamId })))),
        tx.update(streams).set({ treeSize: plan.size }).where(eq(streams.id, streamId)),
      ]);
      state = { tenantId: head.tenantId, edge };
      return plan.results;
    });
    if (state) this.#warm.set(streamId, state);
    return outcomes;
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
function eventsInsert(rows: readonly NewEventRow[], guard = sql``) {
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
      received_at timestamptz, payload jsonb, payload_sha256 text, leaf text, leaf_hash text) ${guard}`;
}

/**
 * Tile writes (of any streams) as one upsert; `guard` is an optional WHERE
 * on the rows (alias w). Only each tile's new hashes are sent: the hashes it
 * already holds are taken from the stored row, so a batch of one event per
 * stream sends 32 bytes per stream, not its whole partial tile (up to 8 KiB).
 * A stored tile shorter than the hashes kept yields NULL, which the NOT NULL
 * column refuses: the statement fails instead of writing a wrong tile.
 */
function tilesUpsert(writes: ReadonlyArray<TileAppend & { streamId: string }>, guard = sql``) {
  const json = JSON.stringify(writes.map((w) => ({ stream_id: w.streamId, level: w.level, idx: w.index, kept: w.kept, hashes: w.added.toString("hex") })));
  return sql`
    INSERT INTO tiles (stream_id, level, idx, hashes)
    SELECT w.stream_id, w.level, w.idx,
      CASE WHEN w.kept = 0 THEN decode(w.hashes, 'hex') WHEN length(t.hashes) >= w.kept THEN substring(t.hashes FROM 1 FOR w.kept) || decode(w.hashes, 'hex') END
    FROM jsonb_to_recordset(${json}::jsonb) AS w(stream_id text, level smallint, idx bigint, kept int, hashes text)
    LEFT JOIN tiles t ON w.kept > 0 AND t.stream_id = w.stream_id AND t.level = w.level AND t.idx = w.idx
    ${guard}
    ON CONFLICT (stream_id, level, idx) DO UPDATE SET hashes = excluded.hashes`;
}
