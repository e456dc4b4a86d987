import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolatedStore, type Store } from "../support/webhooks.js";
import { call, LONG, quantile, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn } from "./support.js";

/**
 * Soak: the peak append rate is measured first (16 clients, closed loop),
 * then appends are paced at about 70 % of it for the soak's length (2 minutes
 * in the long form; CI sets a shorter one, ATTESTO_SOAK_SECONDS overrides),
 * sampling the server's RSS every second. The RSS slope (least squares, MB
 * per minute over the second half, after warm-up) is reported.
 */
const SOAK_SECONDS = Number(process.env.ATTESTO_SOAK_SECONDS ?? (LONG ? 120 : 30));
let server: ServerProcess;
/**
 * A database of its own: the soak measures its server under its own load. In the suite's shared
 * database the other files leave streams sealed with their servers' master keys, which this one
 * cannot sign (the checkpointer holds those back, test/proofstream-checkpoint-backoff.test.ts).
 */
let store: Store;
let tenant: { tenantId: string; key: string };
const streams: string[] = [];

beforeAll(async () => {
  store = await isolatedStore("soak");
  server = new ServerProcess("soak", serverEnv({ ...sharedServices("soak"), DATABASE_URL: store.databaseUrl, ATTESTO_QUEUE_PREFIX: store.queuePrefix }));
  await server.start();
  tenant = await tenantOn(server.url);
  for (let i = 0; i < 4; i++) streams.push((await call(server.url, tenant.key, "ProofstreamService/CreateStream", { name: `soak-${i}` })).json.stream.id);
});
afterAll(async () => {
  await server?.stop();
  await store?.drop();
});

let seq = 0;
const append = () =>
  call(server.url, tenant.key, "ProofstreamService/AppendEvent", {
    streamId: streams[seq % streams.length],
    sourceRef: `s-${seq++}`,
    eventType: "soak",
    occurredAt: "2026-06-07T12:00:00Z",
    payload: { n: seq, text: "soak".repeat(16) },
  });

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

describe("soak", () => {
  it(`${SOAK_SECONDS} s at about 70 % of the measured peak: RSS slope reported, no failures`, async () => {
    // Peak: closed loop for 8 s.
    let done = 0;
    const until = Date.now() + 8_000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < until) if ((await append()).status === 200) done++;
      }),
    );
    const peak = done / 8;
    const target = Math.max(1, Math.floor(peak * 0.7));
    // Paced: one append every 1/target s, each in its own promise (open loop), in-flight bounded by
    // one second's worth of appends (at least 256): past that the server has fallen a second behind,
    // a failure. (A bound of 256 alone is a quarter of a second at the 1,055/s one CI run paced;
    // that run failed 101 appends without saying which kind, beside 129 checkpoint errors.)
    const maxInFlight = Math.max(256, target);
    let mostInFlight = 0;
    const samples: Array<[number, number]> = [];
    const started = Date.now();
    let sent = 0;
    let failed = 0;
    /** What each failure was: shed by this client (too many in flight) or the answer's status and code. */
    const failures = new Map<string, number>();
    const fail = (why: string) => {
      failed++;
      failures.set(why, (failures.get(why) ?? 0) + 1);
    };
    let inFlight = 0;
    const latencies: number[] = [];
    const pending = new Set<Promise<void>>();
    const sampler = setInterval(() => samples.push([(Date.now() - started) / 60_000, server.rss() / 1e6]), 1_000);
    while (Date.now() - started < SOAK_SECONDS * 1000) {
      const due = started + (sent * 1000) / target;
      const wait = due - Date.now();
      if (wait > 0) {
        await sleep(Math.min(50, wait));
        continue;
      }
      sent++;
      if (inFlight >= maxInFlight) {
        fail(`not sent: ${maxInFlight} in flight`);
        continue;
      }
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      const p: Promise<void> = append().then((r) => {
        inFlight--;
        latencies.push(r.ms);
        if (r.status !== 200) fail(`${r.status}${r.json?.code ? ` ${r.json.code}` : r.status === 0 ? ` ${r.body.slice(0, 60)}` : ""}`);
        pending.delete(p);
      });
      pending.add(p);
    }
    await Promise.all(pending);
    clearInterval(sampler);
    const achieved = sent / SOAK_SECONDS;
    const late = samples.slice(Math.floor(samples.length / 2));
    const mbPerMin = slope(late);
    const rss = samples.map(([, y]) => y);
    report({
      section: "soak",
      check: `${SOAK_SECONDS} s${LONG ? "" : " (CI length; 120 s with --long)"} at ~70 % of measured peak (${peak.toFixed(0)} appends/s closed loop)`,
      measured: `${achieved.toFixed(0)} appends/s paced, ${failed} failed of ${sent}${failed ? ` (${JSON.stringify(Object.fromEntries(failures))})` : ""}; RSS ${rss[0]?.toFixed(0)} → ${rss.at(-1)?.toFixed(0)} MB (max ${Math.max(...rss).toFixed(0)}), slope over the second half ${mbPerMin.toFixed(1)} MB/min; latency p50 ${quantile(latencies, 0.5).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms, max ${Math.max(0, ...latencies).toFixed(0)} ms; at most ${mostInFlight} in flight`,
      ok: failed === 0 && Math.max(...rss) < 1_500,
    });
    expect(failed).toBe(0);
    expect(Math.max(...rss)).toBeLessThan(1_500);
  });
});
