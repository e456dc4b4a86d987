import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { LRUCache } from "lru-cache";
import { normalizeDbError, sqlState } from "../db/errors.js";
import { checkStorableJson, checkStorableText, checkStorableTime } from "../db/storable.js";
import { streamEvents, streams } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { groupByStream, planBatch, type NewEventRow } from "./batch-plan.js";
import { toRecord, type AppendInput, type AppendResult } from "./event-record.js";
import { leafAround, payloadSha256 } from "./leaf.js";
import { appendToEdge, type TileAppend } from "./merkle/right-edge.js";
import { WarmStreams, type StreamState, type WarmStreamStats } from "./warm-streams.js";

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

/** A group whose events are stored with their seq_no: its answers, once the tree covers `upTo`. */
interface SequencedGroup {
  group: Group;
  results: Array<AppendResult | AppError>;
  /** The highest seq_no an answer names (0: none). */
  upTo: number;
}

/** How long a stream that another process appended to takes the sequencing path before trying the one-statement path again. */
const CONTENDED_MS = 1_000;
/** An edge this far behind the tree is rebuilt from the tiles rather than caught up from leaf hashes. */
const CATCH_UP_MAX = 4_096;
/** Integration rounds an append waits through before it answers UNAVAILABLE (its events stay sequenced: a retry replays them). */
const MAX_INTEGRATION_ROUNDS = 32;

/**
 * Appends events with group commit across streams: while one commit runs,
 * the appends of every stream gather, and the next commit takes them all in
 * one statement. Gapless sequence numbers come from the stream row.
 *
 * Two paths, chosen per stream:
 *
 * - **One statement** (a stream this process alone appends to): the
 *   stream's size advances by compare-and-swap, and the events and the
 *   tiles' new hashes are inserted with it, for any number of streams.
 * - **Sequence, then integrate** (a stream other processes append to too:
 *   its compare-and-swap failed within the last second). The sequencing
 *   statement takes the next seq_nos from the stream row whatever its
 *   size, so it never fails for contention: it waits for the row only as
 *   long as another sequencing statement runs, and stores the events with
 *   their leaves and leaf hashes built by PostgreSQL around the seq_no it
 *   assigned. Then this process integrates: it hashes every sequenced
 *   event beyond the tree (its own and the other processes') into the
 *   right edge and writes the tiles and the new tree size by
 *   compare-and-swap. Integrators that race compute the same tiles from
 *   the same leaf hashes, one of them writes, and whoever lost finds its
 *   events covered or integrates what is left. So processes that share a
 *   stream take turns for one short statement, not for a locked
 *   transaction, and each integration takes everything that was sequenced
 *   meanwhile, whoever sequenced it.
 *
 * An append resolves once its event is in the tree (tiles written, the
 * tree size covers it), so a checkpoint signed after the answer covers it.
 * Its seq_no is final earlier, when the sequencing statement commits;
 * a process killed between the two leaves events sequenced and not yet
 * integrated, which the next append to the stream, a replay of them or
 * the periodic checkpoint job (`integratePending`) integrates.
 *
 * What a commit needs of a stream (owner, size, the right edge of its
 * tree) is kept in a warm set bounded by bytes; a stream missing from it is
 * read as its append arrives, with every other stream missing at that
 * moment, in one statement that overlaps the commit in progress. Replays
 * take the locked path (the row FOR UPDATE, stored source_refs looked up).
 * A result is returned only after its transaction committed; one stream's
 * conflict or one bad member fails nobody else.
 */
export class Appender {
  #pending: Pending[] = [];
  #running = false;
  readonly #warm: WarmStreams;
  readonly #maxBatch: number;
  /** Streams another process appended to lately: they take the sequencing path. */
  readonly #contended = new LRUCache<string, true>({ max: 100_000, ttl: CONTENDED_MS });

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

