import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../src/verify/bytes.js";
import { buildBundle } from "../support/bundles.js";
import { ADMIN_TOKEN } from "../support/server.js";
import { call, quantile, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn } from "./support.js";

/**
 * Public-route abuse (issue 25): for every route anyone may call without a
 * key, the worst request per byte we can build (signature lines, nesting,
 * dense objects, base64, proof lines, anchor receipts, x5c), sent to a real
 * server. Its CPU per request is read from /proc/<pid>/stat (every thread:
 * the verifier threads count) and must stay within CPU_MS_PER_MB (requests
 * under 1 MB are held to the 1 MB figure); /healthz is polled all along and
 * must answer 95 % of its polls within 100 ms and every one within 1 s; nothing may answer 5xx but the gate's 503.
 * Then a parallel flood of such requests, during which a tenant's append
 * p99 is measured against its unloaded value.
 *
 * The bounds assert what the defects were (seconds of event loop per MB, a
 * server that stops answering) with room for this shared 2-core machine;
 * the targets are printed beside them: 50 ms per MB is met on every route
 * (the 16 MB /v2/verify documents at 17–23 ms per MB, VerifyBundle's 1 MB of
 * signature lines at 30, run alone on a quiet machine), and the flood's 2× is
 * met in some runs only (1.3–3× here, 4.3× in one single-round run on the CI
 * machine: each 1 MB public body is read and scanned on the event loop the
 * tenant's appends share, beside PostgreSQL on the same two cores). Before
 * the gate the same flood took p99 15× up, so the bound (5× for the median
 * of interleaved rounds) still catches the defect while one noisy phase
 * cannot fail the run.
 */
const MB = 1024 * 1024;
const CPU_MS_PER_MB = 75;
const FLOOD_P99_FACTOR = 5;
/**
 * /healthz while a case runs: 95 % of answers within HEALTHZ_MS, and none
 * slower than HEALTHZ_WORST_MS. A request that holds the event loop (the
 * defect: 26 s unanswered) shows as a worst answer of seconds; on a shared
 * 2-core machine the scheduler alone delays a single answer by a few
 * hundred ms now and then, which is what the percentile leaves out.
 */
const HEALTHZ_MS = 100;
const HEALTHZ_WORST_MS = 1000;
/** Requests per case: enough that the 10 ms tick of /proc CPU time and background work average out. */
const repeatFor = (bytes: number) => (bytes > 4 * MB ? 3 : 10);
/** The shortest a case runs (about 75 polls of /healthz). */
const MIN_CASE_MS = 1_500;
const FLOOD_SECONDS = 3;
const FLOOD_ROUNDS = 3;
const FLOOD_CLIENTS = 12;
const TICK_MS = 1000 / 100; // CLK_TCK on Linux

let server: ServerProcess;
let tenant: { tenantId: string; key: string };
let streamId: string;
let connectorId: string;
const { bundle, signer } = buildBundle({ size: 64, from: 1, to: 32, payloads: false });
const pinned = encodeURIComponent(signer.verifierKey);

