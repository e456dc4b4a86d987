import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import postgres from "postgres";
import { openDatabase } from "../src/db/db.js";
import { Appender } from "../src/proofstream/append.js";

export const ROOT = path.resolve(import.meta.dirname, "..");

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  errors: number;
  non2xx: number;
}

/** A fresh database for one benchmark run, dropped by the returned function. */
export async function benchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.ATTESTO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `attesto_bench_${process.pid}_${Date.now()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

const children = new Set<ChildProcess>();
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

/** Runs a node script (through tsx) and waits for the line that says it is ready. */
export async function spawnNode(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let out = "";
  for await (const line of readline.createInterface({ input: child.stdout! })) {
    out += line + "\n";
    const match = ready.exec(out);
    if (match) return { child, match };
  }
  throw new Error(`${args.join(" ")} exited early: ${stderr}`);
}

/** A process's parent and CPU seconds (user + system) so far, from /proc/<pid>/stat; undefined when it is gone (or not Linux). */
export function procStat(pid: number): { ppid: number; cpu: number } | undefined {
  const ticks = 100; // USER_HZ: the unit of /proc/<pid>/stat's times on Linux
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces: the fields after it start past its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / ticks };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) used so far by a process and every process
 * below it (`serve --workers N` forks its workers), from /proc: Linux only.
 */
export function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  let total = 0;
  const below = [pid];
  while (below.length > 0) {
    const at = below.pop()!;
    total += stats.get(at)?.cpu ?? 0;
    for (const [child, s] of stats) if (s.ppid === at) below.push(child);
  }
  return total;
}

/**
 * The pid of the Redis server behind `url` (`INFO server`'s process_id), for
 * treeCpuSeconds; undefined when it is not a process of this machine.
 */
export async function redisServerPid(url = process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"): Promise<number | undefined> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const pid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1]);
    return procStat(pid) === undefined ? undefined : pid;
  } finally {
    redis.disconnect();
  }
}

/** CPU seconds every core of this machine has spent busy so far (all of /proc/stat's times but idle and iowait). */
export function machineBusySeconds(): number {
  const [, ...times] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = times.map(Number);
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100;
}

/**
 * The pid of the PostgreSQL server behind `url` (the postmaster: the parent of
 * this connection's backend), for treeCpuSeconds of all its processes; undefined
 * when it is not a process of this machine.
 */
export async function postgresServerPid(url: string): Promise<number | undefined> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ pid }] = await sql<[{ pid: number }]>`SELECT pg_backend_pid() AS pid`;
    return procStat(pid)?.ppid;
  } finally {
    await sql.end();
  }
}

export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const done = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  return done;
}

/** autocannon with the settings every figure uses. */
export async function load(opts: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ connections: 64, duration: Number(process.env.BENCH_SECONDS ?? 10), ...opts });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/**
 * AppendEvent at 64 connections (autocannon), each request's body made by
 * `body(i)` for the i-th request of this load (stream, source_ref, payload).
 */
export function appendEventLoad(url: string, key: string, body: (i: number) => Record<string, unknown>): Promise<LoadResult> {
  let i = 0;
  return load({
    url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(body(i++)) }) }],
  });
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** The first line of every bench: the machine and how busy it was when the bench began. */
export const machineLine = () =>
  `machine: ${machine()}; load average before: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The path of an RPC named `Service/Method`: operator services live in attesto.admin.v1, the rest in attesto.v1. */
export const rpcPath = (method: string) => `/${method.startsWith("AdminService/") ? "attesto.admin.v1" : "attesto.v1"}.${method}`;

/** One Connect unary call in JSON, as a client would make it; throws on any non-2xx answer. */
export async function rpc<T>(base: string, method: string, body: unknown, token: string): Promise<T> {
  const res = await fetch(`${base}${rpcPath(method)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The environment of a benchmarked `attesto serve` on `databaseUrl`: a fresh master key, its own queue prefix and data directory. */
export function serveEnv(databaseUrl: string, adminToken: string, name: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ATTESTO_ADMIN_TOKEN: adminToken,
    ATTESTO_QUEUE_PREFIX: `bench-${name}-${process.pid}`,
    ATTESTO_DATA_DIR: `/tmp/attesto-bench-${name}-${process.pid}`,
    LOG_LEVEL: "warn",
  };
}

/**
 * Loads `events` events into a stream through the domain appender in this
 * process (no RPC, batches of 4,096), as a long-lived stream would have them;
 * returns the seconds it took.
 */
export async function bulkLoad(databaseUrl: string, tenantId: string, streamId: string, events: number, occurredAt: Date): Promise<number> {
  const started = Date.now();
  const database = openDatabase({ url: databaseUrl, poolSize: 4 });
  const appender = new Appender(database.db, { maxBatch: 4096 });
  try {
    for (let at = 0; at < events; at += 16_384) {
      const count = Math.min(16_384, events - at);
      await Promise.all(Array.from({ length: count }, (_, i) => appender.append({ tenantId, streamId, sourceRef: `big-${at + i}`, eventType: "bench.event", occurredAt, payload: { i: at + i } })));
    }
  } finally {
    await database.close();
  }
  return (Date.now() - started) / 1000;
}

/** A tenant and an API key of it, made through the operator RPCs of the server at `url`. */
export async function benchTenant(url: string, adminToken: string, name = "bench"): Promise<{ tenant: { id: string }; key: string }> {
  const { tenant } = await rpc<{ tenant: { id: string } }>(url, "AdminService/CreateTenant", { name }, adminToken);
  const { secret: key } = await rpc<{ secret: string }>(url, "AdminService/CreateApiKey", { tenantId: tenant.id, name }, adminToken);
  return { tenant, key };
}

/** The median (the mean of the middle two for an even count). */
export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** `total` requests, `concurrency` in flight; the latency of each, ms. */
export async function closedLoop(total: number, send: () => Promise<void>, concurrency: number): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, perSecond: (total / (performance.now() - begin)) * 1000 };
}
