// Proofstream benchmark: AppendEvent throughput and latency on one and on 100
// streams, ack-to-checkpoint lag, and inclusion proofs on a 1,000,000-event
// stream, beside two baselines driven by the same load generator in the same
// run: a bare node:http server answering 204, and a naive durable-insert
// server (HMAC + JSON parse + one INSERT per request).
//
//   npm run bench:proofstream            (BENCH_SECONDS=10, BENCH_PROOF_EVENTS=1000000)
import { createHmac, randomBytes } from "node:crypto";
import postgres from "postgres";
import { type LoadResult, benchDatabase, benchTenant, bulkLoad, fmt, load, machine, percentile, rpc, spawnNode, stop } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const PROOF_EVENTS = Number(process.env.BENCH_PROOF_EVENTS ?? 1_000_000);
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();

/** Server-side latency of one route, from the Prometheus histogram delta between two scrapes. */
function histogram(text: string, route: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^attesto_http_request_duration_seconds_bucket\\{le="([^"]+)",route="${route.replace(/[./]/g, "\\$&")}",method="POST",status="200"\\} (\\d+)$`, "gm");
  for (const m of text.matchAll(re)) out.set(m[1]!, Number(m[2]));
  return out;
}

function serverSideShare(before: Map<string, number>, after: Map<string, number>, le: string): { share: number; count: number } {
  const total = (after.get("+Inf") ?? 0) - (before.get("+Inf") ?? 0);
  const within = (after.get(le) ?? 0) - (before.get(le) ?? 0);
  return { share: total ? within / total : NaN, count: total };
}

