// Connector benchmark: signed-webhook ingress at 64 concurrent senders on one
// connector, against AppendEvent on one stream and the naive durable-insert
// baseline of bench/proofstream.ts, all in the same run and interleaved over
// BENCH_ROUNDS rounds (so machine noise hits each alike). The figure is the
// ratio of connector ingress to AppendEvent (target ≥ 0.9): the adapter,
// signature check and diagnostics may cost at most a tenth.
//
//   npm run bench:connectors            (BENCH_SECONDS=5, BENCH_ROUNDS=3)
import { createHmac, randomBytes } from "node:crypto";
import { type LoadResult, benchDatabase, benchTenant, fmt, load, machine, rpc, serveEnv, spawnNode, stop } from "./lib.js";

const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = process.env.BENCH_SECONDS ?? "5";
const OCCURRED = "2026-06-07T12:00:00Z";

async function main() {
  process.env.BENCH_SECONDS = SECONDS;
  console.log(`machine: ${machine()}; ${ROUNDS} rounds of ${SECONDS} s each, 64 connections`);
  const db = await benchDatabase();
  const children: Array<Awaited<ReturnType<typeof spawnNode>>["child"]> = [];
  try {
    const hmacKey = randomBytes(32);
    const naive = await spawnNode(["bench/baselines/naive-insert.ts"], { DATABASE_URL: db.url, BENCH_HMAC_KEY: hmacKey.toString("hex") }, /listening (\d+)/);
    children.push(naive.child);
    const server = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"], serveEnv(db.url, ADMIN, "con"), /"url": "([^"]+)"/);
    children.push(server.child);
    const url = server.match[1]!;
    const { key } = await benchTenant(url, ADMIN);
    const newStream = async (name: string) => (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name }, key)).stream.id;
    const appendStream = await newStream("bench-append");
    const connectorStream = await newStream("bench-connector");
    const { connector, secret } = await rpc<{ connector: { id: string }; secret: string }>(
      url,
      "ConnectorService/CreateConnector",
      { streamId: connectorStream, name: "bench", kind: "CONNECTOR_KIND_SIGNED_WEBHOOK" },
      key,
    );

    const tag = randomBytes(4).toString("hex");
    let n = 0;
    const naiveLoad = () =>
      load({
        url: `http://127.0.0.1:${naive.match[1]}/`,
        method: "POST",
        requests: [
          {
            setupRequest: (req) => {
              const body = JSON.stringify({ source_ref: `naive-${tag}-${n++}`, payload: { i: n, tag } });
              return { ...req, body, headers: { "content-type": "application/json", "x-signature": createHmac("sha256", hmacKey).update(body).digest("hex") } };
            },
          },
        ],
      });
    const appendLoad = () =>
      load({
        url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
        requests: [
          {
            setupRequest: (req) => {
              const i = n++;
              return { ...req, body: JSON.stringify({ streamId: appendStream, sourceRef: `bench-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { i, tag } }) };
            },
          },
        ],
      });
    // The same event shape as AppendEvent, signed per request by the sender as the seed says.
    const connectorLoad = () =>
      load({
        url: `${url}/v2/connectors/signed-webhooks/${connector.id}/events`,
        method: "POST",
        requests: [
          {
            setupRequest: (req) => {
              const i = n++;
              const body = JSON.stringify({ source_ref: `bench-${tag}-${i}`, event_type: "bench.event", occurred_at: OCCURRED, payload: { i, tag } });
              const ts = String(Math.floor(Date.now() / 1000));
              const signature = createHmac("sha256", secret).update(`${ts}.`).update(body).digest("hex");
              return {
                ...req,
                body,
                headers: { "content-type": "application/json", "x-attesto-connector-timestamp": ts, "x-attesto-connector-signature": signature },
              };
            },
          },
        ],
      });

    // Warm-up (JIT, pools, caches), not counted.
    process.env.BENCH_SECONDS = "2";
    await appendLoad();
    await connectorLoad();
    process.env.BENCH_SECONDS = SECONDS;

    const rows: Array<{ round: number; naive: LoadResult; append: LoadResult; connector: LoadResult }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate the order each round so no contender always runs first.
      const order = [
        ["naive", naiveLoad],
        ["append", appendLoad],
        ["connector", connectorLoad],
      ] as const;
      const results: Record<string, LoadResult> = {};
      for (let k = 0; k < order.length; k++) {
        const [name, run] = order[(k + round - 1) % order.length]!;
        results[name] = await run();
      }
      rows.push({ round, naive: results.naive!, append: results.append!, connector: results.connector! });
      const r = rows.at(-1)!;
      console.log(
        `round ${round}: naive ${fmt(r.naive.requestsPerSecond)} req/s, AppendEvent ${fmt(r.append.requestsPerSecond)} req/s (p99 ${r.append.p99Ms} ms), ` +
          `signed-webhook ${fmt(r.connector.requestsPerSecond)} req/s (p99 ${r.connector.p99Ms} ms); connector/AppendEvent ${fmt(r.connector.requestsPerSecond / r.append.requestsPerSecond, 2)}`,
      );
      for (const [name, res] of Object.entries(results)) {
        if (res.errors || res.non2xx) console.log(`  ${name}: ${res.errors} errors, ${res.non2xx} non-2xx`);
      }
    }
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);
    const ratios = rows.map((r) => r.connector.requestsPerSecond / r.append.requestsPerSecond).sort((a, b) => a - b);
    console.log("\nsummary (mean over rounds):");
    console.log(`  naive durable insert      ${fmt(sum((r) => r.naive.requestsPerSecond) / rows.length)} req/s`);
    console.log(`  AppendEvent (1 stream)    ${fmt(sum((r) => r.append.requestsPerSecond) / rows.length)} req/s`);
    console.log(`  signed-webhook connector  ${fmt(sum((r) => r.connector.requestsPerSecond) / rows.length)} req/s`);
    console.log(
      `  connector / AppendEvent   median ${fmt(ratios[Math.floor(ratios.length / 2)]!, 2)} (per round: ${rows.map((r) => fmt(r.connector.requestsPerSecond / r.append.requestsPerSecond, 2)).join(", ")}; target ≥ 0.90)`,
    );
    console.log(`  connector / naive         ${fmt(sum((r) => r.connector.requestsPerSecond) / sum((r) => r.naive.requestsPerSecond), 2)}`);
  } finally {
    for (const child of children) await stop(child);
    await db.drop();
  }
}

await main();
