// Webhook delivery benchmark to a loopback receiver (a process of its own)
// that answers 204:
//
//   - delivery: the engine alone. An API-role instance writes N events to the
//     outbox (one delivery each; their jobs wait in Redis), then a worker-role
//     instance starts and the clock runs until every delivery is recorded as
//     succeeded: claim in Postgres, sign, POST, record, per delivery.
//   - baseline, measured in the same run against the same receiver: bare
//     undici POSTs of the same body with as many in flight (the network path
//     alone, nothing recorded).
//   - end to end (once, after the rounds): one instance (role all) while 16
//     producers each emit events one per transaction: outbox row, wake,
//     enqueue, delivery.
//
// Rounds are interleaved (baseline, then each delivery concurrency, then the
// next round) and the figure is the median of the per-round ratios to that
// round's baseline: the machine is shared, only same-run ratios count. The
// end of a run is seen by the receiver (it says when it got the last
// delivery); Postgres is asked only then, every 50 ms, whether every
// delivery is recorded, so that polling adds nothing to the figure.
//
//   npm run bench:webhooks     BENCH_DELIVERIES=20000 BENCH_ROUNDS=3
//                              BENCH_CONCURRENCIES=100,400 (default: the configured default alone)
//                              BENCH_CPU_PROFILE=file.cpuprofile (V8 profile of this process
//                              while the last round's worker drains, nothing else)
//
// Beside the rate, each drain's CPU per delivery: this process's, the
// Postgres backends' of the run's database (/proc, Linux and a local
// Postgres only) and Redis's (INFO cpu, the whole server). On a machine
// shared with other work the rate moves with their load; the CPU a delivery
// costs moves much less, so a change is judged by both.
//
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { randomBytes } from "node:crypto";
import os from "node:os";
import readline from "node:readline";
import { and, count, eq, sql } from "drizzle-orm";
import { Redis } from "ioredis";
import postgres from "postgres";
import { Agent } from "undici";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { webhookDeliveries } from "../src/webhooks/schema.js";
import { procStat } from "./lib.js";

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 20_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP = 1_000;
const TARGET = 3_000;

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
    let target = Infinity;
    const reached = () => { if (n >= target) { target = Infinity; console.log("reached " + n); } };
    const server = http.createServer((req, res) => { req.on("data", () => {}); req.on("end", () => { n++; res.writeHead(204); res.end(); reached(); }); });
    server.keepAliveTimeout = 60000;
    server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
    require("node:readline").createInterface({ input: process.stdin }).on("line", (line) => {
      const [what, arg] = line.split(" ");
      if (what === "count") console.log("count " + n);
      else { target = Number(arg); reached(); }
    });
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
      child.stdin!.write("count\n");
      return Number((await line).split(" ")[1]);
    },
    /** Resolves once the receiver got `n` requests in all (it says so itself: no polling). */
    async reached(n: number) {
      const line = next();
      child.stdin!.write(`wait ${n}\n`);
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

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** CPU (µs) used so far by each Postgres backend of the run's database; empty when /proc cannot tell (another host or OS). */
async function backendCpu(app: Attesto): Promise<Map<number, number>> {
  const rows = (await app.database.db.execute<{ pid: number }>(sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)) as unknown as Array<{ pid: number }>;
  const used = new Map<number, number>();
  for (const { pid } of rows) {
    const stat = procStat(pid);
    if (stat) used.set(pid, stat.cpu * 1e6);
  }
  return used;
}

/** CPU (µs) Redis used so far, the whole server. */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

/**
 * Waits until `n` deliveries of the tenant are recorded as succeeded: first
 * for the receiver to have got `received` requests (an event, no query), then
 * a count every 50 ms for the last records (a few statements per run).
 */
async function until(app: Attesto, tenantId: string, n: number, receiver: Receiver, received: number): Promise<void> {
  await receiver.reached(received);
  while ((await succeeded(app, tenantId)) < n) await new Promise((r) => setTimeout(r, 50));
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

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
  const redis = new Redis(redisUrl);
  const apps: Attesto[] = [];
  const start = async (role: "api" | "worker" | "all", concurrency?: number) => {
    const extra = concurrency === undefined ? {} : { ATTESTO_WEBHOOK_CONCURRENCY: String(concurrency) };
    const app = await startAttesto(loadConfig({ ...env, ...extra, ATTESTO_ROLE: role }, { port: 0 }), createLogger("error"));
    apps.push(app);
    return app;
  };
  const stopLast = async () => {
    await apps.pop()!.stop();
  };
  try {
    const api = await start("api");
    const defaultConcurrency = api.webhooks.settings.concurrency;
    const concurrencies = (process.env.BENCH_CONCURRENCIES ?? String(defaultConcurrency)).split(",").map(Number);
    const tenant = await createTenant(api.database.db, "bench");
    await api.webhooks.subscriptions.create(tenant.id, {
      name: "bench",
      url: `http://127.0.0.1:${receiver.port}/hook`,
      eventTypes: ["proofstream.checkpointed"],
    });
    const sample = JSON.stringify({ id: "dlv_01J0000000000000000000000", event: "proofstream.checkpointed", tenant_id: tenant.id, created_at: data.signed_at, data });
    let sent = 0;
    let recorded = 0;

    // Warm-up of every path.
    await baseline(receiver.port, sample, WARMUP, defaultConcurrency);
    sent += WARMUP;
    const all = await start("all");
    await produce(all, tenant.id, WARMUP);
    sent += WARMUP;
    recorded += WARMUP;
    await until(all, tenant.id, recorded, receiver, sent);
    await stopLast();

    const rounds: Array<{ base: number; delivery: Map<number, number>; cpu: Map<number, number>; pg: Map<number, number>; redis: Map<number, number> }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const base = await baseline(receiver.port, sample, DELIVERIES, defaultConcurrency);
      sent += DELIVERIES;
      const delivery = new Map<number, number>();
      const cpu = new Map<number, number>();
      const pg = new Map<number, number>();
      const redisUsed = new Map<number, number>();
      for (const concurrency of concurrencies) {
        // A backlog of N jobs, then a worker.
        const waitingBefore = await api.webhooks.engine.queue.getWaitingCount();
        await produce(api, tenant.id, DELIVERIES);
        while ((await api.webhooks.engine.queue.getWaitingCount()) < waitingBefore + DELIVERIES) await new Promise((r) => setTimeout(r, 50));
        const profiling = process.env.BENCH_CPU_PROFILE && round === ROUNDS - 1 ? new Session() : undefined;
        if (profiling) {
          profiling.connect();
          await profiling.post("Profiler.enable");
          await profiling.post("Profiler.start");
        }
        const started = performance.now();
        const cpuBefore = process.cpuUsage();
        const [pgBefore, redisBefore] = await Promise.all([backendCpu(api), redisCpu(redis)]);
        const worker = await start("worker", concurrency);
        sent += DELIVERIES;
        recorded += DELIVERIES;
        await until(worker, tenant.id, recorded, receiver, sent);
        delivery.set(concurrency, DELIVERIES / ((performance.now() - started) / 1000));
        const used = process.cpuUsage(cpuBefore);
        cpu.set(concurrency, (used.user + used.system) / DELIVERIES);
        // The worker's backends started with it: the CPU of their start-up counts too (a few ms in all).
        const [pgAfter, redisAfter] = await Promise.all([backendCpu(worker), redisCpu(redis)]);
        pg.set(concurrency, [...pgAfter].reduce((sum, [pid, us]) => sum + us - (pgBefore.get(pid) ?? 0), 0) / DELIVERIES);
        redisUsed.set(concurrency, (redisAfter - redisBefore) / DELIVERIES);
        if (profiling) {
          const { profile } = await profiling.post("Profiler.stop");
          await writeFile(process.env.BENCH_CPU_PROFILE!.replace(/(\.cpuprofile)?$/, `-${concurrency}.cpuprofile`), JSON.stringify(profile));
          profiling.disconnect();
        }
        await stopLast();
      }
      rounds.push({ base, delivery, cpu, pg, redis: redisUsed });
      process.stderr.write(
        `round ${round + 1}: baseline ${base.toFixed(0)}/s; ${[...delivery].map(([c, d]) => `concurrency ${c}: ${d.toFixed(0)}/s (CPU µs per delivery: this process ${cpu.get(c)!.toFixed(0)}, Postgres ${pg.get(c)!.toFixed(0)}, Redis ${redisUsed.get(c)!.toFixed(0)})`).join("; ")}\n`,
      );
    }
    await stopLast();

    // End to end: producers and delivery at once.
    const both = await start("all");
    const started = performance.now();
    const emitSeconds = await produce(both, tenant.id, DELIVERIES);
    sent += DELIVERIES;
    recorded += DELIVERIES;
    await until(both, tenant.id, recorded, receiver, sent);
    const endToEndSeconds = (performance.now() - started) / 1000;
    const received = await receiver.count();
    const endToEnd = DELIVERIES / endToEndSeconds;

    const cpu = os.cpus();
    const baseMedian = median(rounds.map((r) => r.base));
    const out = [
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, node ${process.version}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; Postgres, Redis, the receiver and Attesto share it`,
      `${ROUNDS} interleaved rounds of ${DELIVERIES} deliveries per figure, one worker process; baseline with ${defaultConcurrency} in flight (the default concurrency)`,
      `baseline     bare undici POSTs, same body, same receiver:   median ${baseMedian.toFixed(0).padStart(6)} requests/s`,
    ];
    for (const concurrency of concurrencies) {
      const ratios = rounds.map((r) => r.delivery.get(concurrency)! / r.base);
      const rates = rounds.map((r) => r.delivery.get(concurrency)!);
      const rate = median(rates);
      out.push(
        `delivery     backlog drained by a worker, concurrency ${String(concurrency).padStart(4)}: median ${rate.toFixed(0).padStart(6)} deliveries/s = ${median(ratios).toFixed(2)} × baseline (rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")}), CPU per delivery ${median(rounds.map((r) => r.cpu.get(concurrency)!)).toFixed(0)} µs this process + ${median(rounds.map((r) => r.pg.get(concurrency)!)).toFixed(0)} µs Postgres + ${median(rounds.map((r) => r.redis.get(concurrency)!)).toFixed(0)} µs Redis; ≥ ${TARGET}/s: ${rate >= TARGET ? "met" : "NOT met"}`,
      );
    }
    out.push(
      `end to end   16 producers, one event per transaction (once):  ${endToEnd.toFixed(0).padStart(6)} deliveries/s   (${(endToEnd / baseMedian).toFixed(2)} × baseline median; producing alone took ${emitSeconds.toFixed(1)} s of ${endToEndSeconds.toFixed(1)} s)`,
      `receiver     got ${received} requests (${received - sent} more than sent: duplicates would show here)`,
    );
    process.stdout.write(out.join("\n") + "\n");
  } finally {
    for (const app of apps.reverse()) await app.stop();
    receiver.stop();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    // The run's queues, jobs and schedulers.
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
