import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, keepOutput, PrivatePostgres, PrivateRedis, quantile, report, ServerProcess, serverEnv, sleep, tenantOn } from "./support.js";

/**
 * Dependency faults on instances the suite owns: Postgres stopped (-m
 * immediate) for 5-10 s under append load, Redis killed and restarted empty.
 * Every answer during the outage is UNAVAILABLE (503, Retry-After) and fast,
 * the server never dies, nothing acknowledged is lost or half-written, and
 * it recovers without a restart.
 */
let pg: PrivatePostgres;
let redis: PrivateRedis;
let server: ServerProcess;
let tenant: { tenantId: string; key: string };

beforeAll(async () => {
  [pg, redis] = await Promise.all([PrivatePostgres.create(), PrivateRedis.create()]);
  server = new ServerProcess("dependencies", serverEnv({ DATABASE_URL: pg.url, REDIS_URL: redis.url, ATTESTO_DB_CONNECT_TIMEOUT_MS: "2000", ATTESTO_REQUEST_DEADLINE_MS: "5000" }));
  await server.start();
  tenant = await tenantOn(server.url);
});
afterAll(async () => {
  await server?.stop();
  await redis?.kill9();
  await pg?.destroy();
});

interface Outcome {
  status: number;
  ms: number;
  at: number;
  retryAfter: string | null;
  code?: string;
}

