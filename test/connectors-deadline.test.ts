import { ConnectError, Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { appendRequest as appendRequestOf } from "./support/proofstream.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";

let app: Attesto;
let t: TenantWithStream;

beforeAll(async () => {
  // A short deadline; the pool has room for the test's lock holder and the appends behind it.
  app = await startConnectorServer({ requestDeadlineMs: 1_500 });
  t = await tenantWithStream(app);
});
afterAll(async () => {
  await app?.stop();
});

const treeSize = async () => (await t.ps.getStream({ streamId: t.streamId })).stream!.treeSize;

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("appends past the request deadline", () => {
  it("answer 503 DEADLINE_EXCEEDED saying they may have committed; they do, and a retry with the same source_ref finds them", async () => {
    const c = await signedWebhookConnector(t);
    const url = `${app.url}/v2/connectors/signed-webhooks/${c.id}/events`;
    const body = seedBody("frozen-delivery-1");
    const appendRequest = appendRequestOf(t.streamId, "frozen-append-1");

    // The stream row is held, as by a frozen database: both appends wait in their commit past the deadline.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = app.database.db.transaction(async (tx) => {
      await tx.execute(sql`select 1 from streams where id = ${t.streamId} for update`);
      locked();
      await held;
    });
    await isLocked;
    let delivery: Awaited<ReturnType<typeof post>>;
    let rpcError: unknown;
    try {
      [delivery, rpcError] = await Promise.all([
        post(url, signedHeaders(c.secret, body), body),
        t.ps.appendEvent(appendRequest).then(
          () => undefined,
          (err: unknown) => err,
        ),
      ]);
    } finally {
      release();
      await holder;
    }

    expect(delivery.status).toBe(503);
    expect(delivery.json!.error).toMatchObject({ code: "unavailable", reason: "DEADLINE_EXCEEDED" });
    const message = (delivery.json!.error as { message: string }).message;
    expect(message).toContain("may have committed");
    expect(message).toContain("same source_ref");
    expect(rpcError).toBeInstanceOf(ConnectError);
    expect((rpcError as ConnectError).code).toBe(Code.Unavailable);
    expect((rpcError as ConnectError).rawMessage).toContain("may have committed");

    // They did commit once the row was free; the retries say so and add nothing.
    await until(async () => (await treeSize()) === 2n, "the frozen appends to commit");
    const retried = await post(url, signedHeaders(c.secret, body), body);
    expect(retried).toMatchObject({ status: 200, json: { duplicate: true } });
    expect((await t.ps.appendEvent(appendRequest)).duplicate).toBe(true);
    expect(await treeSize()).toBe(2n);
  });
});
