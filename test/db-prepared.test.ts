import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import postgres from "postgres";
import { openDatabase, type Database } from "../src/db/db.js";
import { preparing } from "../src/db/prepared.js";
import { tenants } from "../src/tenancy/schema.js";

/** The statements prepared on the session that runs this (a parameterless query: simple protocol, never itself prepared). */
const PREPARED = sql`SELECT statement FROM pg_prepared_statements`;

describe("prepared statements on postgres.js", () => {
  let database: Database;
  beforeAll(async () => {
    // One connection: the check below runs on the session the query ran on.
    database = openDatabase({ url: inject("databaseUrl"), poolSize: 1 });
    await database.migrate();
  });
  afterAll(() => database.close());

  it("prepares Drizzle's builder queries, so a repeat is one Bind/Execute and no describe", async () => {
    const id = `ten_${randomBytes(8).toString("hex")}`;
    const first = await database.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id));
    expect(first).toEqual([]);
    const statements = (await database.db.execute<{ statement: string }>(PREPARED)).map((r) => r.statement);
    expect(statements.some((s) => s.includes('from "tenants"') && s.includes("$1"))).toBe(true);
  });

  it("prepares db.execute with parameters, and queries inside a transaction", async () => {
    const marker = `m${randomBytes(6).toString("hex")}`;
    await database.db.execute(sql`SELECT ${marker}::text AS ${sql.raw(marker)}`);
    const inTx = await database.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT ${1}::int AS ${sql.raw(`${marker}_tx`)}`);
      return (await tx.execute<{ statement: string }>(PREPARED)).map((r) => r.statement);
    });
    expect(inTx.some((s) => s.includes(`AS ${marker}`) && !s.includes("_tx"))).toBe(true);
    expect(inTx.some((s) => s.includes(`AS ${marker}_tx`))).toBe(true);
  });

  it("prepares on reserved connections and in savepoints", async () => {
    const client = preparing(postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} }));
    try {
      const reserved = await client.reserve();
      await reserved.unsafe("SELECT $1::int AS reserved_probe", [1]);
      const onReserved = await reserved.unsafe<Array<{ statement: string }>>("SELECT statement FROM pg_prepared_statements");
      reserved.release();
      expect(onReserved.some((r) => r.statement.includes("reserved_probe"))).toBe(true);
      const inSavepoint = await client.begin((tx) =>
        tx.savepoint(async (sp) => {
          await sp.unsafe("SELECT $1::int AS savepoint_probe", [1]);
          return sp.unsafe<Array<{ statement: string }>>("SELECT statement FROM pg_prepared_statements");
        }),
      );
      expect(inSavepoint.some((r) => r.statement.includes("savepoint_probe"))).toBe(true);
    } finally {
      await client.end({ timeout: 5 });
    }
  });

  it("keeps answering after a schema change under a prepared statement (the plan is dropped and the query runs again)", async () => {
    const table = `prep_${randomBytes(6).toString("hex")}`;
    const admin = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
      await admin.unsafe(`INSERT INTO ${table} VALUES (1)`);
      const read = () => database.db.execute<Record<string, unknown>>(sql`SELECT * FROM ${sql.identifier(table)} WHERE id = ${1}`);
      expect(await read()).toEqual([{ id: 1 }]);
      await admin.unsafe(`ALTER TABLE ${table} ADD COLUMN note text NOT NULL DEFAULT 'x'`);
      expect(await read()).toEqual([{ id: 1, note: "x" }]);
    } finally {
      await admin.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await admin.end({ timeout: 5 });
    }
  });
});
