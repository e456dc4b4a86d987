/**
 * The append's replay check as PostgreSQL plans it in a new database: the
 * generic plan of the prepared statement is made while `events` is empty and
 * has no statistics, and is kept until autovacuum's first ANALYZE. Such a
 * plan once read a stream's every event per commit (through an index led by
 * stream_id), so one stream's appends slowed from 2 to 16 ms a statement over
 * their first minute. Each ref must be one probe of (stream_id, source_ref).
 */
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/db/db.js";
import { storedRefLookup } from "../src/proofstream/append-sql.js";
import { levelZeroHashes } from "../src/proofstream/level-zero-sql.js";
import { genericPlan } from "./support/plans.js";
import { isolatedStore, type Store } from "./support/webhooks.js";

let store: Store;
let database: Database;

beforeAll(async () => {
  store = await isolatedStore("plans");
  database = openDatabase({ url: store.databaseUrl, poolSize: 1 });
  await database.migrate();
}, 60_000);
afterAll(async () => {
  await database?.close();
  await store?.drop();
});

describe("the replay check's plan on a new database", () => {
  it("probes events_source_ref with both the stream and the ref, never a scan of the stream", async () => {
    const [events] = await database.db.execute<{ reltuples: number }>(sql`SELECT reltuples FROM pg_class WHERE relname = 'events'`);
    expect(Number(events!.reltuples)).toBeLessThanOrEqual(0); // never analyzed: the case that went wrong
    const lookup = new PgDialect().sqlToQuery(storedRefLookup(sql.raw("$1"), sql.raw("$2::jsonb")));
    const plan = await genericPlan(database, lookup.sql, "text, jsonb", `'str_x', '["a", "b"]'`);
    expect(plan).toMatch(/Index (Only )?Scan using events_source_ref on events/);
    expect(plan).toMatch(/Index Cond: \(\(stream_id = \$1\) AND \(source_ref = ref\.v\)\)/);
    expect(plan).not.toContain("events_leaf_hash");
  });

  it("looks leaves up by hash through events_leaf_hash, leaf hash first", async () => {
    const plan = await genericPlan(database, "SELECT seq_no FROM events WHERE stream_id = $1 AND leaf_hash = $2", "text, bytea", `'str_x', '\\x00'`);
    expect(plan).toMatch(/Index Cond: \(\(leaf_hash = \$2\) AND \(stream_id = \$1\)\)/);
  });

  it("reads level 0's incomplete tile as one range of the events' primary key, bounded on both sides", async () => {
    const read = new PgDialect().sqlToQuery(sql`SELECT ${levelZeroHashes(sql.raw("$1"), sql.raw("$2::bigint"), sql.raw("$3::int"))}`);
    const plan = await genericPlan(database, read.sql, "text, bigint, int", `'str_x', 4, 200`);
    expect(plan).toMatch(/Index Scan using events_stream_id_seq_no_pk on events/);
    expect(plan).toMatch(/Index Cond: \(\(stream_id = \$1\) AND \(seq_no > \(\$2 \* 256\)\) AND \(seq_no <= \(\(\$2 \* 256\) \+ \$3\)\)\)/);
  });
});
