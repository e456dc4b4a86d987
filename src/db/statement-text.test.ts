import { describe, expect, it } from "vitest";
import { describeStatement, MAX_QUERY_TEXT, statementErrorType } from "./statement-text.js";

describe("describeStatement", () => {
  it.each([
    ['select "id", "name" from "streams" where "streams"."id" = $1 limit $2', "SELECT", "streams"],
    ['insert into "checkpoints" ("stream_id", "tree_size") values ($1, $2) returning "stream_id"', "INSERT", "checkpoints"],
    ['update "streams" set "checkpoint_size" = $1 where ("streams"."id" = $2)', "UPDATE", "streams"],
    ["UPDATE ONLY webhook_deliveries SET status = $1", "UPDATE", "webhook_deliveries"],
    ['delete from "request_ids" where "expires_at" < now()', "DELETE", "request_ids"],
    ["  -- a comment first\n  /* and another */ SELECT 1", "SELECT", undefined],
    ["SELECT pg_advisory_xact_lock(hashtext($1))", "SELECT", undefined],
    ["begin isolation level serializable", "BEGIN", undefined],
    ["commit", "COMMIT", undefined],
    ['select * from "public"."events" e', "SELECT", "public.events"],
    ["(SELECT a FROM t1) UNION ALL (SELECT a FROM t2)", "SELECT", undefined],
    ["SELECT a FROM t1 UNION ALL SELECT a FROM t1 WHERE b", "SELECT", "t1"],
    ["SELECT s.id FROM streams s JOIN tiles t ON t.stream_id = s.id", "SELECT", undefined],
    ["SELECT * FROM jsonb_to_recordset($1::jsonb) AS w(id text)", "SELECT", undefined],
    ["SELECT substring(t.hashes FROM 1 FOR 2) FROM tiles t FOR UPDATE OF t", "SELECT", "tiles"],
    ["INSERT INTO tiles (a) SELECT a FROM jsonb_to_recordset($1) AS w(a int) ON CONFLICT (a) DO UPDATE SET a = excluded.a", "INSERT", "tiles"],
    ["", "", undefined],
  ])("%j → %s %s", (text, operation, collection) => {
    expect(describeStatement(text)).toMatchObject({ operation, collection, text });
  });

  it("names the statement a WITH feeds, and not a CTE as its table", () => {
    const picked = "WITH picked AS (SELECT id FROM webhook_deliveries WHERE status = 'pending' LIMIT $1) UPDATE webhook_deliveries d SET enqueued_at = now() FROM picked";
    expect(describeStatement(picked)).toMatchObject({ operation: "UPDATE", collection: "webhook_deliveries" });
    const fromCte = "WITH want AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS w(id text)), head AS (UPDATE streams s SET tree_size = 1 FROM want w RETURNING s.id) SELECT id FROM head";
    expect(describeStatement(fromCte)).toMatchObject({ operation: "SELECT", collection: undefined });
  });

  it("names no table when a subquery reads another", () => {
    expect(describeStatement("SELECT (SELECT count(*) FROM b) AS n, a.id FROM a WHERE a.id = $1").collection).toBeUndefined();
    expect(describeStatement("SELECT coalesce((SELECT max(n) FROM a), 0) FROM a").collection).toBe("a");
  });

  it("skips literals, whatever they hold", () => {
    expect(describeStatement("SELECT 'it''s from x' AS q FROM y").collection).toBe("y");
  });

  it("caps a long text", () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(", ");
    const { text, operation, collection } = describeStatement(`insert into "events" ("a", "b") values ${rows}`);
    expect([operation, collection]).toEqual(["INSERT", "events"]);
    expect(text).toHaveLength(MAX_QUERY_TEXT);
    expect(text.endsWith("…")).toBe(true);
  });
});

describe("statementErrorType", () => {
  const postgresError = (code: string, message: string) => Object.assign(new Error(message), { name: "PostgresError", code });

  it("is the SQLSTATE of a PostgreSQL error, never its message", () => {
    expect(statementErrorType(postgresError("22P02", 'invalid input syntax for type uuid: "secret-value"'))).toEqual({ type: "22P02", sqlstate: "22P02" });
  });

  it("is the driver's code, else the class name", () => {
    expect(statementErrorType(Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), { code: "CONNECTION_CLOSED" }))).toEqual({ type: "CONNECTION_CLOSED", sqlstate: undefined });
    expect(statementErrorType(new TypeError("x is not a function"))).toEqual({ type: "TypeError", sqlstate: undefined });
    expect(statementErrorType(Object.assign(new Error("m"), { code: "lower case: not a code" }))).toEqual({ type: "Error", sqlstate: undefined });
    expect(statementErrorType("a string")).toEqual({ type: "Error", sqlstate: undefined });
  });
});
