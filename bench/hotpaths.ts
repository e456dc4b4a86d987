// Hot paths (issue 10): each comparison as interleaved rounds (baseline,
// subject, baseline, subject, …) against a baseline driven by the same load
// generator in the same run, the median of the per-round ratios printed in
// one table with the targets; plus the server's CPU per request (the
// spawned server's process tree, from /proc) for appends and proofs.
//
//   npm run bench:hotpaths
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_PROOF_EVENTS=1000000 BENCH_SERVE_ARGS="--workers 2" npm run bench:hotpaths
//   BENCH_TRACING=only|off: the tracing comparison (same server, tracing on vs off) alone, or skipped
//   BENCH_WITNESSING=only|off: the witnessing comparison (AppendEvent on a deployment with two witnesses and a
//     TSA vs one with neither, same settings, fresh databases) alone, or skipped;
//     BENCH_WITNESSING_PARTS=witnesses|tsa gives the witnessed deployment one of the two only
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHmac, randomBytes } from "node:crypto";
import os from "node:os";
import { startWitnessing } from "./witnessing.js";
import { type LoadResult, benchDatabase, benchTenant, bulkLoad, fmt, load, machineLine, rpc, serveEnv, spawnNode, stop, median, treeCpuSeconds } from "./lib.js";

process.env.BENCH_SECONDS ??= "5";
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const PROOF_EVENTS = Number(process.env.BENCH_PROOF_EVENTS ?? 1_000_000);
// The tracing comparison: "on" (default: after the others), "only" (it alone), "off" (skipped).
const TRACING = process.env.BENCH_TRACING ?? "on";
// The witnessing comparison: "on" (default: after the others), "only" (it alone), "off" (skipped).
const WITNESSING = process.env.BENCH_WITNESSING ?? "on";
// One process unless told otherwise: the figures compare with single-process baselines; --workers 2 reports the scaling.
const SERVE_ARGS = (process.env.BENCH_SERVE_ARGS ?? "--workers 1").split(/\s+/).filter(Boolean);
const LEAF_CACHE_MB = process.env.ATTESTO_LEAF_CACHE_MB ?? String(Math.max(256, Math.ceil((PROOF_EVENTS * 330) / 2 ** 20)));
const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();
/** A load whose server CPU per completed request is measured too. */
async function measured(pid: number, run: () => Promise<LoadResult>): Promise<LoadResult & { cpuMicros: number }> {
  const before = treeCpuSeconds(pid);
  const result = await run();
  const cpu = treeCpuSeconds(pid) - before;
  return { ...result, cpuMicros: result.total ? (cpu / result.total) * 1e6 : NaN };
}

/** One load run, with the server CPU per request when it was measured. */
type Run = LoadResult & { cpuMicros?: number };

interface Comparison {
  name: string;
  baseline: string;
  target: number;
  rounds: Array<{ base: Run; subject: Run }>;
  p99TargetMs?: number;
}

async function interleave(c: Omit<Comparison, "rounds">, base: () => Promise<Run>, subject: () => Promise<Run>): Promise<Comparison> {
  const rounds: Comparison["rounds"] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Which side runs first alternates: the second run of a round meets what the first left
    // behind (autovacuum, a checkpoint's writes, a warmer or colder cache), so a fixed order
    // would lean every round the same way.
    let b: Run;
    let s: Run;
    if (i % 2 === 0) {
      b = await base();
      s = await subject();
    } else {
      s = await subject();
      b = await base();
    }
    rounds.push({ base: b, subject: s });
    console.error(`  ${c.name} round ${i + 1}: ${fmt(b.requestsPerSecond)} vs ${fmt(s.requestsPerSecond)} req/s = ${fmt(s.requestsPerSecond / b.requestsPerSecond, 2)}`);
  }
  return { ...c, rounds };
}

function failures(r: LoadResult): number {
  return r.errors + r.non2xx;
}

