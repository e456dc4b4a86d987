import { sql } from "drizzle-orm";
import type { Database } from "../../src/db/db.js";

/**
 * The generic plan's text of a statement with the given parameters' types:
 * the plan a prepared statement keeps once PostgreSQL stops planning it per
 * call (the server's statements are all prepared).
 */
export async function genericPlan(database: Database, statement: string, types: string, args: string): Promise<string> {
  return database.db.transaction(async (tx) => {
    await tx.execute(sql.raw("SET LOCAL plan_cache_mode = force_generic_plan"));
    await tx.execute(sql.raw(`PREPARE plan_probe(${types}) AS ${statement}`));
    try {
      const rows = await tx.execute<{ "QUERY PLAN": string }>(sql.raw(`EXPLAIN EXECUTE plan_probe(${args})`));
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    } finally {
      await tx.execute(sql.raw("DEALLOCATE plan_probe"));
    }
  });
}
