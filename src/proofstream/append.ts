import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { LRUCache } from "lru-cache";
import { normalizeDbError, sqlState } from "../db/errors.js";
import { checkStorableJson, checkStorableText, checkStorableTime } from "../db/storable.js";
import { streamEvents } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { groupByStream, planBatch } from "./batch-plan.js";
import type { AppendInput, AppendResult } from "./event-record.js";
import { payloadSha256 } from "./leaf.js";
import { appendToEdge, type TileAppend } from "./merkle/right-edge.js";
import { optimisticCommit, type OptimisticOutcome } from "./append-sql.js";
import { committedCheckpoint, signAtCommit, withProofs, type CheckpointsAtCommit, type CommitCheckpoint } from "./batch-checkpoints.js";
import { byStreamId, Sequencer, type Group, type Pending, type SequencedGroup } from "./sequencer.js";
import { WarmStreams, type StreamState, type WarmStreamStats } from "./warm-streams.js";
import { Integrator } from "./integrator.js";
import type { Logger } from "../logger.js";

export type { AppendInput, AppendResult, EventRecord } from "./event-record.js";
export { toRecord } from "./event-record.js";

/** The warm set's default budget: some 100,000 streams of a few thousand events each. */
export const DEFAULT_WARM_STREAM_BYTES = 64 * 1024 * 1024;