function appendLoad(url: string, token: string, streams: string[], samples?: Array<[number, number]>) {
  let n = 0;
  const tag = randomBytes(4).toString("hex");
  return load({
    url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (req) => {
          const i = n++;
          return { ...req, body: JSON.stringify({ streamId: streams[i % streams.length], sourceRef: `bench-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } }) };
        },
        onResponse: (status, body) => {
          // Sample acks for the lag figure; parsing every body would load the generator.
          if (samples && status === 200 && n % 16 === 0) samples.push([Number((JSON.parse(body) as { event: { seqNo: string } }).event.seqNo), Date.now()]);
        },
      },
    ],
  });
}

async function main() {
  console.log(`machine: ${machine()}`);
  const db = await benchDatabase();
  const results: Array<[string, LoadResult]> = [];
  try {
    // Baselines first, each alone on the machine.
    const bare = await spawnNode(["bench/baselines/bare.ts"], {}, /listening (\d+)/);
    const bareResult = await load({ url: `http://127.0.0.1:${bare.match[1]}/`, method: "POST", body: '{"x":1}' });
    results.push(["bare node:http 204", bareResult]);
    await stop(bare.child);

    const hmacKey = randomBytes(32);
    const naive = await spawnNode(["bench/baselines/naive-insert.ts"], { DATABASE_URL: db.url, BENCH_HMAC_KEY: hmacKey.toString("hex") }, /listening (\d+)/);
    let k = 0;
    const naiveResult = await load({
      url: `http://127.0.0.1:${naive.match[1]}/`,
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
    results.push(["naive durable insert", naiveResult]);
    await stop(naive.child);

    const encryptionKey = randomBytes(32).toString("base64");
    const server = await spawnNode(
      ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
      {
        DATABASE_URL: db.url,
        ATTESTO_ENCRYPTION_KEY: encryptionKey,
        ATTESTO_ADMIN_TOKEN: ADMIN,
        ATTESTO_QUEUE_PREFIX: `bench-${process.pid}`,
        ATTESTO_DATA_DIR: `/tmp/attesto-bench-${process.pid}`,
        LOG_LEVEL: "warn",
      },
      /"url": "([^"]+)"/,
    );
    const url = server.match[1]!;
    const { tenant, key } = await benchTenant(url, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name }, key)).stream.id;

    const one = await newStream("bench-one");
    const samples: Array<[number, number]> = [];
    const oneResult = await appendLoad(url, key, [one], samples);
    results.push(["AppendEvent, 1 stream", oneResult]);

    // Lag from ack to the first signed checkpoint that covers the event.
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const [head] = await sql<Array<{ tree_size: string }>>`SELECT tree_size FROM streams WHERE id = ${one}`;
    const size = Number(head!.tree_size);
    for (let i = 0; i < 100; i++) {
      const [row] = await sql<Array<{ checkpoint_size: string }>>`SELECT checkpoint_size FROM streams WHERE id = ${one}`;
      if (Number(row!.checkpoint_size) >= size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cps = (await sql<Array<{ tree_size: string; signed_at: Date }>>`SELECT tree_size, signed_at FROM checkpoints WHERE stream_id = ${one} ORDER BY tree_size`).map(
      (r) => [Number(r.tree_size), r.signed_at.getTime()] as const,
    );
    const lags = samples.map(([seq, ackedAt]) => (cps.find(([n]) => n >= seq)?.[1] ?? NaN) - ackedAt).filter(Number.isFinite);

    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`bench-many-${i}`)));
    results.push(["AppendEvent, 100 streams", await appendLoad(url, key, many)]);

    // A stream of PROOF_EVENTS events, loaded through the domain appender in this process.
    const big = await newStream("bench-proofs");
    const loadSeconds = await bulkLoad(db.url, tenant.id, big, PROOF_EVENTS, new Date(OCCURRED));
    await rpc(url, "ProofstreamService/CreateCheckpoint", { streamId: big }, key);

    const proofLoad = () =>
      load({
        url: `${url}/attesto.v1.ProofstreamService/GetInclusionProof`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ streamId: big, seqNo: String(1 + Math.floor(Math.random() * PROOF_EVENTS)) }) }) }],
      });
    await proofLoad(); // warm the tile cache, as a long-running server would be
    const route = "/attesto.v1.ProofstreamService/GetInclusionProof";
    const before = histogram(await (await fetch(`${url}/metrics`)).text(), route);
    const proofResult = await proofLoad();
    const after = histogram(await (await fetch(`${url}/metrics`)).text(), route);
    results.push([`GetInclusionProof, ${fmt(PROOF_EVENTS)} events`, proofResult]);
    const within1ms = serverSideShare(before, after, "0.001");
    await sql.end();
    await stop(server.child);

    console.log("\n| run (64 connections) | requests/s | p50 ms | p99 ms | errors | non-2xx |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const [name, r] of results) console.log(`| ${name} | ${fmt(r.requestsPerSecond)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${r.errors} | ${r.non2xx} |`);
    console.log("\nratios in this run:");
    console.log(`  AppendEvent (1 stream) / naive durable insert = ${fmt(oneResult.requestsPerSecond / naiveResult.requestsPerSecond, 2)}   (target ≥ 0.8, and ≥ 10,000/s, p99 ≤ 25 ms)`);
    console.log(`  AppendEvent (1 stream) / bare node:http      = ${fmt(oneResult.requestsPerSecond / bareResult.requestsPerSecond, 2)}`);
    console.log(`  naive durable insert / bare node:http        = ${fmt(naiveResult.requestsPerSecond / bareResult.requestsPerSecond, 2)}`);
    console.log(
      `ack → signed checkpoint lag (${lags.length} sampled acks): p50 ${fmt(percentile(lags, 50))} ms, p99 ${fmt(percentile(lags, 99))} ms, max ${fmt(Math.max(...lags))} ms   (target p99 ≤ 2,000 ms)`,
    );
    console.log(`proof stream: ${fmt(PROOF_EVENTS)} events loaded in ${fmt(loadSeconds, 1)} s (${fmt(PROOF_EVENTS / loadSeconds)} events/s through the appender, in process)`);
    console.log(`GetInclusionProof server-side: ${fmt(within1ms.share * 100, 1)}% of ${fmt(within1ms.count)} requests within 1 ms (p50 ≤ 1 ms when ≥ 50%)   (target ≥ 10,000 proofs/s)`);
  } finally {
    await db.drop();
  }
}

await main();
process.exit(0);
