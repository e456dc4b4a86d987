import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/db/db.js";
import { takeOutboxStatement } from "../src/webhooks/claim-sql.js";
import { genericPlan } from "./support/plans.js";
import { isolatedStore, type Store } from "./support/webhooks.js";

/**
 * The outbox poller runs after every producer's commit. Once the poller has
 * enqueued a delivery, its row version in the unenqueued index is dead until
 * VACUUM. A plan that reads that index as a bitmap (ANDed with the pending
 * index, then sorted) visits every such entry and its heap page on every
 * poll and never marks them dead; one that walks the primary key visits
 * every row. With the index on `enqueued_at IS NULL` alone the planner chose
 * the first in bench:webhooks (27-75 ms a poll, 171 buffers per row taken,
 * after 20,000 deliveries) and the second here.
 */
describe("the outbox poller's scan", () => {
  let store: Store;
  let database: Database;
  const tenant = "ten_outbox_scan";
  const subscription = "whs_outbox_scan";
  const insertDeliveries = (from: number, to: number, status: string) =>
    database.db.execute(sql`INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, url, body, status, next_attempt_at)
      SELECT 'dlv_' || lpad(i::text, 8, '0'), ${tenant}, ${subscription}, 'proofstream.checkpointed', 'https://receiver.example/hook', '{}', ${status},
        CASE WHEN ${status} = 'pending' THEN now() END
      FROM generate_series(${from}::int, ${to}::int) AS i`);

  beforeAll(async () => {
    store = await isolatedStore("outbox_scan");
    database = openDatabase({ url: store.databaseUrl, poolSize: 1 });
    await database.migrate();
    await database.db.execute(sql`INSERT INTO tenants (id, name) VALUES (${tenant}, 'outbox scan')`);
    await database.db.execute(
      sql`INSERT INTO webhook_subscriptions (id, tenant_id, name, url, event_types) VALUES (${subscription}, ${tenant}, 'scan', 'https://receiver.example/hook', ARRAY['proofstream.checkpointed'])`,
    );
    // A young table (no statistics yet) with a backlog of 20,000 the poller
    // enqueued (their unenqueued entries dead, not vacuumed), 500 that failed before any job was
    // added (their subscription went away), and 3 new ones.
    await insertDeliveries(1, 20_000, "pending");
    await database.db.execute(sql`UPDATE webhook_deliveries SET enqueued_at = now()`);
    await insertDeliveries(20_001, 20_500, "failed");
    await insertDeliveries(20_501, 20_503, "pending");
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    await store?.drop();
  });

  /** The statement's plan for 100 rows as the first calls get it (the limit known) and as a prepared statement keeps it. */
  const plans = async () => {
    const { sql: text } = new PgDialect().sqlToQuery(takeOutboxStatement(100));
    const custom = await database.db.execute<{ "QUERY PLAN": string }>(sql`EXPLAIN ${takeOutboxStatement(100)}`);
    return [custom.map((r) => r["QUERY PLAN"]).join("\n"), await genericPlan(database, text, "int", "100")];
  };
  const expectIndexScanInOrder = async () => {
    for (const plan of await plans()) {
      expect(plan).toMatch(/Index (Only )?Scan using webhook_deliveries_unenqueued on webhook_deliveries/);
      expect(plan).not.toMatch(/\bSort\b/);
      expect(plan).not.toContain("Bitmap");
    }
  };

  it("reads the unenqueued index alone, in id order, with no bitmap and no sort: without statistics and with", async () => {
    await expectIndexScanInOrder();
    await database.db.execute(sql`ANALYZE webhook_deliveries`);
    await expectIndexScanInOrder();
  });

  it("takes the new pending rows in id order, and neither enqueued nor failed ones", async () => {
    const taken = await database.db.execute<{ id: string }>(takeOutboxStatement(100));
    expect(taken.map((r) => r.id)).toEqual(["dlv_00020501", "dlv_00020502", "dlv_00020503"]);
    expect(await database.db.execute(takeOutboxStatement(100))).toHaveLength(0);
  });
});
