// Multi-core benchmark: `serve --workers 1` against `serve --workers 2` on
// the same database, AppendEvent at 64 connections on one stream (both
// workers append to the same stream: each batch of a worker that did not
// write the stream last takes the locked path) and on 100 streams.
//
// Rounds are interleaved (workers 1, workers 2, workers 1, ...) and each
// figure is the median of the per-round ratios workers 2 / workers 1. On a
// 2-core machine the load generator, Postgres and Redis compete with the
// workers for the same cores: the ratio is a floor of what more cores give.
//
//   npm run bench:workers        (BENCH_SECONDS=5 BENCH_ROUNDS=3)
import { randomBytes } from "node:crypto";
import os from "node:os";
import postgres from "postgres";
import { type LoadResult, benchDatabase, benchTenant, fmt, load, machine, rpc, serveEnv, spawnNode, stop, median } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const OCCURRED = new Date("2026-06-07T12:00:00Z").toISOString();

function appendLoad(url: string, token: string, streams: string[], tag: string): Promise<LoadResult> {
  let n = 0;
  return load({
    url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
    method: "POST",
    duration: SECONDS,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (req) => {
          const i = n++;
          return { ...req, body: JSON.stringify({ streamId: streams[i % streams.length], sourceRef: `bench-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } }) };
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
  try {
    // Tenant, key and streams once, on the shared database.
    const setup = await serve(1);
    const url = setup.match[1]!;
    const { key } = await benchTenant(url, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name }, key)).stream.id;
    const one = await newStream("bench-one");
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`bench-many-${i}`)));
    await stop(setup.child);

    const figures = new Map<string, { w1: LoadResult[]; w2: LoadResult[]; b1: number[]; b2: number[] }>([
      ["AppendEvent, 1 stream", { w1: [], w2: [], b1: [], b2: [] }],
      ["AppendEvent, 100 streams", { w1: [], w2: [], b1: [], b2: [] }],
    ]);
    // Events per commit: the rows a load inserted (its tag is in their payload) over the distinct transactions
    // that inserted them (xmin); counted after the load, so the counting costs it nothing.
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const batchOf = async (tag: string) => {
      const [row] = await sql<Array<{ events: string; commits: string }>>`
        SELECT count(*) AS events, count(DISTINCT xmin::text) AS commits FROM events WHERE payload->>'tag' = ${tag}`;
      return Number(row!.events) / Math.max(1, Number(row!.commits));
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const workers of [1, 2] as const) {
        const server = await serve(workers);
        const base = server.match[1]!;
        // A short warm-up: connections, key cache, JIT.
        await load({ url: `${base}/healthz`, duration: 1 });
        const [oneTag, manyTag] = [randomBytes(4).toString("hex"), randomBytes(4).toString("hex")];
        const oneResult = await appendLoad(base, key, [one], oneTag);
        const manyResult = await appendLoad(base, key, many, manyTag);
        const oneFigure = figures.get("AppendEvent, 1 stream")!;
        const manyFigure = figures.get("AppendEvent, 100 streams")!;
        oneFigure[workers === 1 ? "w1" : "w2"].push(oneResult);
        manyFigure[workers === 1 ? "w1" : "w2"].push(manyResult);
        await stop(server.child);
        oneFigure[workers === 1 ? "b1" : "b2"].push(await batchOf(oneTag));
        manyFigure[workers === 1 ? "b1" : "b2"].push(await batchOf(manyTag));
        process.stderr.write(`round ${round + 1}, workers ${workers}: 1 stream ${fmt(oneResult.requestsPerSecond)}/s, 100 streams ${fmt(manyResult.requestsPerSecond)}/s\n`);
      }
    }
    console.log(
      `${ROUNDS} interleaved rounds of ${SECONDS} s at 64 connections; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    console.log("figure                      workers 1 (median)   workers 2 (median)   p99 w1 / w2 (ms)   events per commit w1 / w2   workers 2 / workers 1 (median of rounds)");
    for (const [name, { w1, w2, b1, b2 }] of figures) {
      const ratios = w1.map((r, i) => w2[i]!.requestsPerSecond / r.requestsPerSecond);
      const errors = [...w1, ...w2].reduce((n, r) => n + r.errors + r.non2xx, 0);
      console.log(
        `${name.padEnd(26)}  ${fmt(median(w1.map((r) => r.requestsPerSecond))).padStart(10)}/s  ${fmt(median(w2.map((r) => r.requestsPerSecond))).padStart(16)}/s   ${fmt(median(w1.map((r) => r.p99Ms)))} / ${fmt(median(w2.map((r) => r.p99Ms)))}   ${fmt(median(b1), 1)} / ${fmt(median(b2), 1)}   ${median(ratios).toFixed(2)} × (rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")})${errors ? `; ${errors} errors or non-2xx` : ""}`,
      );
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
