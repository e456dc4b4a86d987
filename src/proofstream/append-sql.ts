import { sql } from "drizzle-orm";
import type { NewEventRow } from "./batch-plan.js";
import type { TileAppend } from "./merkle/right-edge.js";

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
 * A stored tile shorter than the hashes kept yields NULL, which the NOT NULL
 * column refuses: the statement fails instead of writing a wrong tile.
 */
export function tilesUpsert(writes: ReadonlyArray<TileAppend & { streamId: string }>, guard = sql``) {
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