async function main() {
  console.log(machineLine());
  console.log(`leaf cache: ${LEAF_CACHE_MB} MB (ATTESTO_LEAF_CACHE_MB); server CPU of the baselines measured the same way as the server's`);
  console.log(`rounds: ${ROUNDS} interleaved per comparison, ${process.env.BENCH_SECONDS} s each, 64 connections (autocannon in this process); serve args: ${SERVE_ARGS.join(" ") || "(none)"}`);
  const db = await benchDatabase();
  try {
    // The leaves of the 1,000,000-event proof stream take some 270 MB: a leaf cache that holds them all, as a server answering proofs of that stream would run with.
    const env = { ...serveEnv(db.url, ADMIN, "hot"), ATTESTO_LEAF_CACHE_MB: LEAF_CACHE_MB };
    const server = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", ...SERVE_ARGS], env, /"url": "([^"]+)"/);
    const serverPid = server.child.pid!;
    const url = server.match[1]!;
    const { tenant, key } = await benchTenant(url, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name }, key)).stream.id;
    const one = await newStream("hot-one");
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`hot-many-${i}`)));

    // The proof stream, bulk-loaded through the domain appender in this process.
    const big = await newStream("hot-proofs");
    const loadSeconds = await bulkLoad(db.url, tenant.id, big, PROOF_EVENTS, new Date(OCCURRED));
    await rpc(url, "ProofstreamService/CreateCheckpoint", { streamId: big }, key);

    const hmacKey = randomBytes(32);
    const bare = await spawnNode(["bench/baselines/bare.ts"], {}, /listening (\d+)/);
    const naiveInsert = await spawnNode(["bench/baselines/naive-insert.ts"], { DATABASE_URL: db.url, BENCH_HMAC_KEY: hmacKey.toString("hex") }, /listening (\d+)/);
    const naiveRead = await spawnNode(["bench/baselines/naive-point-read.ts"], { DATABASE_URL: db.url, BENCH_STREAM_ID: big }, /listening (\d+)/);

    const tag = randomBytes(4).toString("hex");
    let n = 0;
    const appendLoad = (streams: string[], base = url, apiKey = key) =>
      load({
        url: `${base}/attesto.v1.ProofstreamService/AppendEvent`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${apiKey}` },
        requests: [
          {
            setupRequest: (req) => {
              const i = n++;
              return { ...req, body: JSON.stringify({ streamId: streams[i % streams.length], sourceRef: `hot-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } }) };
            },
          },
        ],
      });
    let k = 0;
    const naiveInsertLoad = () =>
      load({
        url: `http://127.0.0.1:${naiveInsert.match[1]}/`,
        method: "POST",
        requests: [
          {
            setupRequest: (req) => {
              const body = JSON.stringify({ source_ref: `naive-${k++}`, payload: { i: k } });
              return { ...req, body, headers: { "content-type": "application/json", "x-signature": createHmac("sha256", hmacKey).update(body).digest("hex") } };
            },
          },
        ],
      });
    const randomSeq = () => String(1 + Math.floor(Math.random() * PROOF_EVENTS));
    const proofLoad = () =>
      load({
        url: `${url}/attesto.v1.ProofstreamService/GetInclusionProof`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ streamId: big, seqNo: randomSeq() }) }) }],
      });
    const pointReadLoad = () =>
      load({
        url: `http://127.0.0.1:${naiveRead.match[1]}/`,
        method: "POST",
        headers: { "content-type": "application/json" },
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ seqNo: randomSeq() }) }) }],
      });
    const bareLoad = () => load({ url: `http://127.0.0.1:${bare.match[1]}/`, method: "POST", body: "{}" });
    const tenantLoad = (base = url) =>
      load({
        url: `${base}/attesto.v1.TenantService/GetCurrentTenant`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        body: "{}",
      });

    // Warm-up, not counted: the server's frontiers, key cache and tile cache, as a long-running server has them
    // (one proof per level-0 tile reads every tile a proof can need into the cache).
    console.error("warming up");
    await appendLoad([one, ...many]);
    let tile = 0;
    await load({
      url: `${url}/attesto.v1.ProofstreamService/GetInclusionProof`,
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
      amount: Math.ceil(PROOF_EVENTS / 256),
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ streamId: big, seqNo: String(Math.min(PROOF_EVENTS, 1 + 256 * tile++)) }) }) }],
    });
    await proofLoad();
    await tenantLoad();

    const cmp: Comparison[] = [];
    if (TRACING !== "only" && WITNESSING !== "only") {
      cmp.push(
        await interleave(
          { name: "AppendEvent, 1 stream", baseline: "naive durable insert", target: 0.9, p99TargetMs: 25 },
          () => measured(naiveInsert.child.pid!, naiveInsertLoad),
          () => measured(serverPid, () => appendLoad([one])),
        ),
      );
      cmp.push(
        await interleave(
          { name: "AppendEvent, 100 streams", baseline: "AppendEvent, 1 stream", target: 0.9 },
          () => appendLoad([one]),
          () => measured(serverPid, () => appendLoad(many)),
        ),
      );
      cmp.push(
        await interleave(
          { name: `GetInclusionProof, ${fmt(PROOF_EVENTS)} events`, baseline: "naive point read", target: 1.0 },
          () => measured(naiveRead.child.pid!, pointReadLoad),
          () => measured(serverPid, proofLoad),
        ),
      );
      cmp.push(
        await interleave(
          { name: "GetCurrentTenant (cached key, from memory)", baseline: "bare node:http 204", target: 0.3 },
          () => measured(bare.child.pid!, bareLoad),
          () => measured(serverPid, () => tenantLoad()),
        ),
      );
    }
    if (TRACING !== "off" && WITNESSING !== "only") {
      // Tracing's cost: the same server (same settings and database) with tracing on, exporting to a
      // loopback sink that answers 200, against this one with it off; the target is no measurable cost when off.
      // With it on, each RPC also makes a span per Postgres statement and Redis command it sends. Server CPU per
      // request is measured too: on a shared machine it moves less than the request rate.
      const sink = http.createServer((req, res) => req.resume().on("end", () => res.writeHead(200).end()));
      await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
      const tracesUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;
      const traced = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", ...SERVE_ARGS], { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracesUrl }, /"url": "([^"]+)"/);
      const tracedUrl = traced.match[1]!;
      await appendLoad([one], tracedUrl);
      await tenantLoad(tracedUrl);
      cmp.push(
        await interleave(
          { name: "AppendEvent, 1 stream, tracing on", baseline: "the same, tracing off", target: 0.9 },
          () => measured(serverPid, () => appendLoad([one])),
          () => measured(traced.child.pid!, () => appendLoad([one], tracedUrl)),
        ),
      );
      cmp.push(
        await interleave(
          { name: "GetCurrentTenant, tracing on", baseline: "the same, tracing off", target: 0.9 },
          () => measured(serverPid, () => tenantLoad()),
          () => measured(traced.child.pid!, () => tenantLoad(tracedUrl)),
        ),
      );
      await stop(traced.child);
      sink.close();
    }

    let witnessedEvidence = "";
    if (WITNESSING !== "off" && TRACING !== "only") {
      // Appends never wait for witnesses or TSAs (issue 23): AppendEvent on a deployment that sends every
      // checkpoint (one a second per grown stream) to two witnesses and a TSA, against one with neither.
      const parts = (process.env.BENCH_WITNESSING_PARTS ?? "witnesses,tsa").split(",");
      const w = await startWitnessing(ADMIN, SERVE_ARGS, { ATTESTO_LEAF_CACHE_MB: LEAF_CACHE_MB }, { witnesses: parts.includes("witnesses"), tsa: parts.includes("tsa") });
      const label = parts.includes("witnesses") && parts.includes("tsa") ? "2 witnesses + TSA" : parts.includes("tsa") ? "a TSA" : "2 witnesses";
      try {
        await appendLoad([w.plain.streamId], w.plain.url, w.plain.key);
        await appendLoad([w.witnessed.streamId], w.witnessed.url, w.witnessed.key);
        cmp.push(
          await interleave(
            { name: `AppendEvent, 1 stream, ${label}`, baseline: "the same, neither", target: 0.9 },
            () => measured(w.plain.pid, () => appendLoad([w.plain.streamId], w.plain.url, w.plain.key)),
            () => measured(w.witnessed.pid, () => appendLoad([w.witnessed.streamId], w.witnessed.url, w.witnessed.key)),
          ),
        );
        // That the witnesses and the TSA were at work: the latest checkpoint, once its cosignatures and token are in.
        const deadline = Date.now() + 30_000;
        let e = await w.evidence();
        while ((e.cosignatures < (parts.includes("witnesses") ? 2 : 0) || e.timestamped !== parts.includes("tsa")) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          e = await w.evidence();
        }
        witnessedEvidence = `witnessed deployment: latest checkpoint of size ${fmt(e.treeSize)} carries ${e.cosignatures} cosignature lines and ${e.timestamped ? "a" : "no"} timestamp token`;
      } finally {
        await w.close();
      }
      witnessedEvidence += `; the TSA answered ${fmt(w.tsaQueries())} requests`;
    }

    await Promise.all([stop(bare.child), stop(naiveInsert.child), stop(naiveRead.child), stop(server.child)]);

    console.log(
      `\nproof stream: ${fmt(PROOF_EVENTS)} events bulk-loaded in ${fmt(loadSeconds, 1)} s; load average after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    if (witnessedEvidence) console.log(witnessedEvidence);
    console.log("\n| subject | baseline | subject req/s (median) | baseline req/s (median) | ratio per round | median ratio | target | subject p99 ms (median) | failed requests | met |");
    console.log("|---|---|---:|---:|---|---:|---:|---:|---:|---|");
    const cpuRows: string[] = [];
    for (const c of cmp) {
      const ratios = c.rounds.map((r) => r.subject.requestsPerSecond / r.base.requestsPerSecond);
      const ratio = median(ratios);
      const p99 = median(c.rounds.map((r) => r.subject.p99Ms));
      const failed = c.rounds.reduce((t, r) => t + failures(r.subject) + failures(r.base), 0);
      const met = ratio >= c.target && (c.p99TargetMs === undefined || p99 <= c.p99TargetMs) && failed === 0;
      const target = `≥ ${fmt(c.target, 1)}${c.p99TargetMs ? `, p99 ≤ ${c.p99TargetMs} ms` : ""}`;
      console.log(
        `| ${c.name} | ${c.baseline} | ${fmt(median(c.rounds.map((r) => r.subject.requestsPerSecond)))} | ${fmt(median(c.rounds.map((r) => r.base.requestsPerSecond)))} | ${ratios.map((x) => fmt(x, 2)).join(", ")} | **${fmt(ratio, 2)}** | ${target} | ${fmt(p99, 1)} | ${failed} | ${met ? "yes" : "no"} |`,
      );
      const cpu = c.rounds.map((r) => r.subject.cpuMicros).filter((x): x is number => x !== undefined && Number.isFinite(x));
      const baseCpu = c.rounds.map((r) => r.base.cpuMicros).filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (baseCpu.length) cpuRows.push(`| server CPU per request: ${c.baseline} (baseline) | – | | | ${baseCpu.map((x) => fmt(x)).join(", ")} µs | **${fmt(median(baseCpu))} µs** | – | | | – |`);
      if (cpu.length)
        cpuRows.push(
          `| server CPU per request: ${c.name} | – | | | ${cpu.map((x) => fmt(x)).join(", ")} µs | **${fmt(median(cpu))} µs** | ${c.name.startsWith("GetInclusionProof") ? "≤ 120 µs" : "–"} | | | ${c.name.startsWith("GetInclusionProof") ? (median(cpu) <= 120 ? "yes" : "no") : "–"} |`,
        );
    }
    for (const row of cpuRows) console.log(row);
    console.log("\nserver CPU: user + system time of the spawned server's process tree (/proc/<pid>/stat) over the round, divided by the requests completed; Postgres's own CPU is not in it.");
  } finally {
    await db.drop();
  }
}

await main();
process.exit(0);
