// Capacity per event size (issue 28): what one append costs the PostgreSQL
// primary, which every append of a deployment goes through. A server on its
// embedded PostgreSQL (a cluster of its own, so that the WAL position and the
// CPU of its processes count this load alone) takes AppendEvent on one stream
// at 64 connections with payloads of three sizes, interleaved over rounds
// (the order rotates per round). Per size: appends/s, the server's and
// PostgreSQL's CPU per append, WAL bytes per append and stored bytes per
// event; then the capacity model docs/operator.md states from them.
//
//   npm run bench:capacity        (BENCH_SECONDS=5 per load, BENCH_ROUNDS=3)
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { openEmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { embeddedPostgresDir } from "../src/db/open.js";
import { appendEventLoad, fmt, machineLine, median, rpc, spawnNode, stop, treeCpuSeconds } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();
/** Payload sizes: a small store notification, a typical webhook, a large document event. */
const SIZES = [200, 2_000, 16_000];

interface Sample {
  rate: number;
  appends: number;
  serverMicros: number;
  postgresMicros: number;
  walBytes: number;
}

/** Whether `pid` is `ancestor` or below it (by /proc's parent links). */
function isBelow(pid: number, ancestor: number): boolean {
  for (let at = pid, hops = 0; at > 1 && hops < 64; hops++) {
    if (at === ancestor) return true;
    at = Number(readFileSync(`/proc/${at}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
  }
  return false;
}

async function main() {
  console.log(machineLine());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "attesto-bench-capacity-"));
  const server = await spawnNode(
    ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
    {
      DATABASE_URL: "",
      ATTESTO_DATA_DIR: dataDir,
      ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ATTESTO_ADMIN_TOKEN: ADMIN,
      ATTESTO_QUEUE_PREFIX: `bench-capacity-${process.pid}`,
      LOG_LEVEL: "warn",
    },
    /"url": "([^"]+)"/,
  );
  const url = server.match[1]!;
  const attached = await openEmbeddedPostgres({ dir: embeddedPostgresDir(dataDir), runAsUser: process.env.ATTESTO_EMBEDDED_PG_USER ?? "attesto" });
  const sql = postgres(attached.url, { max: 1, onnotice: () => {} });
  try {
    const postmaster = Number(readFileSync(path.join(embeddedPostgresDir(dataDir), "data", "postmaster.pid"), "utf8").split("\n")[0]);
    const serverPid = server.child.pid!;
    // The embedded cluster may run below the server (it started it): its CPU is taken out of the server's.
    const pgInsideServer = isBelow(postmaster, serverPid);
    const { tenant } = await rpc<{ tenant: { id: string } }>(url, "AdminService/CreateTenant", { name: "bench-capacity" }, ADMIN);
    const { secret: key } = await rpc<{ secret: string }>(url, "AdminService/CreateApiKey", { tenantId: tenant.id, name: "bench" }, ADMIN);
    const streams = new Map<number, string>();
    for (const size of SIZES) streams.set(size, (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name: `capacity-${size}` }, key)).stream.id);
    const samples = new Map<number, Sample[]>(SIZES.map((s) => [s, []]));
    console.log(`rounds: ${ROUNDS} interleaved, ${process.env.BENCH_SECONDS ?? 5} s per load, 64 connections, one stream per size; PostgreSQL below the server: ${pgInsideServer}`);
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const order = SIZES.map((_, i) => SIZES[(i + round) % SIZES.length]!);
      for (const size of order) {
        // Incompressible (random base64): repeated characters would be compressed away by TOAST and WAL would look free.
        const fillers = Array.from({ length: 64 }, () =>
          randomBytes(Math.ceil(((size - 40) * 3) / 4))
            .toString("base64")
            .slice(0, size - 40),
        );
        const before = (await sql<Array<{ lsn: string }>>`SELECT pg_current_wal_lsn()::text AS lsn`)[0]!.lsn;
        const pgBefore = treeCpuSeconds(postmaster);
        const serverBefore = treeCpuSeconds(serverPid);
        const result = await appendEventLoad(url, key, () => {
          const i = n++;
          return { streamId: streams.get(size), sourceRef: `cap-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, filler: fillers[i % fillers.length] } };
        });
        const pgCpu = treeCpuSeconds(postmaster) - pgBefore;
        const serverCpu = treeCpuSeconds(serverPid) - serverBefore - (pgInsideServer ? pgCpu : 0);
        const bytes = (await sql<Array<{ bytes: string }>>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${before}::pg_lsn)::text AS bytes`)[0]!.bytes;
        const appends = result.total;
        if (result.errors || result.non2xx) process.exitCode = 1;
        const sample = { rate: result.requestsPerSecond, appends, serverMicros: (serverCpu / appends) * 1e6, postgresMicros: (pgCpu / appends) * 1e6, walBytes: Number(bytes) / appends };
        samples.get(size)!.push(sample);
        console.log(
          `round ${round + 1} payload ${fmt(size).padStart(6)} B: ${fmt(sample.rate)} appends/s, server ${fmt(sample.serverMicros)} µs, PostgreSQL ${fmt(sample.postgresMicros)} µs CPU per append, WAL ${fmt(sample.walBytes)} B per append (errors ${result.errors}, non-2xx ${result.non2xx})`,
        );
      }
    }
    // Stored bytes per event of each size: the events table (heap, TOAST and indexes) grows by this per append.
    const stored = new Map<number, number>();
    for (const size of SIZES) {
      const row = (
        await sql<Array<{ bytes: string; count: string }>>`
        SELECT sum(pg_column_size(e.*))::text AS bytes, count(*)::text AS count FROM events e WHERE stream_id = ${streams.get(size)!}`
      )[0]!;
      stored.set(size, Number(row.bytes) / Number(row.count));
    }
    const { total, events } = (await sql<Array<{ total: string; events: string }>>`SELECT pg_total_relation_size('events')::text AS total, (SELECT count(*) FROM events)::text AS events`)[0]!;
    const m = (size: number, f: (s: Sample) => number) => median(samples.get(size)!.map(f));
    console.log("");
    console.log(`| payload | appends/s (1 stream, 64 conn.) | server CPU/append | PostgreSQL CPU/append | WAL/append | row bytes/event | appends/s per PostgreSQL core (model) |`);
    console.log(`|---:|---:|---:|---:|---:|---:|---:|`);
    for (const size of SIZES) {
      const pg = m(size, (s) => s.postgresMicros);
      console.log(
        `| ${fmt(size)} B | ${fmt(m(size, (s) => s.rate))} | ${fmt(m(size, (s) => s.serverMicros))} µs | ${fmt(pg)} µs | ${fmt(m(size, (s) => s.walBytes))} B | ${fmt(stored.get(size)!)} B | ${fmt(1e6 / pg)} |`,
      );
    }
    console.log(`events table with its TOAST and indexes: ${fmt(Number(total) / Number(events))} B per event over ${fmt(Number(events))} events (all sizes)`);
    console.log(`medians of ${ROUNDS} rounds; the model divides a second of one core by PostgreSQL's CPU per append (disk and WAL bandwidth are the other ceilings: WAL/append × rate)`);
  } finally {
    await sql.end({ timeout: 5 });
    await stop(server.child);
    await attached.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
