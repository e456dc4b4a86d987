import { sql, type SQL } from "drizzle-orm";
import { TILE_BYTES, TILE_WIDTH } from "./merkle/tiles.js";

/**
 * A stored tile row (alias `t`) a reader may take: any above level 0, and at
 * level 0 only a complete one (an incomplete level-0 row an earlier version
 * wrote is never read: that tile comes from the events).
 */
export const readableTile = sql.raw(`(t.level > 0 OR length(t.hashes) = ${TILE_BYTES})`);

/**
 * The leaf hashes of level-0 tile `index`, its first `count` (SQL values), as
 * stored with the events, in order: one range of the primary key. The inner
 * ORDER BY … LIMIT is what makes it that range in the generic plan of a
 * never analyzed `events`, which otherwise scanned the stream's every event
 * through events_source_ref (test/proofstream-plans).
 */
export function levelZeroHashes(streamId: SQL, index: SQL, count: SQL): SQL {
  const first = sql`${index} * ${sql.raw(String(TILE_WIDTH))}`;
  return sql`(SELECT string_agg(l.leaf_hash, ''::bytea ORDER BY l.seq_no) FROM (
        SELECT e.seq_no, e.leaf_hash FROM events e WHERE e.stream_id = ${streamId} AND e.seq_no > ${first} AND e.seq_no <= ${first} + ${count}
        ORDER BY e.seq_no LIMIT ${sql.raw(String(TILE_WIDTH))}) l)`;
}
