// Receipts at write time (issue 31): 8 appenders on one stream, each sending
// its next AppendEvent as soon as the last is answered, with and without
// wait_for_proof, in interleaved rounds against the same `serve --workers 1`.
// Reported per round: appends per second, p50/p99 from request to answer (with
// wait_for_proof the answer is the receipt), and checkpoints signed per second
// for the waiters (the server's own counter).
//
//   npm run bench:receipts
//   BENCH_SECONDS=5 BENCH_ROUNDS=5 BENCH_APPENDERS=8 npm run bench:receipts
//   BENCH_CPU_PROF=/tmp/prof npm run bench:receipts   (the server's V8 CPU profile, written at its stop)
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { Agent, request } from "undici";
import { benchDatabase, benchTenant, fmt, machineLine, postgresServerPid, treeCpuSeconds, median, percentile, rpc, rpcPath, serveEnv, spawnNode, stop } from "./lib.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(4, Number(process.env.BENCH_ROUNDS ?? 4));
const APPENDERS = Number(process.env.BENCH_APPENDERS ?? 8);
const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;

interface Round {
  perSecond: number;
  p50: number;
  p99: number;
  checkpointsPerSecond: number;
  /** Of the checkpoints, the share the appends' own commits signed. */
  atCommit: number;
  proven: number;
  pending: number;
  /** The server's CPU per append (its process tree, from /proc), µs. */
  serverCpuUs: number;
  /** PostgreSQL's (all its processes) and this load generator's CPU per append, µs: they share the cores with the server. */
  postgresCpuUs: number;
  clientCpuUs: number;
}

