// Webhook delivery benchmark, at the default concurrency, to a loopback
// receiver (a process of its own) that answers 204:
//
//   - delivery: the engine alone. An API-role instance writes N events to the
//     outbox (one delivery each; their jobs wait in Redis), then a worker-role
//     instance starts and the clock runs until every delivery is recorded as
//     succeeded: claim in Postgres, sign, POST, record, per delivery.
//   - end to end: one instance (role all) while 16 producers each emit events
//     one per transaction: outbox row, NOTIFY, enqueue, delivery.
//   - baseline, measured in the same run against the same receiver: bare
//     undici POSTs of the same body with as many in flight (the network path
//     alone, nothing recorded).
//
//   npm run bench:webhooks          (BENCH_DELIVERIES=20000)
//
// Needs PostgreSQL (ATTESTO_TEST_DATABASE_URL, default the local one; a fresh
// database is made and dropped) and Redis (ATTESTO_TEST_REDIS_URL, default
// 127.0.0.1:6379; a queue prefix of its own).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import os from "node:os";
import readline from "node:readline";
import { and, count, eq } from "drizzle-orm";
import { Redis } from "ioredis";
import postgres from "postgres";
import { Agent } from "undici";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { webhookDeliveries } from "../src/webhooks/schema.js";

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 20_000);
const WARMUP = 1_000;
const TARGET = 2_000;

const data = {
  stream_id: "str_01J0000000000000000000000",
  origin: "attesto.example/proofstreams/str_01J0000000000000000000000",
  tree_size: 250,
  root_hash: "0".repeat(64),
  note: "attesto.example/proofstreams/str_01J0000000000000000000000\n250\nAAAA\n\n— attesto.example AAAA\n",
  signed_at: "2026-06-07T12:00:00Z",
};

/** A loopback receiver in a process of its own answering 204; it counts what it got. */
async function startReceiver() {
  const code = `
    const http = require("node:http");
    let n = 0;
    const server = http.createServer((req, res) => { req.on("data", () => {}); req.on("end", () => { n++; res.writeHead(204); res.end(); }); });
    server.keepAliveTimeout = 60000;
    server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
    process.stdin.on("data", () => console.log("count " + n));
  `;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const port = Number((await next()).split(" ")[1]);
  return {
    port,
    async count() {
      const line = next();
      child.stdin!.write("?\n");
      return Number((await line).split(" ")[1]);
    },
    stop: () => child.kill("SIGKILL"),
  };
}

/** Bare undici POSTs of the same body, `concurrency` in flight: the network path alone. */
async function baseline(port: number, body: string, total: number, concurrency: number): Promise<number> {
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: "/hook", method: "POST", headers: { "content-type": "application/json" }, body });
        for await (const _ of res.body);
        if (res.statusCode !== 204) throw new Error(`baseline got ${res.statusCode}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return total / seconds;
}

async function succeeded(app: Attesto, tenantId: string): Promise<number> {
  const [row] = await app.database.db
    .select({ n: count() })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.tenantId, tenantId), eq(webhookDeliveries.status, "succeeded")));
  return row!.n;
}

async function until(app: Attesto, tenantId: string, n: number): Promise<void> {
  while ((await succeeded(app, tenantId)) < n) await new Promise((r) => setTimeout(r, 20));
}

/** `producers` concurrent producers emit `n` events, each in a transaction of its own. */
async function produce(app: Attesto, tenantId: string, n: number, producers = 16): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      for (let i = next++; i < n; i = next++) {
        await app.database.db.transaction((tx) => app.webhooks.events.emit(tx, tenantId, "proofstream.checkpointed", { ...data, tree_size: i + 1 }));
        app.webhooks.events.committed();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

async function main() {
  const adminUrl = process.env.ATTESTO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `attesto_bench_wh_${process.pid}_${Date.now()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const receiver = await startReceiver();
  const redisUrl = process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
  const env = {
    DATABASE_URL: url.toString(),
    REDIS_URL: redisUrl,
    ATTESTO_QUEUE_PREFIX: name,
    ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true",
    ATTESTO_DEV_TENANT: "false",
    LOG_LEVEL: "error",
  };
  const apps: Attesto[] = [];
  const start = async (role: "api" | "worker" | "all") => {
    const app = await startAttesto(loadConfig({ ...env, ATTESTO_ROLE: role }, { port: 0 }), createLogger("error"));
    apps.push(app);
    return app;
  };
  try {
    const api = await start("api");
    const concurrency = api.webhooks.settings.concurrency;
    const tenant = await createTenant(api.database.db, "bench");
    await api.webhooks.subscriptions.create(tenant.id, {
      name: "bench",
      url: `http://127.0.0.1:${receiver.port}/hook`,
      eventTypes: ["proofstream.checkpointed"],
    });
    const sample = JSON.stringify({ id: "dlv_01J0000000000000000000000", event: "proofstream.checkpointed", tenant_id: tenant.id, created_at: data.signed_at, data });

    // Warm-up of every path.
    await baseline(receiver.port, sample, WARMUP, concurrency);
    const all = await start("all");
    await produce(all, tenant.id, WARMUP);
    await until(all, tenant.id, WARMUP);
    await all.stop();
    apps.pop();

    // Baseline.
    const base = await baseline(receiver.port, sample, DELIVERIES, concurrency);

    // Delivery: a backlog of N jobs, then a worker.
    await produce(api, tenant.id, DELIVERIES);
    while ((await api.webhooks.engine.queue.getWaitingCount()) < DELIVERIES) await new Promise((r) => setTimeout(r, 50));
    let started = performance.now();
    const worker = await start("worker");
    await until(worker, tenant.id, WARMUP + DELIVERIES);
    const deliverySeconds = (performance.now() - started) / 1000;
    await worker.stop();
    apps.pop();
    await api.stop();
    apps.pop();

    // End to end: producers and delivery at once.
    const both = await start("all");
    started = performance.now();
    const emitSeconds = await produce(both, tenant.id, DELIVERIES);
    await until(both, tenant.id, WARMUP + 2 * DELIVERIES);
    const endToEndSeconds = (performance.now() - started) / 1000;
    const received = await receiver.count();

    const delivery = DELIVERIES / deliverySeconds;
    const endToEnd = DELIVERIES / endToEndSeconds;
    const cpu = os.cpus();
    const out = [
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, node ${process.version}; Postgres, Redis, the receiver and Attesto share it`,
      `concurrency: ${concurrency} attempts in flight (the default), one worker process; ${DELIVERIES} deliveries per figure`,
      `baseline     bare undici POSTs, same body, same receiver:   ${base.toFixed(0).padStart(6)} requests/s`,
      `delivery     backlog drained by a worker:                 ${delivery.toFixed(0).padStart(6)} deliveries/s   (${(delivery / base).toFixed(2)} × baseline)`,
      `end to end   16 producers, one event per transaction:     ${endToEnd.toFixed(0).padStart(6)} deliveries/s   (${(endToEnd / base).toFixed(2)} × baseline; producing alone took ${emitSeconds.toFixed(1)} s of ${endToEndSeconds.toFixed(1)} s)`,
      `target       ≥ ${TARGET} deliveries/s (delivery):             ${delivery >= TARGET ? "met" : "NOT met"}`,
      `receiver     got ${received} requests (${received - (2 * WARMUP + 3 * DELIVERIES)} more than sent: duplicates would show here)`,
    ];
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    for (const app of apps.reverse()) await app.stop();
    receiver.stop();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    // The run's queues, jobs and schedulers.
    const redis = new Redis(redisUrl);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${name}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
    redis.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:webhooks failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
