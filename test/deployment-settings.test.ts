import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { testEnv } from "./support/server.js";
import { inject } from "vitest";
import { deleteRedisKeys, isolatedStore, startWebhookServer, type Store } from "./support/webhooks.js";

/**
 * Issue 26, defect 9: instances that share a database, a queue prefix and a
 * master key are one deployment, and the settings that change what a shared
 * job does must agree. Each case gets its own database (a fresh deployment).
 */
const stores: Store[] = [];
const apps: Attesto[] = [];
afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.stop()));
  await Promise.allSettled(stores.map((s) => s.drop()));
  await Promise.allSettled(stores.map((s) => deleteRedisKeys(inject("redisUrl"), `${s.queuePrefix}_other`)));
});

async function freshStore(label: string) {
  const store = await isolatedStore(label);
  stores.push(store);
  return store;
}

async function start(store: Store, overrides: Parameters<typeof startWebhookServer>[1]) {
  const app = await startWebhookServer(store, { dbPoolSize: 2, ...overrides });
  apps.push(app);
  return app;
}

const startError = (p: Promise<Attesto>) =>
  p.then(
    async (app) => {
      apps.push(app);
      throw new Error("the second instance started");
    },
    (e: Error) => e.message,
  );

async function storedSettings(store: Store) {
  const sql = postgres(store.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await sql<{ queue_prefix: string; settings: Record<string, unknown> }[]>`SELECT queue_prefix, settings FROM deployment_settings`;
  } finally {
    await sql.end();
  }
}

describe("settings shared by the instances of a deployment", () => {
  let store: Store;
  beforeAll(async () => {
    store = await freshStore("deploy_a");
  });

  it("a second instance with another ATTESTO_WEBHOOK_ALLOW_LOOPBACK is refused in one line naming the setting, both values and the way to change it", async () => {
    await start(store, { webhookAllowLoopback: true });
    const message = await startError(startWebhookServer(store, { dbPoolSize: 2, webhookAllowLoopback: false }));
    expect(message).toContain("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is off here but on (every tenant) for the other instances");
    expect(message).toContain(`queue prefix ${store.queuePrefix}`);
    expect(message).toContain("ATTESTO_RECONFIGURE=true");
    expect(message).not.toContain("\n");
    expect(await storedSettings(store)).toEqual([{ queue_prefix: store.queuePrefix, settings: expect.objectContaining({ webhook_loopback_receivers: "on (every tenant)" }) }]);
  }, 60_000);

  it("a second instance with the same settings starts beside the first; one with another schedule starts too, with a warning naming it", async () => {
    await start(store, { webhookAllowLoopback: true });
    const lines: string[] = [];
    const config = loadConfig(await testEnv(), {
      port: 0,
      databaseUrl: store.databaseUrl,
      queuePrefix: store.queuePrefix,
      encryptionKey: store.encryptionKey,
      webhookAllowLoopback: true,
      dbPoolSize: 2,
      checkpointIntervalMs: 5_000,
    });
    apps.push(await startAttesto(config, createLogger("warn", { write: (line: string) => void lines.push(line) })));
    const warning = lines.map((l) => JSON.parse(l) as { setting?: string; here?: number; stored?: number; msg: string }).find((l) => l.setting === "ATTESTO_CHECKPOINT_INTERVAL_MS");
    expect(warning).toMatchObject({ here: 5_000, stored: 1_000 });
    expect(warning!.msg).toContain("the last instance to start sets its interval");
    expect(await storedSettings(store)).toHaveLength(1);
  }, 60_000);

  it("ATTESTO_RECONFIGURE stores the new value deliberately; then instances with it start", async () => {
    await start(store, { webhookAllowLoopback: false, reconfigure: true });
    expect((await storedSettings(store))[0]!.settings).toMatchObject({ webhook_loopback_receivers: "off" });
    await start(store, { webhookAllowLoopback: false });
    const message = await startError(startWebhookServer(store, { dbPoolSize: 2, webhookAllowLoopback: true }));
    expect(message).toContain("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is on (every tenant) here but off for the other instances");
  }, 60_000);

  it("another queue prefix or another master key is another deployment: it starts with its own settings", async () => {
    await start(store, { webhookAllowLoopback: false, queuePrefix: `${store.queuePrefix}_other` });
    await start(store, { webhookAllowLoopback: true, tilesPublic: true, encryptionKey: Buffer.alloc(32, 7).toString("base64") });
    expect((await storedSettings(store)).map((r) => r.queue_prefix).sort()).toEqual([store.queuePrefix, store.queuePrefix, `${store.queuePrefix}_other`].sort());
  }, 60_000);
});
