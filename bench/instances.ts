// Instances behind a load balancer (issue 28): AppendEvent at 64 connections
// through HAProxy in front of three instances (the topology's configuration,
// scripts/topology/instances.ts) against the same load sent straight to one
// of them, on one database and one Redis, interleaved over rounds (the order
// alternates per round), on one stream and on 100 streams. Reported, not
// targeted: on a 2-core machine the instances, HAProxy, PostgreSQL and the
// load generator share the cores, so more instances cannot add throughput
// here (docs/operator.md, "Capacity per event size", says what scales).
//
//   npm run bench:instances        (BENCH_SECONDS=5 per load, BENCH_ROUNDS=3)
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { attestoHaproxyConfig } from "../scripts/topology/instances.js";
import { freePort } from "../scripts/topology/process.js";
import { type LoadResult, appendEventLoad, benchDatabase, benchTenant, fmt, machineLine, median, rpc, serveEnv, spawnNode, stop } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const INSTANCES = 3;
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();

async function main() {
  console.log(machineLine());
  const db = await benchDatabase();
  const dir = mkdtempSync(path.join(os.tmpdir(), "attesto-bench-instances-"));
  const children: Array<Awaited<ReturnType<typeof spawnNode>>["child"]> = [];
  try {
    // One deployment: one env (database, queues, master key) for every instance.
    const env = { ...serveEnv(db.url, ADMIN, "instances"), ATTESTO_MAX_CONNECTIONS_PER_IP: "0" };
    const urls: string[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const server = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"], env, /"url": "([^"]+)"/);
      children.push(server.child);
      urls.push(server.match[1]!);
    }
    const [httpPort, h2cPort] = [await freePort(), await freePort()];
    const cfg = path.join(dir, "haproxy.cfg");
    writeFileSync(cfg, attestoHaproxyConfig({ httpPort, h2cPort, instances: urls.map((u) => new URL(u).host) }));
    const haproxy = spawn("haproxy", ["-f", cfg, "-db"], { stdio: "ignore" });
    const balancer = `http://127.0.0.1:${httpPort}`;
    for (
      let i = 0;
      i < 100 &&
      (await fetch(`${balancer}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200;
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    const { key } = await benchTenant(urls[0]!, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(urls[0]!, "ProofstreamService/CreateStream", { name }, key)).stream.id;
    const one = [await newStream("inst-one")];
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`inst-many-${i}`)));
    let n = 0;
    const tag = randomBytes(4).toString("hex");
    const appendLoad = (base: string, streams: string[]) =>
      appendEventLoad(base, key, () => {
        const i = n++;
        return { streamId: streams[i % streams.length], sourceRef: `inst-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } };
      });
    console.log(`rounds: ${ROUNDS} interleaved, ${process.env.BENCH_SECONDS ?? 5} s per load, 64 connections; ${INSTANCES} instances (--workers 1 each) behind HAProxy vs one instance direct`);
    await appendLoad(balancer, many); // warm-up: caches and prepared statements on every instance
    const rows: string[] = [];
    for (const [label, streams] of [
      ["1 stream", one],
      ["100 streams", many],
    ] as const) {
      const base: LoadResult[] = [];
      const subject: LoadResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (["one", "three"] as const) : (["three", "one"] as const);
        for (const which of order) {
          const result = which === "one" ? await appendLoad(urls[0]!, streams) : await appendLoad(balancer, streams);
          (which === "one" ? base : subject).push(result);
          if (result.errors || result.non2xx) process.exitCode = 1;
          console.log(
            `${label} round ${round + 1} ${which === "one" ? "1 instance " : `${INSTANCES} instances`}: ${fmt(result.requestsPerSecond)} appends/s, p99 ${fmt(result.p99Ms)} ms (errors ${result.errors}, non-2xx ${result.non2xx})`,
          );
        }
      }
      const ratios = base.map((b, i) => subject[i]!.requestsPerSecond / b.requestsPerSecond);
      rows.push(
        `| ${label} | ${fmt(median(base.map((r) => r.requestsPerSecond)))} | ${fmt(median(subject.map((r) => r.requestsPerSecond)))} | ${fmt(median(ratios), 2)} (${ratios.map((r) => fmt(r, 2)).join(", ")}) |`,
      );
    }
    console.log("");
    console.log(`| AppendEvent | 1 instance, appends/s | ${INSTANCES} instances behind HAProxy, appends/s | ratio, median (rounds) |`);
    console.log(`|---|---:|---:|---:|`);
    for (const row of rows) console.log(row);
    haproxy.kill("SIGKILL");
  } finally {
    for (const child of children.reverse()) await stop(child);
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
