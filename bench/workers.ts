// Many processes on one stream: `serve --workers 1` (the baseline) against
// `serve --workers 2` and against two instances (two `serve --workers 1` on
// the same database, the load split between them as a load balancer would),
// AppendEvent at 64 connections on one stream (every process appends to the
// same stream) and on 100 streams. The control: two instances whose loads
// share no stream (one stream each; 50 of the 100 each), so what they lose
// against one process is the second process on this machine, and what two
// instances on one stream lose beyond it is the shared stream.
//
// Rounds are interleaved (workers 1, workers 2, two instances, workers 1,
// ...), each configuration warmed by 2 s of the same load first, and each
// figure is the median of the per-round ratios to workers 1.
// On a 2-core machine the load generator, Postgres and Redis compete with the
// servers for the same cores: the ratio is a floor of what more cores give.
//
//   npm run bench:workers        (BENCH_SECONDS=5 BENCH_ROUNDS=3)
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import os from "node:os";
import postgres from "postgres";
import {
  type LoadResult,
  benchDatabase,
  benchTenant,
  fmt,
  load,
  machine,
  machineBusySeconds,
  postgresServerPid,
  redisServerPid,
  rpc,
  serveEnv,
  spawnNode,
  stop,
  median,
  treeCpuSeconds,
} from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARM_SECONDS = 2;
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();

/** The load at 64 connections, split evenly over the given servers; one result for all of them. */
async function appendLoad(urls: string[], token: string, streamsOf: (server: number) => string[], tag: string, seconds = SECONDS): Promise<LoadResult> {
  const parts = await Promise.all(urls.map((url, i) => appendLoadOn(url, token, streamsOf(i), `${tag}-${i}`, 64 / urls.length, seconds)));
  return {
    requestsPerSecond: parts.reduce((n, r) => n + r.requestsPerSecond, 0),
    p50Ms: Math.max(...parts.map((r) => r.p50Ms)),
    p99Ms: Math.max(...parts.map((r) => r.p99Ms)),
    total: parts.reduce((n, r) => n + r.total, 0),
    errors: parts.reduce((n, r) => n + r.errors, 0),
    non2xx: parts.reduce((n, r) => n + r.non2xx, 0),
  };
}

/** CPU per append, in µs, of each part of the machine during a load: what a second process costs, and where. */
interface CpuPerAppend {
  servers: number;
  postgres: number;
  redis: number;
  client: number;
  machine: number;
}

/** Runs `run` and charges the CPU each part of the machine used meanwhile to the appends it made. */
async function measuredCpu(pids: { servers: number[]; postgres?: number; redis?: number }, run: () => Promise<LoadResult>): Promise<{ result: LoadResult; cpu: CpuPerAppend }> {
  const tree = (pid: number | undefined) => (pid === undefined ? NaN : treeCpuSeconds(pid));
  const servers = () => pids.servers.reduce((n, pid) => n + treeCpuSeconds(pid), 0);
  const before = { servers: servers(), postgres: tree(pids.postgres), redis: tree(pids.redis), client: process.cpuUsage(), machine: machineBusySeconds() };
  const result = await run();
  const client = process.cpuUsage(before.client);
  const per = (seconds: number) => (seconds * 1e6) / Math.max(1, result.total);
  return {
    result,
    cpu: {
      servers: per(servers() - before.servers),
      postgres: per(tree(pids.postgres) - before.postgres),
      redis: per(tree(pids.redis) - before.redis),
      client: per((client.user + client.system) / 1e6),
      machine: per(machineBusySeconds() - before.machine),
    },
  };
}

