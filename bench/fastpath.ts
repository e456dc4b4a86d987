// Issue 10 items 1 and 5: server CPU per request and throughput of the Connect
// unary fast path against connect-node (ATTESTO_RPC_FAST_PATH=on|off, two
// servers on one database, loaded one at a time), and /healthz through Hono
// against the plain handler. Interleaved rounds (off, on, off, on, …); the
// median of the per-round ratios is what counts on a shared machine.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { benchDatabase, benchTenant, fmt, load, machine, rpc, serveEnv, spawnNode, stop, type LoadResult } from "./lib.js";

const ADMIN = "bench-operator-token-0123456789";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TICK_US = 1e6 / 100; // USER_HZ

/** utime + stime of a process, in µs. */
function cpuOf(child: ChildProcess): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

interface Figure {
  rps: number;
  cpuUs: number;
  p99: number;
}

async function measured(child: ChildProcess, run: () => Promise<LoadResult>): Promise<Figure> {
  const before = cpuOf(child);
  const r = await run();
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return { rps: r.requestsPerSecond, cpuUs: (cpuOf(child) - before) / r.total, p99: r.p99Ms };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  console.log(`machine: ${machine()}`);
  const db = await benchDatabase();
  const env = serveEnv(db.url, ADMIN, "fastpath");
  const servers: Record<"off" | "on", { child: ChildProcess; url: string }> = {} as never;
  try {
    for (const mode of ["off", "on"] as const) {
      const s = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"], { ...env, ATTESTO_RPC_FAST_PATH: mode }, /"url": "([^"]+)"/);
      servers[mode] = { child: s.child, url: s.match[1]! };
    }
    const url = servers.on.url;
    const { key } = await benchTenant(url, ADMIN);
    const { stream } = await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name: "bench" }, key);
    const headers = { "Content-Type": "application/json", Authorization: `Bearer ${key}` };
    let n = 0;
    const tag = randomBytes(4).toString("hex");
    const workloads = {
      GetCurrentTenant: (base: string) => load({ url: `${base}/attesto.v1.TenantService/GetCurrentTenant`, method: "POST", headers, body: "{}" }),
      AppendEvent: (base: string) =>
        load({
          url: `${base}/attesto.v1.ProofstreamService/AppendEvent`,
          method: "POST",
          headers,
          requests: [
            {
              setupRequest: (req) => ({
                ...req,
                body: JSON.stringify({ streamId: stream.id, sourceRef: `b-${tag}-${n++}`, eventType: "bench.event", occurredAt: "2026-06-07T12:00:00Z", payload: { n } }),
              }),
            },
          ],
        }),
    };
    const table: string[] = [];
    for (const [name, work] of Object.entries(workloads)) {
      // Warm both (JIT, key cache, the append path's stream ownership).
      for (const mode of ["off", "on"] as const) await work(servers[mode].url);
      const figures: Record<"off" | "on", Figure[]> = { off: [], on: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of ["off", "on"] as const) {
          const f = await measured(servers[mode].child, () => work(servers[mode].url));
          figures[mode].push(f);
          console.log(`${name} ${mode === "on" ? "fast path  " : "connect-node"} round ${round + 1}: ${fmt(f.rps)} req/s, ${fmt(f.cpuUs)} µs CPU/req, p99 ${f.p99} ms`);
        }
      }
      const cpuRatio = median(figures.on.map((f, i) => f.cpuUs / figures.off[i]!.cpuUs));
      const rpsRatio = median(figures.on.map((f, i) => f.rps / figures.off[i]!.rps));
      table.push(
        `| ${name} | ${fmt(median(figures.off.map((f) => f.cpuUs)))} | ${fmt(median(figures.on.map((f) => f.cpuUs)))} | ${fmt(cpuRatio, 2)} | ${fmt(median(figures.off.map((f) => f.rps)))} | ${fmt(median(figures.on.map((f) => f.rps)))} | ${fmt(rpsRatio, 2)} |`,
      );
    }
    for (const mode of ["off", "on"] as const) await stop(servers[mode].child);

    // /healthz: Hono (before item 5) against the plain handler, same edge.
    const health: Record<"hono" | "plain", { child: ChildProcess; url: string }> = {} as never;
    for (const mode of ["hono", "plain"] as const) {
      const s = await spawnNode(["bench/baselines/health.ts"], { HEALTH_MODE: mode }, /listening (\d+)/);
      health[mode] = { child: s.child, url: `http://127.0.0.1:${s.match[1]}/healthz` };
      await load({ url: health[mode].url, duration: 1 });
    }
    const hf: Record<"hono" | "plain", Figure[]> = { hono: [], plain: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ["hono", "plain"] as const) {
        const f = await measured(health[mode].child, () => load({ url: health[mode].url }));
        hf[mode].push(f);
        console.log(`/healthz ${mode} round ${round + 1}: ${fmt(f.rps)} req/s, ${fmt(f.cpuUs)} µs CPU/req`);
      }
    }
    table.push(
      `| /healthz (Hono → plain) | ${fmt(median(hf.hono.map((f) => f.cpuUs)))} | ${fmt(median(hf.plain.map((f) => f.cpuUs)))} | ${fmt(median(hf.plain.map((f, i) => f.cpuUs / hf.hono[i]!.cpuUs)), 2)} | ${fmt(median(hf.hono.map((f) => f.rps)))} | ${fmt(median(hf.plain.map((f) => f.rps)))} | ${fmt(median(hf.plain.map((f, i) => f.rps / hf.hono[i]!.rps)), 2)} |`,
    );
    for (const mode of ["hono", "plain"] as const) await stop(health[mode].child);

    console.log(`\n${ROUNDS} interleaved rounds, 64 connections, ${process.env.BENCH_SECONDS ?? 10} s each; medians; ratios are medians of per-round ratios`);
    console.log("| call | CPU µs/req before | CPU µs/req fast path | CPU ratio | req/s before | req/s fast path | req/s ratio |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const row of table) console.log(row);
  } finally {
    for (const s of Object.values(servers)) await stop(s.child);
    await db.drop();
  }
}

await main();
process.exit(0);
