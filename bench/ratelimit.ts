// Rate limiter benchmark: the cost of the per-tenant limiter (answered from
// process memory, settled with Redis in the background) on a cheap
// authenticated RPC, GetCurrentTenant, served by two server processes on the
// same database and Redis, one with limits on (a budget too large to be
// reached, so every request is checked and passes) and one with limits off.
// The runs are interleaved, alternating which goes first, over BENCH_ROUNDS
// rounds; the figure is the on/off ratio of each round (target ≥ 0.97).
// Then BENCH_ROUNDS more with both loads at once (the same seconds for both
// sides: a burst of other load on this shared machine swung a sequential
// round's ratio from 0.68 to 1.41).
// Each side's server CPU per request is measured too (/proc, the server's
// process tree): a check that a ratio below 1 is the server spending more
// per request, not a slower second on a shared machine (in this machine's
// bursts the CPU per request moved with the throughput too).
// Beside it, in this process: the time of one limiter check, and the share of
// checks that had to wait for Redis.
//
//   npm run bench:ratelimit            (BENCH_SECONDS=3, BENCH_ROUNDS=7, BENCH_CONNECTIONS=16)
import { randomBytes } from "node:crypto";
import os from "node:os";
import { pino } from "pino";
import { openRedis } from "../src/infra/redis.js";
import { RateLimits } from "../src/ratelimit/module.js";
import { type LoadResult, benchDatabase, fmt, load, machine, median, rpc, spawnNode, stop, treeCpuSeconds } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 7));
const SECONDS = process.env.BENCH_SECONDS ?? "3";
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const MICRO_CALLS = 200_000;

/**
 * Nanoseconds per limiter check over MICRO_CALLS checks of one tenant, in
 * batches of 100 with an event-loop turn between them (as between requests,
 * so leases land), and how many checks had to wait for a lease.
 */