async function counter(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

let seq = 0;
async function round(url: string, serverPid: number, postgresPid: number | undefined, key: string, streamId: string, wait: boolean): Promise<Round> {
  const dispatcher = new Agent({ connections: APPENDERS, pipelining: 1 });
  const latencies: number[] = [];
  let proven = 0;
  let pending = 0;
  const signedBefore = await counter(url, "attesto_proofstream_receipt_checkpoints_total");
  const atCommitBefore = await counter(url, "attesto_proofstream_receipt_checkpoints_at_commit_total");
  const cpuBefore = treeCpuSeconds(serverPid);
  const postgresBefore = postgresPid === undefined ? NaN : treeCpuSeconds(postgresPid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      while (performance.now() < until) {
        const body = JSON.stringify({ streamId, sourceRef: `r-${seq++}`, eventType: "bench.event", occurredAt: "2026-06-07T12:00:00Z", payload: { n: seq }, ...(wait ? { waitForProof: true } : {}) });
        const at = performance.now();
        // undici's request, not fetch: the load generator shares the two cores with the server and
        // PostgreSQL, and fetch's streams cost it twice the CPU per call. Like a browser or a
        // connect client, it accepts gzip and inflates what comes back so.
        const res = await request(`${url}${rpcPath("ProofstreamService/AppendEvent")}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "accept-encoding": "gzip" },
          body,
          dispatcher,
        });
        const bytes = Buffer.from(await res.body.arrayBuffer());
        const answer = JSON.parse((res.headers["content-encoding"] === "gzip" ? gunzipSync(bytes) : bytes).toString()) as { proofReceipt?: { status: string } };
        if (res.statusCode !== 200) throw new Error(`AppendEvent: ${res.statusCode} ${JSON.stringify(answer)}`);
        latencies.push(performance.now() - at);
        if (answer.proofReceipt?.status === "PROOF_RECEIPT_STATUS_PROVEN") proven++;
        else if (answer.proofReceipt) pending++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const serverCpuUs = ((treeCpuSeconds(serverPid) - cpuBefore) * 1e6) / latencies.length;
  const postgresCpuUs = postgresPid === undefined ? NaN : ((treeCpuSeconds(postgresPid) - postgresBefore) * 1e6) / latencies.length;
  const client = process.cpuUsage(clientBefore);
  const clientCpuUs = (client.user + client.system) / latencies.length;
  await dispatcher.close();
  const signed = (await counter(url, "attesto_proofstream_receipt_checkpoints_total")) - signedBefore;
  const atCommit = (await counter(url, "attesto_proofstream_receipt_checkpoints_at_commit_total")) - atCommitBefore;
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    checkpointsPerSecond: signed / seconds,
    atCommit: signed > 0 ? atCommit / signed : 0,
    proven,
    pending,
    serverCpuUs,
    postgresCpuUs,
    clientCpuUs,
  };
}

async function main() {
  console.log(machineLine());
  console.log(`${ROUNDS} interleaved rounds (ABBA order) of ${SECONDS} s per mode; ${APPENDERS} closed-loop appenders on one stream (undici, keep-alive, gzip accepted); serve --workers 1`);
  const db = await benchDatabase();
  const server = await spawnNode(
    [...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), "src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
    { ...serveEnv(db.url, ADMIN, "receipts"), ATTESTO_RATE_LIMIT_DEFAULT: "1000000/1s", ATTESTO_RATE_LIMIT_INGEST: "1000000/1s" },
    /"url": "([^"]+)"/,
  );
  const url = server.match[1]!;
  try {
    const postgresPid = await postgresServerPid(db.url);
    const { key } = await benchTenant(url, ADMIN);
    const { stream } = await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name: "receipts" }, key);
    await round(url, server.child.pid!, postgresPid, key, stream.id, true); // warm: connections, statements, caches
    const plain: Round[] = [];
    const waiting: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // ABBA order: the stream grows and the machine drifts through a run, so
      // neither mode always goes first.
      if (r % 2 === 0) {
        plain.push(await round(url, server.child.pid!, postgresPid, key, stream.id, false));
        waiting.push(await round(url, server.child.pid!, postgresPid, key, stream.id, true));
      } else {
        waiting.push(await round(url, server.child.pid!, postgresPid, key, stream.id, true));
        plain.push(await round(url, server.child.pid!, postgresPid, key, stream.id, false));
      }
      const [p, w] = [plain[r]!, waiting[r]!];
      console.log(
        `round ${r + 1}: without ${fmt(p.perSecond)}/s p50 ${fmt(p.p50, 1)} p99 ${fmt(p.p99, 1)} ms | waiting ${fmt(w.perSecond)}/s p50 ${fmt(w.p50, 1)} p99 ${fmt(w.p99, 1)} ms, ` +
          `${fmt(w.checkpointsPerSecond)} checkpoints/s (${Math.round(w.atCommit * 100)} % in the commit), ${w.proven} proven ${w.pending} pending | ` +
          `CPU per append without → waiting: server ${fmt(p.serverCpuUs)} → ${fmt(w.serverCpuUs)}, PostgreSQL ${fmt(p.postgresCpuUs)} → ${fmt(w.postgresCpuUs)}, ` +
          `this client ${fmt(p.clientCpuUs)} → ${fmt(w.clientCpuUs)} µs | ratio ${(w.perSecond / p.perSecond).toFixed(2)}`,
      );
    }
    const ratio = median(waiting.map((w, i) => w.perSecond / plain[i]!.perSecond));
    const p99 = median(waiting.map((w) => w.p99));
    console.log(`\nwaiting ÷ without (median of rounds): ${ratio.toFixed(2)} (target ≥ 0.8)`);
    console.log(`p99 request → receipt (median of rounds): ${fmt(p99, 1)} ms (target ≤ 250)`);
    for (const [name, of] of [
      ["server", (r: Round) => r.serverCpuUs],
      ["PostgreSQL", (r: Round) => r.postgresCpuUs],
      ["this client", (r: Round) => r.clientCpuUs],
    ] as const)
      console.log(`${name} CPU per append (median of rounds): without ${fmt(median(plain.map(of)))} µs, waiting ${fmt(median(waiting.map(of)))} µs`);
    console.log(
      `checkpoints signed for waiters: ${fmt(median(waiting.map((w) => w.checkpointsPerSecond)))}/s (median), appends per checkpoint ${fmt(median(waiting.map((w) => w.perSecond / Math.max(w.checkpointsPerSecond, 1e-9))), 1)}`,
    );
  } finally {
    await stop(server.child);
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