function appendLoadOn(url: string, token: string, streams: string[], tag: string, connections: number, seconds: number): Promise<LoadResult> {
  let n = 0;
  return load({
    url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
    connections,
    method: "POST",
    duration: seconds,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (req) => {
          const i = n++;
          return {
            ...req,
            body: JSON.stringify({ streamId: streams[i % streams.length], sourceRef: `bench-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag: tag.split("-")[0] } }),
          };
        },
      },
    ],
  });
}

async function main() {
  console.log(`machine: ${machine()}`);
  const db = await benchDatabase();
  const env = {
    ...serveEnv(db.url, ADMIN, "workers"),
    ATTESTO_ANCHOR_DEV_CHAIN: "false",
  };
  const serve = (workers: number) => spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", String(workers)], env, /"url": "([^"]+)"/);
  const one = async (workers: number) => {
    const { child, match } = await serve(workers);
    return { child, url: match[1]! };
  };
  try {
    // Tenant, key and streams once, on the shared database.
    const setup = await serve(1);
    const url = setup.match[1]!;
    const { key } = await benchTenant(url, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name }, key)).stream.id;
    const one1 = await newStream("bench-one");
    const one2 = await newStream("bench-one-b");
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`bench-many-${i}`)));
    await stop(setup.child);

    type Setup = "w1" | "w2" | "i2" | "i2s";
    const setups: Array<{ setup: Setup; label: string; start(): Promise<Array<{ child: ChildProcess; url: string }>> }> = [
      { setup: "w1", label: "workers 1", start: async () => [await one(1)] },
      { setup: "w2", label: "workers 2", start: async () => [await one(2)] },
      { setup: "i2", label: "two instances", start: () => Promise.all([one(1), one(1)]) },
      // The control: two instances that share no stream (one stream each, or 50 of the 100 each), so no
      // row, batch or integration of one meets the other's. What this loses against workers 1 is the
      // second process on this machine, not the shared stream.
      { setup: "i2s", label: "two instances, streams apart", start: () => Promise.all([one(1), one(1)]) },
    ];
    type Figure = { runs: LoadResult[]; batches: number[]; cpu: CpuPerAppend[] };
    const figures = new Map<string, Record<Setup, Figure>>();
    const blank = () => Object.fromEntries(setups.map(({ setup }): [Setup, Figure] => [setup, { runs: [], batches: [], cpu: [] }])) as Record<Setup, Figure>;
    const pids = { postgres: await postgresServerPid(db.url), redis: await redisServerPid() };
    figures.set("AppendEvent, 1 stream", blank());
    figures.set("AppendEvent, 100 streams", blank());
    // Events per commit: the rows a load inserted (its tag is in their payload) over the distinct transactions
    // that inserted them (xmin); counted after the load, so the counting costs it nothing.
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const batchOf = async (tag: string) => {
      const [row] = await sql<Array<{ events: string; commits: string }>>`
        SELECT count(*) AS events, count(DISTINCT xmin::text) AS commits FROM events WHERE payload->>'tag' = ${tag}`;
      return Number(row!.events) / Math.max(1, Number(row!.commits));
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const { setup, label, start } of setups) {
        const servers = await start();
        const urls = servers.map((s) => s.url);
        // A warm-up with the load itself (connections, key cache, the appends' JIT in every process), so
        // each round measures processes at their pace, not two processes' compilers against one's.
        await appendLoad(urls, key, () => [one1, ...many], `warm${randomBytes(2).toString("hex")}`, WARM_SECONDS);
        const [oneTag, manyTag] = [randomBytes(4).toString("hex"), randomBytes(4).toString("hex")];
        const measured = { ...pids, servers: servers.map((s) => s.child.pid!) };
        const apart = setup === "i2s";
        // Apart, each server appends to its own streams; otherwise every server to all of them.
        const oneStreams = (server: number) => (apart ? [[one1], [one2]][server]! : [one1]);
        const manyStreams = (server: number) => (apart ? [many.slice(0, 50), many.slice(50)][server]! : many);
        const { result: oneResult, cpu: oneCpu } = await measuredCpu(measured, () => appendLoad(urls, key, oneStreams, oneTag));
        const { result: manyResult, cpu: manyCpu } = await measuredCpu(measured, () => appendLoad(urls, key, manyStreams, manyTag));
        await Promise.all(servers.map((s) => stop(s.child)));
        const oneFigure = figures.get("AppendEvent, 1 stream")![setup];
        const manyFigure = figures.get("AppendEvent, 100 streams")![setup];
        oneFigure.runs.push(oneResult);
        manyFigure.runs.push(manyResult);
        oneFigure.cpu.push(oneCpu);
        manyFigure.cpu.push(manyCpu);
        oneFigure.batches.push(await batchOf(oneTag));
        manyFigure.batches.push(await batchOf(manyTag));
        process.stderr.write(`round ${round + 1}, ${label}: 1 stream ${fmt(oneResult.requestsPerSecond)}/s, 100 streams ${fmt(manyResult.requestsPerSecond)}/s\n`);
      }
    }
    console.log(
      `${ROUNDS} interleaved rounds of ${SECONDS} s at 64 connections; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    for (const [name, f] of figures) {
      console.log(`${name}`);
      for (const { setup, label } of setups) {
        const { runs, batches, cpu } = f[setup];
        const cpuOf = (part: keyof CpuPerAppend) => fmt(median(cpu.map((c) => c[part])));
        const ratios = runs.map((r, i) => r.requestsPerSecond / f.w1.runs[i]!.requestsPerSecond);
        const errors = runs.reduce((n, r) => n + r.errors + r.non2xx, 0);
        console.log(
          `  ${label.padEnd(29)} ${fmt(median(runs.map((r) => r.requestsPerSecond))).padStart(7)}/s (median)  p99 ${fmt(median(runs.map((r) => r.p99Ms)))} ms  ${fmt(median(batches), 1)} events per commit` +
            (setup === "w1" ? "" : `  ÷ workers 1: ${median(ratios).toFixed(2)} × (rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")})`) +
            (errors ? `; ${errors} errors or non-2xx` : ""),
        );
        console.log(
          `  ${"".padEnd(29)} CPU per append (µs): servers ${cpuOf("servers")}, PostgreSQL ${cpuOf("postgres")}, Redis ${cpuOf("redis")}, load generator ${cpuOf("client")}; machine ${cpuOf("machine")} of ${fmt((os.cpus().length * 1e6) / median(runs.map((r) => r.requestsPerSecond)))} available`,
        );
      }
    }
    await sql.end();
  } finally {
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:workers failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