async function micro(): Promise<Array<{ nsPerCheck: number; waited: number }>> {
  const logger = pino({ level: "warn" });
  const redis = await openRedis({ url: process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379", dataDir: os.tmpdir(), logger });
  const limit = { points: 1e9, durationSeconds: 1 };
  const limits = new RateLimits(
    { redis, logger },
    {
      enabled: true,
      classes: { verification: limit, ingest: limit, reads: limit, default: limit },
      tenants: {},
      redisTimeoutMs: 100,
      keyPrefix: `bench-rl-micro-${process.pid}`,
      settleIntervalMs: 100,
    },
  );
  await limits.start();
  const rounds: Array<{ nsPerCheck: number; waited: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    let waited = 0;
    let ns = 0n;
    for (let batch = 0; batch < MICRO_CALLS / 100; batch++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 100; i++) {
        const decision = limits.check("reads", { tenantId: "tnt_bench" });
        if (decision instanceof Promise) {
          waited++;
          await decision;
        }
      }
      ns += process.hrtime.bigint() - started;
      await new Promise((r) => setImmediate(r));
    }
    rounds.push({ nsPerCheck: Number(ns) / MICRO_CALLS, waited });
    // Let the background lease calls land between rounds.
    await new Promise((r) => setTimeout(r, 50));
  }
  if (limits.stats().localOnly > 0) throw new Error("the limiter admitted requests without Redis during the benchmark: Redis was not answering in time");
  await limits.close();
  await redis.close();
  return rounds;
}

async function main() {
  process.env.BENCH_SECONDS = SECONDS;
  console.log(`machine: ${machine()}; ${ROUNDS} rounds of ${SECONDS} s per side, ${CONNECTIONS} connections`);
  const db = await benchDatabase();
  const encryptionKey = randomBytes(32).toString("base64");
  const serve = (extra: Record<string, string>) =>
    spawnNode(
      ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
      {
        DATABASE_URL: db.url,
        ATTESTO_ENCRYPTION_KEY: encryptionKey,
        ATTESTO_ADMIN_TOKEN: ADMIN,
        ATTESTO_QUEUE_PREFIX: `bench-rl-${process.pid}`,
        ATTESTO_DATA_DIR: `/tmp/attesto-bench-rl-${process.pid}`,
        ATTESTO_DB_POOL: "10",
        LOG_LEVEL: "warn",
        ...extra,
      },
      /"url": "([^"]+)"/,
    );
  try {
    // One at a time: both migrate the same database at start-up.
    const on = await serve({ ATTESTO_RATE_LIMITS: "true", ATTESTO_RATE_LIMIT_READS: "1000000000/1s" });
    const off = await serve({ ATTESTO_RATE_LIMITS: "false" });
    const urls = { on: on.match[1]!, off: off.match[1]! };
    const { tenant } = await rpc<{ tenant: { id: string } }>(urls.on, "AdminService/CreateTenant", { name: "bench" }, ADMIN);
    const { secret: key } = await rpc<{ secret: string }>(urls.on, "AdminService/CreateApiKey", { tenantId: tenant.id, name: "bench" }, ADMIN);
    const children = { on: on.child, off: off.child };
    const load1 = (url: string) =>
      load({
        connections: CONNECTIONS,
        url: `${url}/attesto.v1.TenantService/GetCurrentTenant`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        body: "{}",
      });
    /** One side's run, with its server's CPU per request (µs). */
    const run = async (side: "on" | "off") => {
      const before = treeCpuSeconds(children[side].pid!);
      const result = await load1(urls[side]);
      const requests = result.requestsPerSecond * Number(SECONDS);
      return { ...result, cpuUs: ((treeCpuSeconds(children[side].pid!) - before) * 1e6) / requests };
    };
    // Warm both (JIT, key cache, connections) under the same load before measuring: after one
    // call each, a server's CPU per request still fell by a fifth over its first runs, which
    // made the first rounds' ratios a measure of which side had run more.
    await Promise.all([rpc(urls.on, "TenantService/GetCurrentTenant", {}, key), rpc(urls.off, "TenantService/GetCurrentTenant", {}, key)]);
    for (const side of ["on", "off", "off", "on"] as const) await run(side);

    type Side = LoadResult & { cpuUs: number };
    const rows: Array<{ round: number; on: Side; off: Side }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? (["on", "off"] as const) : (["off", "on"] as const);
      const result: Partial<Record<"on" | "off", Side>> = {};
      for (const side of order) result[side] = await run(side);
      rows.push({ round, on: result.on!, off: result.off! });
    }
    // The same pair at once: both loads in the same seconds, so a burst of the machine's other
    // load falls on both sides alike, and the two servers share the cores in proportion to
    // what a request costs each.
    const together: Array<{ on: Side; off: Side }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const [a, b] = await Promise.all([run("on"), run("off")]);
      together.push({ on: a, off: b });
    }
    await Promise.all([stop(on.child), stop(off.child)]);

    console.log("\n| round | limits on req/s | p50 ms | p99 ms | server CPU µs/req | limits off req/s | p50 ms | p99 ms | server CPU µs/req | on/off throughput | off/on CPU | non-2xx + errors |");
    console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const { round, on: a, off: b } of rows) {
      console.log(
        `| ${round} | ${fmt(a.requestsPerSecond)} | ${fmt(a.p50Ms, 1)} | ${fmt(a.p99Ms, 1)} | ${fmt(a.cpuUs, 1)} | ${fmt(b.requestsPerSecond)} | ${fmt(b.p50Ms, 1)} | ${fmt(b.p99Ms, 1)} | ${fmt(b.cpuUs, 1)} | ${fmt(a.requestsPerSecond / b.requestsPerSecond, 3)} | ${fmt(b.cpuUs / a.cpuUs, 3)} | ${a.non2xx + a.errors + b.non2xx + b.errors} |`,
      );
    }
    /** A figure's median and its rounds, lowest first. */
    const summary = (ratios: number[]) =>
      `median ${fmt(median(ratios), 3)} (rounds: ${[...ratios]
        .sort((x, y) => x - y)
        .map((r) => fmt(r, 3))
        .join(", ")})`;
    console.log(`\nGetCurrentTenant throughput, limits on / limits off: ${summary(rows.map((r) => r.on.requestsPerSecond / r.off.requestsPerSecond))}`);
    // As a throughput ratio: what limits off would serve with the CPU limits on spends per request.
    console.log(`server CPU per request, limits off / limits on: ${summary(rows.map((r) => r.off.cpuUs / r.on.cpuUs))}`);
    console.log(`both loads at once (${CONNECTIONS} connections each), limits on / limits off: ${summary(together.map((r) => r.on.requestsPerSecond / r.off.requestsPerSecond))}`);

    const microRounds = await micro();
    console.log(`\nin process, ${fmt(MICRO_CALLS)} sequential checks of one tenant per round:`);
    console.log("| round | ns per check | checks that waited for a lease |");
    console.log("|---:|---:|---:|");
    microRounds.forEach((r, i) => console.log(`| ${i + 1} | ${fmt(r.nsPerCheck)} | ${r.waited} |`));
  } finally {
    await db.drop();
  }
}

await main();
process.exit(0);