/** User plus system CPU of the server process and all its threads, in ms. */
function serverCpuMs(): number {
  const stat = readFileSync(`/proc/${server.child.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/**
 * Polls /healthz every 20 ms from a thread of its own (this process's event
 * loop is busy building and sending the hostile bodies, which would delay
 * the poll's own timing); the 95th percentile and the slowest answer while it
 * ran, Infinity for a failure.
 */
const WATCHER = `
const { parentPort, workerData } = require("node:worker_threads");
const times = [];
let running = true;
parentPort.on("message", () => { running = false; });
(async () => {
  while (running) {
    const at = performance.now();
    const ok = await fetch(workerData + "/healthz", { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
    times.push(ok ? performance.now() - at : Infinity);
    await new Promise((r) => setTimeout(r, 20));
  }
  times.sort((a, b) => a - b);
  parentPort.postMessage({ p95: times[Math.min(times.length - 1, Math.floor(times.length * 0.95))] ?? 0, worst: times[times.length - 1] ?? 0 });
})();`;
/**
 * Flood clients: each job sent again as soon as it is answered, until told to stop; answers counted by
 * status (0: no answer). The flooders stand for clients on other machines: on this shared 2-core machine
 * their threads run at the lowest CPU priority (as the verifier threads do), so what the tenant's appends
 * feel is the server's work for the flood, not the cost of generating it beside the server.
 */
const FLOODER = `
const { parentPort, workerData } = require("node:worker_threads");
try { require("@napi-rs/nice").nice(19); } catch {}
let running = true;
const counts = {};
parentPort.on("message", () => { running = false; });
Promise.all(workerData.jobs.map(async (job) => {
  while (running) {
    const status = await fetch(workerData.url + job.path, job.body === undefined ? {} : { method: "POST", body: job.body, headers: { "content-type": "application/json" } })
      .then(async (r) => (await r.arrayBuffer(), r.status), () => 0);
    counts[status] = (counts[status] ?? 0) + 1;
  }
})).then(() => parentPort.postMessage(counts));`;

function healthzWatch() {
  const thread = new Worker(WATCHER, { eval: true, workerData: server.url });
  const answered = new Promise<{ p95: number; worst: number }>((resolve) => thread.once("message", resolve));
  return {
    async stop() {
      thread.postMessage("stop");
      const times = await answered;
      await thread.terminate();
      return { ...times, ok: times.p95 <= HEALTHZ_MS && times.worst <= HEALTHZ_WORST_MS };
    },
  };
}

const showMs = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : "unanswered");

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers }, signal: AbortSignal.timeout(60_000) });
  await res.arrayBuffer();
  return res.status;
}

/** The checkpoint note with its one signature line repeated to fill `bytes` (the probe's 15.9 MB bundle). */
function signatureLines(bytes: number): string {
  const sep = bundle.checkpoint.lastIndexOf("\n\n");
  const line = bundle.checkpoint.slice(sep + 2);
  return bundle.checkpoint.slice(0, sep + 2) + line.repeat(Math.floor(bytes / line.length));
}
const nested = (bytes: number) => "[".repeat(bytes / 2) + "]".repeat(bytes / 2);
const dense = (bytes: number) => "[" + "{},".repeat(Math.floor(bytes / 3) - 1) + "{}]";
const jws = (header: unknown) => `${Buffer.from(JSON.stringify(header)).toString("base64url")}.e30.${"A".repeat(86)}`;

interface Case {
  route: string;
  what: string;
  body: string;
  send: (body: string) => Promise<number>;
}

function cases(): Case[] {
  const verify = (body: string) => post(`/v2/verify?verifier_key=${pinned}`, body);
  const rpc = (body: string) => post("/attesto.v1.VerifierService/VerifyBundle", body);
  const apple = (body: string) => post(`/v1/webhooks/apple/${tenant.tenantId}`, body);
  const google = (body: string) => post(`/v1/webhooks/google/${tenant.tenantId}`, body, { authorization: "Bearer x.y.z" });
  const connector = (body: string) =>
    post(`/v2/connectors/signed-webhooks/${connectorId}/events`, body, { "x-attesto-connector-timestamp": String(Math.floor(Date.now() / 1000)), "x-attesto-connector-signature": "ab".repeat(32) });
  const proofHead = `c2sp.org/tlog-proof@v1\nindex 5\n`;
  const hashLine = `${toBase64(randomBytes(32))}\n`;
  const receipt = {
    chain_id: 1,
    tx_hash: `0x${"ab".repeat(32)}`,
    block_number: 1,
    block_hash: `0x${"cd".repeat(32)}`,
    batch_root: `0x${"ef".repeat(32)}`,
    leaf_index: 2 ** 40 - 1,
    batch_size: 2 ** 40,
    path: Array.from({ length: 40 }, () => "01".repeat(32)),
  };
  const receiptBytes = JSON.stringify(receipt).length + 1;
  const big = 15.9 * MB;
  const oneMb = 0.95 * MB;
  return [
    { route: "POST /v2/verify", what: "signature lines naming the pinned key", body: JSON.stringify({ ...bundle, checkpoint: signatureLines(big - 0.4 * MB) }), send: verify },
    { route: "POST /v2/verify", what: "8 M nested arrays", body: nested(16 * MB - 2), send: verify },
    { route: "POST /v2/verify", what: "dense empty objects", body: dense(big), send: verify },
    { route: "POST /v2/verify", what: "tlog-proof extra of 15 MB base64", body: `c2sp.org/tlog-proof@v1\nextra ${"QUFB".repeat(Math.floor(big / 4))}\nindex 0\n\n${bundle.checkpoint}`, send: verify },
    { route: "POST /v2/verify", what: "tlog-proof with 360 k proof lines", body: proofHead + hashLine.repeat(Math.floor(big / hashLine.length)) + `\n${bundle.checkpoint}`, send: verify },
    {
      route: "POST /v2/verify",
      what: "anchor receipts with 40-hash paths",
      body: JSON.stringify({ ...bundle, anchors: Array.from({ length: Math.floor(big / receiptBytes) }, () => receipt) }),
      send: verify,
    },
    {
      route: "VerifyBundle",
      what: "signature lines (1 MB body limit)",
      body: JSON.stringify({ bundleJson: JSON.stringify({ ...bundle, checkpoint: signatureLines(oneMb) }), verifierKey: signer.verifierKey }),
      send: rpc,
    },
    { route: "VerifyBundle", what: "nested arrays in the request JSON", body: `{"bundleJson":"{}","x":${nested(oneMb)}}`, send: rpc },
    { route: "VerifyBundle", what: "dense empty objects in the request JSON", body: `{"bundleJson":"{}","x":${dense(oneMb)}}`, send: rpc },
    { route: "VerifyBundle", what: "dense empty objects in bundle_json", body: JSON.stringify({ bundleJson: dense(0.9 * MB) }), send: rpc },
    { route: "Apple notifications", what: "nested arrays", body: `{"signedPayload":${nested(oneMb)}}`, send: apple },
    { route: "Apple notifications", what: "dense empty objects", body: `{"signedPayload":${dense(oneMb)}}`, send: apple },
    {
      route: "Apple notifications",
      what: "x5c of three 230 KB certificates",
      body: JSON.stringify({ signedPayload: jws({ alg: "ES256", x5c: Array.from({ length: 3 }, () => randomBytes(170_000).toString("base64")) }) }),
      send: apple,
    },
    { route: "Apple notifications", what: "x5c of 40 k entries", body: JSON.stringify({ signedPayload: jws({ alg: "ES256", x5c: Array.from({ length: 40_000 }, () => "MIIB") }) }), send: apple },
    { route: "Google notifications", what: "nested arrays, bogus push token", body: `{"message":${nested(oneMb)}}`, send: google },
    { route: "connector ingress", what: "nested arrays, bad signature", body: `{"payload":${nested(oneMb)}}`, send: connector },
    { route: "tiles", what: "hostile tile paths", body: "", send: async () => (await fetch(`${server.url}/proofstreams/${streamId}/tile/0/x${"/000".repeat(200)}`)).status },
  ];
}

beforeAll(async () => {
  server = new ServerProcess("public-abuse", serverEnv({ ...sharedServices("public_abuse"), ATTESTO_TILES_PUBLIC: "true" }));
  await server.start();
  tenant = await tenantOn(server.url);
  const ok = async (method: string, body: unknown, key = tenant.key) => {
    const res = await call(server.url, key, method, body);
    if (res.status !== 200) throw new Error(`${method}: ${res.status} ${res.body}`);
    return res.json;
  };
  streamId = (await ok("ProofstreamService/CreateStream", { name: "abuse" })).stream.id;
  connectorId = (await ok("ConnectorService/CreateConnector", { streamId, name: "hmac", kind: "CONNECTOR_KIND_SIGNED_WEBHOOK" })).connector.id;
  const p8 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await ok(
    "attesto.admin.v1.AdminService/PutAppleCredentials",
    { tenantId: tenant.tenantId, bundleId: "com.example.app", keyId: "KEY0000001", issuerId: "issuer", privateKeyPem: p8, environment: "APPLE_ENVIRONMENT_SANDBOX" },
    ADMIN_TOKEN,
  );
});
afterAll(async () => {
  await server?.stop();
});

describe("public-route abuse", () => {
  it("the worst request per byte on each unauthenticated route costs at most CPU_MS_PER_MB of CPU per MB (target 50), and /healthz keeps answering", async () => {
    const failures: string[] = [];
    for (const c of cases()) {
      await c.send(c.body); // warm: code paths compiled, threads up
      const watch = healthzWatch();
      const statuses: number[] = [];
      const cpus: number[] = [];
      // At least repeatFor() requests and at least MIN_CASE_MS of them, so the /healthz percentile has polls to stand on.
      const started = Date.now();
      while (statuses.length < repeatFor(c.body.length) || Date.now() - started < MIN_CASE_MS) {
        const before = serverCpuMs();
        statuses.push(await c.send(c.body));
        cpus.push(serverCpuMs() - before);
      }
      // The median request: a path that costs too much per byte does so on every request, while a
      // major collection of the earlier bodies' garbage lands on one of them (the same 15.9 MB case
      // measured 693 and 2,217 ms as a mean over three requests, run to run).
      const cpu = quantile(cpus, 0.5);
      const mean = cpus.reduce((a, b) => a + b, 0) / cpus.length;
      const healthz = await watch.stop();
      const mb = Buffer.byteLength(c.body) / MB;
      const bound = CPU_MS_PER_MB * Math.max(1, mb);
      const ok = cpu <= bound && healthz.ok && statuses.every((s) => s > 0 && s < 500);
      if (!ok) failures.push(`${c.route}: ${c.what}`);
      report({
        section: "public abuse",
        check: `${c.route}: ${c.what} (${mb.toFixed(mb < 1 ? 2 : 1)} MB)`,
        measured: `${cpu.toFixed(0)} ms CPU/request, median of ${cpus.length} (mean ${mean.toFixed(0)}; bound ${bound.toFixed(0)}), answered ${[...new Set(statuses)].join("/")}, /healthz p95 ${showMs(healthz.p95)} slowest ${showMs(healthz.worst)}`,
        ok,
      });
    }
    expect(failures).toEqual([]);
  });

  it("a flood of public requests leaves an authenticated tenant's appends going, median round's p99 within FLOOD_P99_FACTOR× unloaded", async () => {
    let seq = 0;
    const appendFor = async (seconds: number) => {
      const latencies: number[] = [];
      const until = Date.now() + seconds * 1000;
      await Promise.all(
        [0, 1].map(async () => {
          while (Date.now() < until) {
            const r = await call(server.url, tenant.key, "ProofstreamService/AppendEvent", {
              streamId,
              sourceRef: `flood-${seq++}`,
              eventType: "x",
              occurredAt: new Date().toISOString(),
              payload: { n: seq },
            });
            if (r.status !== 200) throw new Error(`append: ${r.status} ${r.body}`);
            latencies.push(r.ms);
          }
        }),
      );
      return latencies;
    };
    await appendFor(2); // warm

    // The flood runs on threads of its own, so that sending it does not slow this thread's appends.
    const flood = [
      { path: `/v2/verify?verifier_key=${pinned}`, body: JSON.stringify({ ...bundle, checkpoint: signatureLines(MB) }) },
      { path: "/v2/verify", body: nested(MB) },
      { path: `/v1/webhooks/apple/${tenant.tenantId}`, body: `{"signedPayload":${dense(0.95 * MB)}}` },
      { path: `/proofstreams/${streamId}/checkpoint` },
    ];
    const allCounts: Record<string, number>[] = [];
    const rounds: { unloaded: number[]; loaded: number[] }[] = [];
    const watch = healthzWatch();
    // Unloaded and loaded phases interleave, and the ratio is each round's; the median round is held to the bound,
    // so one quiet or one noisy phase on the shared machine does not decide the check alone.
    for (let round = 0; round < FLOOD_ROUNDS; round++) {
      const unloaded = await appendFor(FLOOD_SECONDS);
      const threads = Array.from(
        { length: 2 },
        (_, t) => new Worker(FLOODER, { eval: true, workerData: { url: server.url, jobs: Array.from({ length: FLOOD_CLIENTS / 2 }, (_, i) => flood[((t * FLOOD_CLIENTS) / 2 + i) % flood.length]) } }),
      );
      const counted = threads.map((thread) => new Promise<Record<string, number>>((resolve) => thread.once("message", resolve)));
      await sleep(300);
      const loaded = await appendFor(FLOOD_SECONDS);
      for (const thread of threads) thread.postMessage("stop");
      allCounts.push(...(await Promise.all(counted)));
      await Promise.all(threads.map((thread) => thread.terminate()));
      rounds.push({ unloaded, loaded });
    }
    const statuses = new Map<number, number>();
    for (const counts of allCounts) for (const [s, n] of Object.entries(counts)) statuses.set(Number(s), (statuses.get(Number(s)) ?? 0) + n);
    const healthz = await watch.stop();
    const ratios = rounds.map(({ unloaded, loaded }) => ({ p99u: quantile(unloaded, 0.99), p99l: quantile(loaded, 0.99), n: [unloaded.length, loaded.length] }));
    const median = [...ratios].sort((a, b) => a.p99l / a.p99u - b.p99l / b.p99u)[Math.floor(ratios.length / 2)]!;
    const served = [...statuses].filter(([s]) => s > 0 && s < 500).reduce((n, [, c]) => n + c, 0);
    const ok = median.p99l <= FLOOD_P99_FACTOR * median.p99u && healthz.ok && !statuses.has(0) && [...statuses.keys()].every((s) => s < 500 || s === 503);
    report({
      section: "public abuse",
      check: `${FLOOD_CLIENTS} clients flooding verify, Apple and tiles, ${FLOOD_ROUNDS} interleaved rounds of ${FLOOD_SECONDS} s unloaded / ${FLOOD_SECONDS} s flooded: median round's tenant append p99 within ${FLOOD_P99_FACTOR}× unloaded (target 2×)`,
      measured: `append p99 per round ${ratios.map((r) => `${r.p99u.toFixed(1)} → ${r.p99l.toFixed(1)} ms (${(r.p99l / r.p99u).toFixed(1)}×)`).join(", ")}; appends ${ratios.map((r) => r.n.join(" → ")).join(", ")}; public ${served} answered, ${statuses.get(503) ?? 0} × 503 busy, /healthz p95 ${showMs(healthz.p95)} slowest ${showMs(healthz.worst)}`,
      ok,
    });
    expect(ok).toBe(true);
  });
});