/** How long a stream that another process appended to takes the sequencing path before trying the one-statement path again. */
const CONTENDED_MS = 1_000;
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
 *   assigned. The appends answer at its commit (seq_no final, event
 *   durable). The Integrator then hashes every sequenced event beyond the
 *   tree (this process's and the others') into the right edge, in the
 *   background and paced, and writes the tiles and the tree size by
 *   compare-and-swap; integrators that race compute the same tiles from
 *   the same leaf hashes, and whoever lost finds the events covered or
 *   integrates what is left. Processes that share a stream take turns for
 *   one short statement per batch.
 *
 * Either way a checkpoint signed after the answer covers it: the
 * Checkpointer integrates a stream before it signs. Events sequenced and
 * not integrated (a run pending, or a process killed before it) are
 * integrated by the next integration of the stream in any process, by a
 * signing, or by the periodic checkpoint job (`integratePending`).
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
  readonly #sequencer: Sequencer;
  readonly #integrator: Integrator;

  readonly #checkpoints: CheckpointsAtCommit | undefined;

  constructor(
    private readonly db: Db,
    opts: { maxBatch?: number; warmStreamBytes?: number; checkpoints?: CheckpointsAtCommit; logger?: Logger; integrateEveryMs?: number } = {},
  ) {
    this.#maxBatch = opts.maxBatch ?? 512;
    this.#checkpoints = opts.checkpoints;
    this.#warm = new WarmStreams(db, opts.warmStreamBytes ?? DEFAULT_WARM_STREAM_BYTES);
    this.#sequencer = new Sequencer(db, this.#warm, this.#contended);
    this.#integrator = new Integrator(
      (targets) => this.#sequencer.integrate(targets),
      (err, streamIds) => opts.logger?.warn({ err: normalizeDbError(err), streams: streamIds.length }, "integrating sequenced events failed; retried"),
      opts.integrateEveryMs,
    );
  }

  /** Brings the stream's tree up to at least `upTo` now (what a signer does first). */
  integrate(streamId: string, upTo: number): Promise<void> {
    return this.#sequencer.integrate(new Map([[streamId, upTo]]));
  }

  /** Waits for the background integration of what this process sequenced so far. */
  integrated(): Promise<void> {
    return this.#integrator.flush();
  }

  /** Integrates what this process sequenced and stops integrating. */
  close(): Promise<void> {
    return this.#integrator.close();
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
    await this.#sequencer.integrate(new Map(rows.map((r) => [r.id, Number(r.up_to)])));
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
        const { done, moved, alone } = await this.#commitOptimistic(optimistic);
        for (const { group, results } of done) settle(group.members, results);
        for (const { streamId } of moved) this.#contended.set(streamId, true);
        sequencing = [...sequencing, ...moved];
        locked = [...locked, ...alone];
      } catch (err) {
        if (this.#failedForOutage(err, [...optimistic, ...sequencing, ...locked])) return;
        // The statement changed nothing; each stream alone finds out whose member it was.
        locked = [...locked, ...optimistic];
      }
    }
    const sequenced: SequencedGroup[] = [];
    if (sequencing.length > 0) {
      try {
        const { done, replayed } = await this.#sequencer.sequence(sequencing);
        sequenced.push(...done);
        locked = [...locked, ...replayed];
      } catch (err) {
        if (this.#failedForOutage(err, [...sequencing, ...locked])) return;
        // A replay another process stored meanwhile (a unique violation), or a bad member: stream by stream.
        locked = [...locked, ...sequencing];
      }
    }
    await Promise.all(locked.map(async (group) => sequenced.push(...(await this.#sequenceStream(group)))));
    // Final and durable: the answers go now, the tree follows in the background.
    for (const { group, results, upTo } of sequenced) {
      settle(group.members, results);
      this.#integrator.due(group.streamId, upTo);
    }
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

  /** One stream's members alone, sequenced under its row lock; after a failure, each member alone, so only a bad one fails. */
  async #sequenceStream({ streamId, members }: Group): Promise<SequencedGroup[]> {
    try {
      return [await this.#sequencer.sequenceLocked({ streamId, members })];
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
          out.push(await this.#sequencer.sequenceLocked({ streamId, members: [p] }));
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
   * (another writer in between) or to go alone (a stored source_ref).
   * When a member waits for proof or the stream's periodic checkpoint is
   * due, and the stream's signers are in memory, the tree after the batch is
   * signed before the statement and stored by it, with the checkpoint's
   * webhook deliveries unless the stream is quiet (optimisticCommit).
   */
  async #commitOptimistic(groups: ReadonlyArray<Group & { before: StreamState }>): Promise<{ done: Array<{ group: Group; results: Array<AppendResult | AppError> }>; moved: Group[]; alone: Group[] }> {
    const done: Array<{ group: Group; results: Array<AppendResult | AppError> }> = [];
    const planned: Array<{
      group: Group;
      before: StreamState;
      plan: ReturnType<typeof planBatch>;
      after: StreamState;
      writes: TileAppend[];
      checkpoint?: CommitCheckpoint;
      quiet: boolean;
    }> = [];
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
      const leafHashes = plan.rows.map((r) => r.leafHash);
      const { edge, writes } = appendToEdge(before.edge, leafHashes);
      const sign = this.#checkpoints && (group.members.some((p) => p.input.waitForProof) || this.#checkpoints.due(group.streamId));
      const signers = sign ? this.#checkpoints!.signersOf(group.streamId) : undefined;
      const checkpoint = signers ? signAtCommit({ streamId: group.streamId, tenantId: before.tenantId }, signers, before.edge, edge, plan.rows) : undefined;
      const quiet = checkpoint !== undefined && this.#checkpoints!.quiet(group.streamId);
      planned.push({ group, before, plan, after: { tenantId: before.tenantId, edge }, writes, checkpoint, quiet });
    }
    if (planned.length === 0) return { done, moved: [], alone: [] };
    // Rows locked in stream id order, as another process's statement would lock them.
    planned.sort((a, b) => byStreamId(a.group, b.group));
    const signing = planned.filter((p) => p.checkpoint);
    const announced = signing.flatMap((p) => (p.quiet ? [] : [p.checkpoint!]));
    const rows = await this.db.execute<OptimisticOutcome>(
      optimisticCommit(
        planned.map((p) => ({ streamId: p.group.streamId, tenantId: p.before.tenantId, before: p.before.edge.size, rows: p.plan.rows, writes: p.writes, checkpoint: p.checkpoint, quiet: p.quiet })),
        announced.length > 0 ? (guard) => this.#checkpoints!.eventsInStatement(announced, guard) : undefined,
        signing.length > 0 ? (tenantId, streamId) => this.#checkpoints!.recipientsInStatement(tenantId, streamId) : undefined,
      ),
    );
    const deliveries = rows.some((r) => Number(r.deliveries) > 0);
    const outcome = new Map(rows.map((r) => [r.id, r]));
    const moved: Group[] = [];
    const alone: Group[] = [];
    for (const { group, plan, after, checkpoint } of planned) {
      const row = outcome.get(group.streamId);
      if (checkpoint && row && row.swapped !== false) this.#checkpoints!.heard(group.streamId, row.heard === true);
      if (row?.swapped) {
        this.#warm.set(group.streamId, after);
        const signed = checkpoint && committedCheckpoint(checkpoint);
        const waiting = group.members.map((m) => m.input.waitForProof === true);
        if (signed) this.#checkpoints!.signed(signed, deliveries, waiting.includes(true));
        done.push({ group, results: signed ? (withProofs(plan.results, waiting, checkpoint!, signed) as Array<AppendResult | AppError>) : plan.results });
      } else if (row) {
        // A replayed source_ref, or a quiet checkpoint refused (its events have recipients now): alone, under the row lock.
        alone.push(group);
      } else {
        // The signers held may be of a generation a rotation replaced: read them again before the next commit signs.
        if (checkpoint) this.#checkpoints!.forget(group.streamId);
        moved.push(group);
      }
    }
    return { done, moved, alone };
  }
}

function settle(batch: readonly Pending[], outcomes: ReadonlyArray<AppendResult | AppError>): void {
  batch.forEach((p, i) => {
    const outcome = outcomes[i]!;
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  });
}