  /**
   * Integrates events that were sequenced but are not in the tree yet: those
   * a process killed between sequencing and integrating left behind. The
   * periodic checkpoint job calls this before it signs. Returns the streams done.
   */
  async integratePending(limit = 1000): Promise<number> {
    const rows = await this.db.execute<{ id: string; up_to: string | number }>(sql`SELECT id, tree_size + unintegrated AS up_to FROM streams WHERE unintegrated > 0 ORDER BY id LIMIT ${limit}`);
    if (rows.length === 0) return 0;
    await this.#integrate(new Map(rows.map((r) => [r.id, Number(r.up_to)])));
    return rows.length;
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
    let sequencing: Group[] = [];
    let locked: Group[] = [];
    for (const [streamId, all] of groups) {
      const before = states.get(streamId);
      if (before === null) {
        for (const p of all) p.reject(notFound("stream"));
        continue;
      }
      // Unread (the read failed): the locked path finds out why, stream by stream.
      if (!before) {
        locked.push({ streamId, members: all });
        continue;
      }
      // The owner never changes: another tenant's append is refused here, whatever the path.
      const members = all.filter((p) => p.input.tenantId === before.tenantId || (p.reject(notFound("stream")), false));
      if (members.length === 0) continue;
      const group = { streamId, members };
      // A source_ref twice in one batch is a replay within it: the locked path plans it.
      if (new Set(members.map((p) => p.input.sourceRef)).size !== members.length) locked.push(group);
      else if (this.#contended.has(streamId)) sequencing.push(group);
      else optimistic.push({ ...group, before });
    }
    if (optimistic.length > 0) {
      try {
        const { done, moved, replayed } = await this.#commitOptimistic(optimistic);
        for (const { group, results } of done) settle(group.members, results);
        for (const { streamId } of moved) this.#contended.set(streamId, true);
        sequencing = [...sequencing, ...moved];
        locked = [...locked, ...replayed];
      } catch (err) {
        if (this.#failedForOutage(err, [...optimistic, ...sequencing, ...locked])) return;
        // The statement changed nothing; each stream alone finds out whose member it was.
        locked = [...locked, ...optimistic];
      }
    }
    const sequenced: SequencedGroup[] = [];
    if (sequencing.length > 0) {
      try {
        const { done, replayed } = await this.#sequence(sequencing);
        sequenced.push(...done);
        locked = [...locked, ...replayed];
      } catch (err) {
        if (this.#failedForOutage(err, [...sequencing, ...locked])) return;
        // A replay another process stored meanwhile (a unique violation), or a bad member: stream by stream.
        locked = [...locked, ...sequencing];
      }
    }
    await Promise.all(locked.map(async (group) => sequenced.push(...(await this.#sequenceStream(group)))));
    await this.#integrateAndSettle(sequenced);
  }

  /** An outage fails every member at once (true); anything else is for the caller to retry in smaller parts. */
  #failedForOutage(err: unknown, groups: readonly Group[]): boolean {
    const error = normalizeDbError(err);
    // Writers in other processes may lock an overlapping set of stream rows
    // in another order; alone, each stream locks one row and cannot deadlock.
    const state = sqlState(err);
    if (error.code !== "unavailable" || state === "40P01" || state === "40001") return false;
    for (const { streamId, members } of groups) {
      for (const p of members) p.reject(error);
      this.#warm.delete(streamId);
    }
    return true;
  }

  /** Answers sequenced groups once the tree covers them. */
  async #integrateAndSettle(sequenced: readonly SequencedGroup[]): Promise<void> {
    const targets = new Map<string, number>();
    for (const { group, upTo } of sequenced) if (upTo > 0) targets.set(group.streamId, Math.max(upTo, targets.get(group.streamId) ?? 0));
    try {
      if (targets.size > 0) await this.#integrate(targets);
    } catch (err) {
      const error = normalizeDbError(err);
      for (const { group } of sequenced) this.#warm.delete(group.streamId);
      // Only answers that wait for the tree fail: a refusal stands as it is.
      for (const { group, results } of sequenced)
        settle(
          group.members,
          results.map((r) => (r instanceof Error ? r : error)),
        );
      return;
    }
    for (const { group, results } of sequenced) settle(group.members, results);
  }

  /** One stream's members alone, sequenced under its row lock; after a failure, each member alone, so only a bad one fails. */
  async #sequenceStream({ streamId, members }: Group): Promise<SequencedGroup[]> {
    try {
      return [await this.#sequenceLocked({ streamId, members })];
    } catch (err) {
      this.#warm.delete(streamId);
      const error = normalizeDbError(err);
      // An outage or a conflict fails every member alike.
      if (members.length === 1 || error.code === "unavailable") {
        for (const p of members) p.reject(error);
        return [];
      }
      const out: SequencedGroup[] = [];
      for (const p of members) {
        try {
          out.push(await this.#sequenceLocked({ streamId, members: [p] }));
        } catch (single) {
          p.reject(normalizeDbError(single));
        }
      }
      return out;
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

  /**
   * The common case in one statement and one round trip, for any number of
   * streams whose state this process knows (written here last, or read
   * before the commit) and that hold no sequenced events beyond the tree.
   * Each stream's size is advanced by compare-and-swap, and only when none
   * of its new source_refs is stored already; the inserts take the events
   * and tiles of the streams that swapped. The others come back as moved
   * (another writer in between) or replayed (a source_ref is stored).
   */
  async #commitOptimistic(
    groups: ReadonlyArray<Group & { before: StreamState }>,
  ): Promise<{ done: Array<{ group: Group; results: Array<AppendResult | AppError> }>; moved: Group[]; replayed: Group[] }> {
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
    if (planned.length === 0) return { done, moved: [], replayed: [] };
    // Rows locked in stream id order, as another process's statement would lock them.
    planned.sort((a, b) => byStreamId(a.group, b.group));
    const heads = JSON.stringify(planned.map((p) => ({ id: p.group.streamId, before: p.before.edge.size, after: p.plan.size, refs: p.plan.rows.map((r) => r.sourceRef) })));
    const outcome = new Map(
      (
        await this.db.execute<{ id: string; swapped: boolean }>(sql`
        WITH want AS (
          SELECT * FROM jsonb_to_recordset(${heads}::jsonb) AS w(id text, before bigint, after bigint, refs jsonb)
        ), replayed AS (
          SELECT w.id FROM want w WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.refs) AS ref(v) JOIN events e ON e.stream_id = w.id AND e.source_ref = ref.v)
        ), head AS (
          UPDATE streams s SET tree_size = w.after FROM want w
          WHERE s.id = w.id AND s.tree_size = w.before AND s.unintegrated = 0 AND w.id NOT IN (SELECT id FROM replayed)
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
        SELECT id, true AS swapped FROM head UNION ALL SELECT id, false AS swapped FROM replayed`)
      ).map((r) => [r.id, r.swapped]),
    );
    const moved: Group[] = [];
    const replayed: Group[] = [];
    for (const { group, plan, after } of planned) {
      const swapped = outcome.get(group.streamId);
      if (swapped) {
        this.#warm.set(group.streamId, after);
        done.push({ group, results: plan.results });
      } else if (swapped === false) {
        replayed.push(group);
      } else {
        moved.push(group);
      }
    }
    return { done, moved, replayed };
  }

  /**
   * Sequencing for streams other processes append to, in one statement for
   * any number of streams: each stream row gives the next seq_nos whatever
   * its size (a concurrent statement makes this one wait for the row, not
   * fail), and the events are inserted with leaves PostgreSQL builds around
   * the seq_no it assigned (`leafAround`) and their leaf hashes
   * (SHA-256 of 0x00 and the leaf, RFC 9162). A stream with a stored
   * source_ref among its new ones is left alone and comes back as replayed.
   */
  async #sequence(groups: readonly Group[]): Promise<{ done: SequencedGroup[]; replayed: Group[] }> {
    const sorted = [...groups].sort(byStreamId);
    const receivedAt = new Date();
    const heads = JSON.stringify(sorted.map((g) => ({ id: g.streamId, n: g.members.length, refs: g.members.map((p) => p.input.sourceRef) })));
    const rows = JSON.stringify(
      sorted.flatMap((g) =>
        g.members.map((p, i) => {
          const { before, after } = leafAround({ ...p.input, receivedAt });
          return {
            stream_id: g.streamId,
            ord: i + 1,
            source_ref: p.input.sourceRef,
            event_type: p.input.eventType,
            occurred_at: p.input.occurredAt.toISOString(),
            received_at: receivedAt.toISOString(),
            payload: p.input.payload,
            payload_sha256: p.input.payloadSha256,
            before,
            after,
          };
        }),
      ),
    );
    const stored = await this.db.execute<{ stream_id: string; seq_no: string | number; leaf_hash: Buffer }>(sql`
      WITH want AS (
        SELECT * FROM jsonb_to_recordset(${heads}::jsonb) AS w(id text, n bigint, refs jsonb)
      ), head AS (
        UPDATE streams s SET unintegrated = s.unintegrated + w.n FROM want w
        WHERE s.id = w.id
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.refs) AS ref(v) JOIN events e ON e.stream_id = w.id AND e.source_ref = ref.v)
        RETURNING s.id, s.tree_size + s.unintegrated - w.n AS base
      ), new_events AS (
        INSERT INTO events (stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, leaf, leaf_hash)
        SELECT r.stream_id, h.base + r.ord, r.source_ref, r.event_type, r.occurred_at, r.received_at, r.payload, r.payload_sha256, l.leaf, sha256(decode('00', 'hex') || l.leaf)
        FROM jsonb_to_recordset(${rows}::jsonb) AS r(stream_id text, ord bigint, source_ref text, event_type text, occurred_at timestamptz,
          received_at timestamptz, payload jsonb, payload_sha256 text, before text, after text)
        JOIN head h ON h.id = r.stream_id
        CROSS JOIN LATERAL (SELECT convert_to(r.before || (h.base + r.ord)::text || r.after, 'UTF8') AS leaf) l
        RETURNING stream_id, seq_no, leaf_hash
      )
      SELECT stream_id, seq_no, leaf_hash FROM new_events`);
    const byStream = new Map<string, Array<{ seqNo: number; leafHash: Buffer }>>();
    for (const row of stored) {
      let list = byStream.get(row.stream_id);
      if (!list) byStream.set(row.stream_id, (list = []));
      list.push({ seqNo: Number(row.seq_no), leafHash: row.leaf_hash });
    }
    const done: SequencedGroup[] = [];
    const replayed: Group[] = [];
    for (const group of sorted) {
      const events = byStream.get(group.streamId)?.sort((a, b) => a.seqNo - b.seqNo);
      if (!events) {
        replayed.push(group);
        continue;
      }
      if (events.length !== group.members.length) throw new AppError("internal", `stream ${group.streamId}: ${events.length} of ${group.members.length} events sequenced`);
      const results = group.members.map((p, i): AppendResult => {
        const { input } = p;
        const { seqNo, leafHash } = events[i]!;
        return {
          event: {
            streamId: group.streamId,
            seqNo,
            sourceRef: input.sourceRef,
            eventType: input.eventType,
            occurredAt: input.occurredAt,
            receivedAt,
            payload: input.payload,
            payloadSha256: input.payloadSha256,
            leafHash,
          },
          duplicate: false,
        };
      });
      done.push({ group, results, upTo: events[events.length - 1]!.seqNo });
    }
    return { done, replayed };
  }

  /** The general path: lock the stream row, look up replays, and sequence after everything stored (the tree is integrated afterwards). */
  async #sequenceLocked({ streamId, members }: Group): Promise<SequencedGroup> {
    const results = await this.db.transaction(async (tx) => {
      const refs = [...new Set(members.map((p) => p.input.sourceRef))];
      // Sent together (postgres.js pipelines them); the server runs them in
      // order, so the lookup sees everything committed before the lock was granted.
      const [[head], stored] = await Promise.all([
        tx.select({ tenantId: streams.tenantId, treeSize: streams.treeSize, unintegrated: streams.unintegrated }).from(streams).where(eq(streams.id, streamId)).for("update"),
        tx
          .select()
          .from(streamEvents)
          .where(and(eq(streamEvents.streamId, streamId), sql`${streamEvents.sourceRef} IN (SELECT jsonb_array_elements_text(${JSON.stringify(refs)}::jsonb))`)),
      ]);
      if (!head) return members.map(() => notFound("stream"));
      const plan = planBatch(
        streamId,
        members.map((p) => p.input),
        { tenantId: head.tenantId, treeSize: head.treeSize + head.unintegrated },
        new Map(stored.map((row) => [row.sourceRef, toRecord(row)])),
      );
      if (plan.rows.length > 0) {
        await Promise.all([
          tx.execute(eventsInsert(plan.rows)),
          tx
            .update(streams)
            .set({ unintegrated: sql`${streams.unintegrated} + ${plan.rows.length}` })
            .where(eq(streams.id, streamId)),
        ]);
      }
      return plan.results;
    });
    const upTo = Math.max(0, ...results.map((r) => (r instanceof Error ? 0 : r.event.seqNo)));
    return { group: { streamId, members }, results, upTo };
  }

  /**
   * Brings each stream's tree up to at least the given size: reads the
   * leaf hashes of every event sequenced beyond this process's edge of the
   * stream, hashes those beyond the tree into the edge, and writes the
   * tiles' new hashes and the tree size in one statement for all streams,
   * by compare-and-swap on the tree size. A stream another integrator moved
   * meanwhile is read again: its tree covers our events by then, or the
   * next round integrates what is left.
   */
  async #integrate(targets: ReadonlyMap<string, number>): Promise<void> {
    const want = new Map(targets);
    for (let round = 0; want.size > 0; round++) {
      if (round >= MAX_INTEGRATION_ROUNDS) throw new AppError("unavailable", "the stream is busy: try again (the append is stored, a retry returns it)", { retryAfterSeconds: 1 });
      const states = await this.#warm.states([...want.keys()]);
      const since = [...want.keys()].map((id) => ({ id, since: states.get(id)?.edge.size ?? -1 }));
      for (const { id, since: at } of since) if (at < 0) throw new AppError("internal", `stream ${id}: its state could not be read`);
      const rows = await this.db.execute<{ id: string; tree_size: string | number; unintegrated: string | number; seq_no: string | number | null; leaf_hash: Buffer | null }>(sql`
        SELECT s.id, s.tree_size, s.unintegrated, e.seq_no, e.leaf_hash
        FROM jsonb_to_recordset(${JSON.stringify(since)}::jsonb) AS w(id text, since bigint)
        JOIN streams s ON s.id = w.id
        LEFT JOIN events e ON e.stream_id = s.id AND e.seq_no > GREATEST(w.since, s.tree_size - ${CATCH_UP_MAX}) AND e.seq_no <= s.tree_size + s.unintegrated
        ORDER BY s.id, e.seq_no`);
      const read = new Map<string, { tree: number; pending: number; hashes: Buffer[]; first: number }>();
      for (const row of rows) {
        let stream = read.get(row.id);
        if (!stream) read.set(row.id, (stream = { tree: Number(row.tree_size), pending: Number(row.unintegrated), hashes: [], first: row.seq_no === null ? 0 : Number(row.seq_no) }));
        if (row.leaf_hash) stream.hashes.push(row.leaf_hash);
      }
      const writes: Array<{ id: string; before: number; after: StreamState; tiles: TileAppend[] }> = [];
      for (const [id, upTo] of want) {
        const state = states.get(id)!;
        const stream = read.get(id);
        if (!stream) throw notFound("stream");
        const { tree, pending, hashes } = stream;
        const edge = state.edge;
        if (tree + pending < upTo) throw new AppError("internal", `stream ${id}: event ${upTo} was sequenced but the stream holds ${tree + pending}`);
        if (edge.size < tree - CATCH_UP_MAX) {
          // Far behind: the next round reads the edge from the tiles.
          this.#warm.delete(id);
          continue;
        }
        if (hashes.length !== tree + pending - edge.size || (hashes.length > 0 && stream.first !== edge.size + 1)) {
          throw new AppError("internal", `stream ${id}: read ${hashes.length} leaf hashes from ${stream.first} for a tree of ${tree} + ${pending} after ${edge.size}`);
        }
        // Another integrator moved the tree since this process's edge: catch up without writing.
        const caught = tree > edge.size ? appendToEdge(edge, hashes.slice(0, tree - edge.size)).edge : edge;
        if (tree > edge.size) this.#contended.set(id, true);
        if (pending === 0) {
          this.#warm.set(id, { tenantId: state.tenantId, edge: caught });
          want.delete(id);
          continue;
        }
        const { edge: next, writes: tiles } = appendToEdge(caught, hashes.slice(tree - edge.size));
        writes.push({ id, before: tree, after: { tenantId: state.tenantId, edge: next }, tiles });
        // Until the write says otherwise, what the tree is known to hold.
        this.#warm.set(id, { tenantId: state.tenantId, edge: caught });
      }
      if (writes.length === 0) continue;
      const heads = JSON.stringify(writes.map((w) => ({ id: w.id, before: w.before, after: w.after.edge.size })));
      const swapped = new Set(
        (
          await this.db.execute<{ id: string }>(sql`
          WITH want AS (
            SELECT * FROM jsonb_to_recordset(${heads}::jsonb) AS w(id text, before bigint, after bigint)
          ), head AS (
            UPDATE streams s SET tree_size = w.after, unintegrated = s.unintegrated - (w.after - w.before) FROM want w
            WHERE s.id = w.id AND s.tree_size = w.before
            RETURNING s.id
          ), new_tiles AS (
            ${tilesUpsert(
              writes.flatMap((w) => w.tiles.map((t) => ({ ...t, streamId: w.id }))),
              sql`WHERE w.stream_id IN (SELECT id FROM head)`,
            )}
          )
          SELECT id FROM head`)
        ).map((r) => r.id),
      );
      for (const w of writes) {
        if (!swapped.has(w.id)) continue;
        this.#warm.set(w.id, w.after);
        if (w.after.edge.size >= want.get(w.id)!) want.delete(w.id);
      }
    }
  }
}

const byStreamId = (a: Group, b: Group) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0);

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
