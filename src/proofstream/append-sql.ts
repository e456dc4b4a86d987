import { sql, type SQL } from "drizzle-orm";
import type { NewEventRow } from "./batch-plan.js";
import type { TileAppend } from "./merkle/right-edge.js";
import type { CommitCheckpoint } from "./batch-checkpoints.js";
import { TILE_BYTES } from "./merkle/tiles.js";
import { HASH_SIZE } from "../verify/merkle.js";
import { levelZeroHashes } from "./level-zero-sql.js";

/**
 * A row of the one-statement commit's answer: a stream that swapped (true),
 * one with a replayed source_ref (false), or one whose quiet checkpoint was
 * refused because its events have recipients now (null).
 */
export interface OptimisticOutcome extends Record<string, unknown> {
  id: string;
  swapped: boolean | null;
  /** Webhook deliveries the statement wrote for the checkpoints it stored (the same on every row). */
  deliveries: string | number;
  /** For a stream whose commit signed: whether its checkpoints have webhook recipients (absent when nothing was signed). */
  heard?: boolean;
}

/**
 * The appender's one statement for streams whose state it knows: each
 * stream's size advances by compare-and-swap, only when none of its new
 * source_refs is stored already; the events and tiles of the streams that
 * swapped are inserted, and their checkpoints when the commit signed one
 * (checkpoint_size moves with the size, in the same row update, and only
 * while the keys that signed are the stream's generation).
 *
 * A signed checkpoint's webhook deliveries are written by the same
 * statement, except for a `quiet` stream (no recipient at its last signing
 * commit): its deliveries are left out, which spares the statement the
 * delivery insert (most of what signing adds to a commit in PostgreSQL when
 * no one subscribes), and its change is refused if it has a recipient now,
 * in the statement's own snapshot, so nothing that would have been
 * delivered goes unwritten. Every signing stream reports whether it has
 * recipients.
 */
export function optimisticCommit(
  streams: ReadonlyArray<{ streamId: string; tenantId: string; before: number; rows: readonly NewEventRow[]; writes: readonly TileAppend[]; checkpoint?: CommitCheckpoint; quiet?: boolean }>,
  /** The deliveries of the checkpoints of streams that are not quiet (a CTE body guarded by the `head` CTE), when the commit signs any. */
  checkpointEvents?: (guard: SQL) => SQL,
  /** SQL true when a stream's checkpoints have recipients (tenant and stream id as SQL), when the commit signs any. */
  recipients?: (tenantId: SQL, streamId: SQL) => SQL,
) {
  const heads = JSON.stringify(
    streams.map((p) => ({
      id: p.streamId,
      before: p.before,
      after: p.before + p.rows.length,
      refs: p.rows.map((r) => r.sourceRef),
      sign: p.checkpoint !== undefined,
      generation: p.checkpoint?.keyGeneration ?? 0,
      tenant: p.tenantId,
      quiet: recipients !== undefined && p.checkpoint !== undefined && p.quiet === true,
    })),
  );
  const signed = streams.flatMap((p) => (p.checkpoint ? [p.checkpoint] : []));
  // Which signing streams have recipients: asked only when the commit signs (a quiet one that has is refused).
  const heard = signed.length > 0 && recipients ? sql`SELECT w.id FROM want w WHERE w.sign AND ${recipients(sql`w.tenant`, sql`w.id`)}` : undefined;
  const heardCte = heard ? sql` heard AS (${heard}),` : sql``;
  const refuseHeard = heard ? sql`AND NOT (w.quiet AND w.id IN (SELECT id FROM heard))` : sql``;
  const deliveriesCte = checkpointEvents ? sql`, new_deliveries AS (${checkpointEvents(sql`WHERE i.key IN (SELECT id FROM head)`)})` : sql``;
  const signedOutcome = sql`
    SELECT id, true AS swapped, ${checkpointEvents ? sql`(SELECT count(*) FROM new_deliveries)` : sql`0`} AS deliveries, ${heard ? sql`id IN (SELECT id FROM heard)` : sql`false`} AS heard FROM head
    ${heard ? sql`UNION ALL SELECT w.id, NULL::boolean, 0, true FROM want w WHERE w.quiet AND w.id IN (SELECT id FROM heard) AND w.id NOT IN (SELECT id FROM replayed)` : sql``}
    UNION ALL SELECT id, false AS swapped, 0, false FROM replayed`;
  return sql`
    WITH want AS (
      SELECT * FROM jsonb_to_recordset(${heads}::jsonb) AS w(id text, before bigint, after bigint, refs jsonb, sign boolean, generation int, tenant text, quiet boolean)
    ), replayed AS (
      SELECT w.id FROM want w WHERE EXISTS (${storedRefLookup(sql`w.id`, sql`w.refs`)})
    ),${heardCte} head AS (
      UPDATE streams s SET tree_size = w.after, checkpoint_size = CASE WHEN w.sign THEN w.after ELSE s.checkpoint_size END FROM want w
      WHERE s.id = w.id AND s.tree_size = w.before AND s.unintegrated = 0 AND w.id NOT IN (SELECT id FROM replayed)
        -- A checkpoint signed with the keys of a generation a rotation has since replaced is not stored: the stream comes back as moved.
        AND (NOT w.sign OR s.key_generation = w.generation)
        ${refuseHeard}
      RETURNING s.id
    ), new_events AS (
      ${eventsInsert(
        streams.flatMap((p) => p.rows),
        sql`WHERE r.stream_id IN (SELECT id FROM head)`,
      )}
    ), new_tiles AS (
      ${tilesUpsert(
        streams.flatMap((p) => p.writes.map((w) => ({ ...w, streamId: p.streamId }))),
        sql`WHERE w.stream_id IN (SELECT id FROM head)`,
      )}
    )${
      signed.length === 0
        ? sql`
    SELECT id, true AS swapped, 0 AS deliveries FROM head
    UNION ALL SELECT id, false AS swapped, 0 FROM replayed`
        : sql`, new_checkpoints AS (
      ${checkpointsInsert(signed)}
    )${deliveriesCte}${signedOutcome}`
    }`;
}