/** Appends from `clients` loops until stopped; records every answer and every acknowledged source_ref. */
function load(streamId: string, clients: number) {
  const outcomes: Outcome[] = [];
  const acked = new Map<string, number>();
  let running = true;
  let n = 0;
  const loops = Array.from({ length: clients }, async (_, c) => {
    while (running) {
      const ref = `c${c}-${n++}`;
      const res = await call(server.url, tenant.key, "ProofstreamService/AppendEvent", {
        streamId,
        sourceRef: ref,
        eventType: "load",
        occurredAt: new Date().toISOString(),
        payload: { ref },
      });
      outcomes.push({ status: res.status, ms: res.ms, at: Date.now(), retryAfter: res.retryAfter, code: res.json?.code });
      if (res.status === 200) acked.set(ref, Number(res.json.event.seqNo));
      else {
        if (res.status >= 400) keepOutput("answers-dependencies", res.body + "\n");
        await sleep(50);
      }
    }
  });
  return {
    outcomes,
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function checkStream(streamId: string, acked: Map<string, number>) {
  const events: Array<{ sourceRef: string; seqNo: string }> = [];
  let pageToken = "";
  do {
    const res = await call(server.url, tenant.key, "ProofstreamService/ListEvents", { streamId, pageSize: 500, pageToken });
    expect(res.status).toBe(200);
    events.push(...((res.json.events ?? []) as typeof events));
    pageToken = res.json.nextPageToken ?? "";
  } while (pageToken);
  const seqs = events.map((e) => Number(e.seqNo));
  const gapless = seqs.every((s, i) => s === i + 1);
  const byRef = new Map(events.map((e) => [e.sourceRef, Number(e.seqNo)]));
  const lost = [...acked].filter(([ref, seq]) => byRef.get(ref) !== seq).length;
  const dupes = events.length - byRef.size;
  const stream = await call(server.url, tenant.key, "ProofstreamService/GetStream", { streamId });
  return { events: events.length, gapless, lost, dupes, treeSize: Number(stream.json.stream.treeSize) };
}

describe("dependency faults", () => {
  it("Postgres stopped for 5-10 s under load: fast UNAVAILABLE, no crash, no loss, recovery without restart", async () => {
    const streamId = (await call(server.url, tenant.key, "ProofstreamService/CreateStream", { name: "pg-outage" })).json.stream.id;
    const l = load(streamId, 4);
    await sleep(2_000);
    const downFor = 5_000 + Math.floor(Math.random() * 5_000);
    const stoppedAt = Date.now();
    await pg.stop("immediate");
    await sleep(downFor);
    const restartAt = Date.now();
    await pg.start();
    // Recovery: the first acknowledged append after the restart.
    let recoveredAt = 0;
    while (!recoveredAt && Date.now() - restartAt < 30_000) {
      await sleep(100);
      recoveredAt = l.outcomes.find((o) => o.at > restartAt && o.status === 200)?.at ?? 0;
    }
    await sleep(1_000);
    await l.stop();
    const during = l.outcomes.filter((o) => o.at > stoppedAt + 500 && o.at < restartAt);
    const failures = during.filter((o) => o.status !== 200);
    const notUnavailable = failures.filter((o) => o.status !== 503 || o.code !== "unavailable" || !o.retryAfter);
    const fivexx = l.outcomes.filter((o) => o.status >= 500 && o.status !== 503).length;
    const p99 = quantile(
      failures.map((o) => o.ms),
      0.99,
    );
    const check = await checkStream(streamId, l.acked);
    report({
      section: "dependencies",
      check: `Postgres stopped -m immediate for ${(downFor / 1000).toFixed(1)} s under 4 appending clients`,
      measured:
        `${failures.length} answers while down: ${failures.length - notUnavailable.length} UNAVAILABLE+Retry-After, p99 ${p99.toFixed(0)} ms; other 5xx ${fivexx}; ` +
        `recovered ${recoveredAt ? ((recoveredAt - restartAt) / 1000).toFixed(1) + " s" : "never"} after restart; server alive ${server.alive}; ` +
        `${l.acked.size} acked, ${check.lost} lost, ${check.dupes} duplicated, gapless ${check.gapless}`,
      ok:
        failures.length > 0 &&
        notUnavailable.length === 0 &&
        p99 < 3_000 &&
        fivexx === 0 &&
        recoveredAt > 0 &&
        server.alive &&
        check.lost === 0 &&
        check.dupes === 0 &&
        check.gapless &&
        check.treeSize === check.events,
    });
    expect(notUnavailable).toEqual([]);
    expect(p99).toBeLessThan(3_000);
    expect(server.alive).toBe(true);
    expect(recoveredAt).toBeGreaterThan(0);
    expect(check).toMatchObject({ lost: 0, dupes: 0, gapless: true, treeSize: check.events });
  });

  it("Redis killed and restarted empty: appends go on, no crash, checkpoints resume", async () => {
    const streamId = (await call(server.url, tenant.key, "ProofstreamService/CreateStream", { name: "redis-outage" })).json.stream.id;
    const l = load(streamId, 4);
    await sleep(1_500);
    const killedAt = Date.now();
    await redis.kill9();
    await sleep(3_000);
    await redis.start();
    const restartedAt = Date.now();
    // Checkpoints: the signed size catches up with the tree again.
    let caughtUp = false;
    let stream: any;
    await sleep(1_000);
    await l.stop();
    const deadline = Date.now() + 30_000;
    while (!caughtUp && Date.now() < deadline) {
      stream = (await call(server.url, tenant.key, "ProofstreamService/GetStream", { streamId })).json.stream;
      caughtUp = stream.checkpointSize === stream.treeSize;
      if (!caughtUp) await sleep(250);
    }
    const during = l.outcomes.filter((o) => o.at > killedAt && o.at < restartedAt);
    const ok = during.filter((o) => o.status === 200).length;
    const bad = l.outcomes.filter((o) => o.status >= 500 && o.status !== 503).length;
    const check = await checkStream(streamId, l.acked);
    report({
      section: "dependencies",
      check: "Redis killed -9 for 3 s and restarted empty under 4 appending clients",
      measured:
        `${ok}/${during.length} appends acknowledged while Redis was down; other 5xx ${bad}; server alive ${server.alive}; ` +
        `checkpoints ${caughtUp ? "caught up" : `stuck at ${stream?.checkpointSize} of ${stream?.treeSize}`} ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after restart; ` +
        `${l.acked.size} acked, ${check.lost} lost, gapless ${check.gapless}`,
      ok: bad === 0 && server.alive && caughtUp && check.lost === 0 && check.gapless,
    });
    expect(bad).toBe(0);
    expect(server.alive).toBe(true);
    expect(check).toMatchObject({ lost: 0, dupes: 0, gapless: true });
    expect(caughtUp).toBe(true);
  });
});
