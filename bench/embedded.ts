// Embedded default benchmark: AppendEvent (one stream, autocannon, 64
// connections) on a server on the embedded PostgreSQL (no DATABASE_URL) and on
// the same build on the system PostgreSQL (DATABASE_URL), both running in this
// run, loaded in turn over interleaved rounds (the order alternates per round).
// The figure is embedded ÷ system; the target is ≥ 0.8.
//
//   npm run bench:embedded            (BENCH_SECONDS=10 per load, BENCH_ROUNDS=3)
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { openEmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { embeddedPostgresDir } from "../src/db/open.js";
import { type LoadResult, benchDatabase, fmt, load, machine, rpc, spawnNode, stop } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();

interface Target {
  label: string;
  url: string;
  key: string;
  stream: string;
  results: LoadResult[];
}

async function serve(label: string, env: NodeJS.ProcessEnv) {
  const startedAt = Date.now();
  const server = await spawnNode(
    ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
    { ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"), ATTESTO_ADMIN_TOKEN: ADMIN, LOG_LEVEL: "warn", ...env },
    /"url": "([^"]+)"/,
  );
  const startMs = Date.now() - startedAt;
  const url = server.match[1]!;
  const { tenant } = await rpc<{ tenant: { id: string } }>(url, "AdminService/CreateTenant", { name: `bench-${label}` }, ADMIN);
  const { secret: key } = await rpc<{ secret: string }>(url, "AdminService/CreateApiKey", { tenantId: tenant.id, name: "bench" }, ADMIN);
  const { stream } = await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name: "bench-one" }, key);
  const target: Target = { label, url, key, stream: stream.id, results: [] };
  return { child: server.child, target, startMs };
}

function appendLoad(target: Target) {
  let n = 0;
  const tag = randomBytes(4).toString("hex");
  return load({
    url: `${target.url}/attesto.v1.ProofstreamService/AppendEvent`,
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${target.key}` },
    requests: [
      {
        setupRequest: (req) => {
          const i = n++;
          return { ...req, body: JSON.stringify({ streamId: target.stream, sourceRef: `bench-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } }) };
        },
      },
    ],
  });
}

/** The settings that decide write throughput, to show both servers run alike. */
async function settings(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<Array<{ name: string; setting: string }>>`
      SELECT name, current_setting(name) AS setting FROM pg_settings
      WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections') ORDER BY name`;
    return rows.map((r) => `${r.name}=${r.setting}`).join(" ");
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  console.log(`machine: ${machine()}`);
  const db = await benchDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "attesto-bench-embedded-"));
  const children: Array<Awaited<ReturnType<typeof serve>>["child"]> = [];
  try {
    const system = await serve("system", { DATABASE_URL: db.url, ATTESTO_QUEUE_PREFIX: `bench-sys-${process.pid}`, ATTESTO_DATA_DIR: `${dataDir}-system` });
    children.push(system.child);
    const embedded = await serve("embedded", { DATABASE_URL: "", ATTESTO_QUEUE_PREFIX: `bench-emb-${process.pid}`, ATTESTO_DATA_DIR: dataDir });
    children.push(embedded.child);
    console.log(`embedded server: first start (creating the cluster) ${fmt(embedded.startMs)} ms to listening`);

    // The bench attaches to the server's cluster as a second process would (it stays the server's).
    const attached = await openEmbeddedPostgres({ dir: embeddedPostgresDir(dataDir), runAsUser: process.env.ATTESTO_EMBEDDED_PG_USER ?? "attesto" });
    console.log(`system   PostgreSQL: ${await settings(db.url)}`);
    console.log(`embedded PostgreSQL: ${await settings(attached.url)}`);

    const targets = [system.target, embedded.target];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const result = await appendLoad(target);
        target.results.push(result);
        console.log(
          `round ${round + 1} ${target.label.padEnd(8)} ${fmt(result.requestsPerSecond)} appends/s  p50 ${fmt(result.p50Ms)} ms  p99 ${fmt(result.p99Ms)} ms  errors ${result.errors}  non-2xx ${result.non2xx}`,
        );
      }
    }

    const rate = (t: Target) => median(t.results.map((r) => r.requestsPerSecond));
    const p99 = (t: Target) => median(t.results.map((r) => r.p99Ms));
    const ratio = rate(embedded.target) / rate(system.target);
    console.log("");
    console.log(`| AppendEvent, 1 stream (median of ${ROUNDS} rounds) | appends/s | p99 ms |`);
    console.log(`|---|---:|---:|`);
    console.log(`| system PostgreSQL (DATABASE_URL) | ${fmt(rate(system.target))} | ${fmt(p99(system.target))} |`);
    console.log(`| embedded PostgreSQL (default) | ${fmt(rate(embedded.target))} | ${fmt(p99(embedded.target))} |`);
    console.log(`embedded ÷ system: ${fmt(ratio, 2)} (target ≥ 0.80)`);
    const failed = targets.flatMap((t) => t.results).some((r) => r.errors > 0 || r.non2xx > 0);
    if (failed) process.exitCode = 1;
  } finally {
    for (const child of children.reverse()) await stop(child);
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(`${dataDir}-system`, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
