// Webhook delivery benchmark: deliveries per second end to end — events
// emitted into the outbox in transactions, announced, enqueued on BullMQ,
// claimed in Postgres, signed, POSTed to a loopback receiver that answers
// 204, recorded — at the default concurrency, beside a baseline measured in
// the same run against the same receiver: bare undici POSTs of the same
// body at the same concurrency (what the network path alone allows).
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
import postgres from "postgres";
import { Agent } from "undici";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { emitWebhookEvent } from "../src/webhooks/index.js";
import { webhookDeliveries } from "../src/webhooks/schema.js";
import { createSubscription } from "../src/webhooks/subscriptions.js";

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 20_000);
const WARMUP = 1_000;
const EMIT_BATCH = 200;
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

/** Emits `n` events (one delivery each) in transactions, and waits until all are delivered. */
async function deliver(app: Attesto, tenantId: string, n: number): Promise<{ seconds: number; emitSeconds: number }> {
  const before = await succeeded(app, tenantId);
  const started = performance.now();
  for (let i = 0; i < n; i += EMIT_BATCH) {
    await app.database.db.transaction(async (tx) => {
      for (let j = i; j < Math.min(i + EMIT_BATCH, n); j++) await emitWebhookEvent(tx, tenantId, "proofstream.checkpointed", { ...data, tree_size: j + 1 });
    });
  }
  const emitSeconds = (performance.now() - started) / 1000;
  while ((await succeeded(app, tenantId)) - before < n) await new Promise((r) => setTimeout(r, 20));
  return { seconds: (performance.now() - started) / 1000, emitSeconds };
}

async function main() {
  const adminUrl = process.env.ATTESTO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `attesto_bench_wh_${process.pid}_${Date.now()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const receiver = await startReceiver();
  let app: Attesto | undefined;
  try {
    const config = loadConfig(
      {
        DATABASE_URL: url.toString(),
        REDIS_URL: process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
        ATTESTO_QUEUE_PREFIX: name,
        ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true",
        ATTESTO_DEV_TENANT: "false",
        LOG_LEVEL: "error",
      },
      { port: 0 },
    );
    app = await startAttesto(config, createLogger("error"));
    const tenant = await createTenant(app.database.db, "bench");
    await createSubscription(app.database.db, app.keyring, app.webhooks.settings.policy, tenant.id, {
      name: "bench",
      url: `http://127.0.0.1:${receiver.port}/hook`,
      eventTypes: ["proofstream.checkpointed"],
    });
    const sample = JSON.stringify({ id: "dlv_01J0000000000000000000000", event: "proofstream.checkpointed", tenant_id: tenant.id, created_at: data.signed_at, data });

    await deliver(app, tenant.id, WARMUP);
    await baseline(receiver.port, sample, WARMUP, config.webhookConcurrency);

    const base = await baseline(receiver.port, sample, DELIVERIES, config.webhookConcurrency);
    const run = await deliver(app, tenant.id, DELIVERIES);
    const rate = DELIVERIES / run.seconds;
    const received = await receiver.count();

    const cpu = os.cpus();
    const out = [
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, node ${process.version}; Postgres, Redis, the receiver and Attesto on this machine`,
      `concurrency: ${config.webhookConcurrency} attempts in flight (the default), one worker process`,
      `baseline  bare undici POSTs of the same body:        ${base.toFixed(0).padStart(7)} requests/s`,
      `attesto   deliveries end to end (${DELIVERIES} events):   ${rate.toFixed(0).padStart(7)} deliveries/s  (emitting took ${run.emitSeconds.toFixed(2)} s of ${run.seconds.toFixed(2)} s)`,
      `ratio     attesto / baseline:                       ${(rate / base).toFixed(2)}`,
      `target    ≥ ${TARGET} deliveries/s:                       ${rate >= TARGET ? "met" : "NOT met"}`,
      `receiver  got ${received} requests (${WARMUP} warm-up + ${DELIVERIES} measured deliveries + ${WARMUP + DELIVERIES} baseline)`,
    ];
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    await app?.stop();
    receiver.stop();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:webhooks failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