/**
 * A subquery with a row when any of `refs` (a jsonb array of source_refs) is
 * stored in the stream: one probe of the unique (stream_id, source_ref)
 * index per ref. As a plain join, the generic plan of the prepared statement
 * (made while `events` had no statistics) read every event of the stream on
 * each commit, and a one-stream append slowed from 2 to 16 ms a statement
 * over its first 10,000 events. Two things keep it a probe: the LATERAL
 * subquery with LIMIT 1, which the planner cannot flatten into a join, and
 * no other index led by stream_id that it could scan instead
 * (events_leaf_hash is led by leaf_hash; test/proofstream-plans.test.ts).
 */
export function storedRefLookup(streamId: SQL, refs: SQL): SQL {
  return sql`SELECT 1 FROM jsonb_array_elements_text(${refs}) AS ref(v)
        CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.stream_id = ${streamId} AND e.source_ref = ref.v LIMIT 1) AS stored`;
}

/** The checkpoints a commit signed, for the streams that swapped. */
function checkpointsInsert(signed: readonly CommitCheckpoint[]) {
  const json = JSON.stringify(
    signed.map((c) => ({ stream_id: c.streamId, tree_size: c.treeSize, root_hash: c.rootHash.toString("hex"), note: c.note, key_id: c.keyId, signed_at: c.signedAt.toISOString() })),
  );
  return sql`
    INSERT INTO checkpoints (stream_id, tree_size, root_hash, note, key_id, signed_at)
    SELECT c.stream_id, c.tree_size, decode(c.root_hash, 'hex'), c.note, c.key_id, c.signed_at
    FROM jsonb_to_recordset(${json}::jsonb) AS c(stream_id text, tree_size bigint, root_hash text, note text, key_id int, signed_at timestamptz)
    WHERE c.stream_id IN (SELECT id FROM head)
    RETURNING stream_id`;
}

/**
 * The batch as one INSERT with a single JSON parameter: building a statement
 * with ten parameters per row costs more CPU than the database spends
 * storing the batch.
 */
export function eventsInsert(rows: readonly NewEventRow[], guard = sql``) {
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
 *
 * Level 0 stores only complete tiles. Its incomplete tile is the leaf hashes
 * of the events after the last complete one, which the events' rows hold
 * already; storing it too rewrote up to 8 KiB per stream and commit (a new
 * row version, TOASTed, all in the WAL) for 32 bytes of news. A level-0 tile
 * is written once, as it completes, from the stored events' leaf hashes and
 * the batch's. Readers take level 0's incomplete tile from the events too
 * (TileCache, readStreamStates). Levels above gain a hash per 256 leaves and
 * keep their incomplete tiles.
 *
 * A stored tile or event range shorter than the hashes kept yields NULL,
 * which the NOT NULL column refuses: the statement fails instead of writing a
 * wrong tile.
 */
export function tilesUpsert(writes: ReadonlyArray<TileAppend & { streamId: string }>, guard = sql``) {
  const stored = writes.filter((w) => w.level > 0 || w.kept + w.added.length === TILE_BYTES);
  const json = JSON.stringify(stored.map((w) => ({ stream_id: w.streamId, level: w.level, idx: w.index, kept: w.kept, hashes: w.added.toString("hex") })));
  return sql`
    INSERT INTO tiles (stream_id, level, idx, hashes)
    SELECT w.stream_id, w.level, w.idx,
      CASE WHEN w.kept = 0 THEN decode(w.hashes, 'hex') WHEN length(k.hashes) = w.kept THEN k.hashes || decode(w.hashes, 'hex') END
    FROM jsonb_to_recordset(${json}::jsonb) AS w(stream_id text, level smallint, idx bigint, kept int, hashes text)
    LEFT JOIN tiles t ON w.kept > 0 AND w.level > 0 AND t.stream_id = w.stream_id AND t.level = w.level AND t.idx = w.idx
    CROSS JOIN LATERAL (
      SELECT CASE WHEN w.kept = 0 THEN NULL WHEN w.level = 0 THEN ${levelZeroHashes(sql`w.stream_id`, sql`w.idx`, sql`w.kept / ${sql.raw(String(HASH_SIZE))}`)} ELSE substring(t.hashes FROM 1 FOR w.kept) END AS hashes
    ) k
    ${guard}
    ON CONFLICT (stream_id, level, idx) DO UPDATE SET hashes = excluded.hashes`;
}
