import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevChain, type DevChain } from "../../src/anchoring/devchain.js";
import { referenceRoot } from "../support/proofstream.js";
import { PatroniTopology } from "../../scripts/topology/patroni.js";
import { call, freePort, keepOutput, LONG, quantile, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn, webhookReceiver } from "./support.js";

/**
 * PostgreSQL failover (issue 28, PostgreSQL half): three Attesto instances
 * on a Patroni pair (primary and synchronous standby, etcd, HAProxy in
 * front), the primary's machine lost (kill -9 of its Patroni and its
 * PostgreSQL) again and again under appending clients spread over the
 * instances. The standby is promoted, HAProxy follows it, the lost node
 * comes back and rewinds to follow the new primary. Afterwards: every
 * acknowledged append kept once with its seq_no, gapless; no two
 * checkpoints disagree with the tree recomputed from the stored leaves;
 * checkpoint webhooks all delivered and checkpoints anchored on a dev chain
 * after the last loss (the background work carried on); and while there was
 * no primary, answers were UNAVAILABLE with Retry-After.
 */
/** Anvil's first development account, funded on every dev chain: the instances' anchoring sender. */
const DEV_SENDER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KILLS = Number(process.env.ATTESTO_PG_FAILOVERS ?? (LONG ? 10 : 5));
const CLIENTS = 8;
const INSTANCES = 3;
let topology: PatroniTopology;
const servers: ServerProcess[] = [];
let tenant: { tenantId: string; key: string };
let chain: DevChain;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

beforeAll(async () => {
  topology = await PatroniTopology.create();
  [chain, receiver] = await Promise.all([startDevChain(), webhookReceiver()]);
  const { REDIS_URL, ATTESTO_QUEUE_PREFIX } = sharedServices("pg_failover");
  // One deployment: the instances share the database, the queues and the master key (one env).
  const env = serverEnv({
    DATABASE_URL: topology.url,
    REDIS_URL: REDIS_URL!,
    ATTESTO_QUEUE_PREFIX: ATTESTO_QUEUE_PREFIX!,
    ATTESTO_DB_POOL: "4",
    ATTESTO_DB_CONNECT_TIMEOUT_MS: "2000",
    ATTESTO_REQUEST_DEADLINE_MS: "5000",
    ATTESTO_ANCHOR_RPC_URL: chain.url,
    ATTESTO_ANCHOR_CHAIN_ID: String(chain.chainId),
    ATTESTO_ANCHOR_PRIVATE_KEY: DEV_SENDER_KEY,
    ATTESTO_ANCHOR_INTERVAL_MS: "500",
    ATTESTO_ANCHOR_POLL_MS: "200",
  });
  for (let i = 0; i < INSTANCES; i++) {
    const server = new ServerProcess(`pg-failover-${i}`, { ...env, PORT: String(await freePort()) });
    // One at a time: the first applies the migrations.
    await server.start();
    servers.push(server);
  }
  tenant = await tenantOn(servers[0]!.url);
}, 240_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await topology?.close();
  await chain?.stop();
  receiver?.close();
});

interface Outcome {
  status: number;
  startedAt: number;
  retryAfter: string | null;
  code?: string;
}

describe("PostgreSQL failover through Patroni and HAProxy", () => {
  it(`primary lost ${KILLS} times under ${CLIENTS} clients on ${INSTANCES} instances: nothing acknowledged lost or moved, no fork, UNAVAILABLE meanwhile`, async () => {
    const sub = await call(servers[0]!.url, tenant.key, "WebhookService/CreateSubscription", { name: "pg-failover", url: receiver.url, eventTypes: ["proofstream.checkpointed"] });
    expect(sub.status).toBe(200);
    const streamId = (await call(servers[0]!.url, tenant.key, "ProofstreamService/CreateStream", { name: "pg-failover" })).json.stream.id as string;
    const acked = new Map<string, number>();
    const outcomes: Outcome[] = [];
    let running = true;
    let n = 0;
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      const server = servers[c % INSTANCES]!;
      while (running) {
        const ref = `c${c}-${n++}`;
        const startedAt = performance.now();
        const res = await call(
          server.url,
          tenant.key,
          "ProofstreamService/AppendEvent",
          { streamId, sourceRef: ref, eventType: "failover", occurredAt: "2026-06-07T12:00:00Z", payload: { ref } },
          15_000,
        );
        outcomes.push({ status: res.status, startedAt, retryAfter: res.retryAfter, code: res.json?.code });
        if (res.status === 200) acked.set(ref, Number(res.json.event.seqNo));
        else {
          if (res.status >= 400) keepOutput("answers-pg-failover", res.body + "\n");
          await sleep(50);
        }
      }
    });

    const promotedMs: number[] = [];
    /** From the kill to the first acknowledged append sent after it. */
    const firstAppendMs: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      await sleep(2_000 + Math.random() * 1_000);
      const { killed, killedAt, promotedMs: ms } = await topology.killPrimary();
      promotedMs.push(ms);
      while (!outcomes.some((o) => o.startedAt > killedAt && o.status === 200) && performance.now() - killedAt < 60_000) await sleep(50);
      const first = outcomes.find((o) => o.startedAt > killedAt && o.status === 200);
      firstAppendMs.push(first ? first.startedAt - killedAt : Number.POSITIVE_INFINITY);
      topology.rejoin(killed);
      await topology.waitForSyncStandby(90_000);
    }
    const lastLossAt = new Date();
    await sleep(1_000);
    running = false;
    await Promise.all(loops);

    // Every acknowledged append once, with its seq_no, gapless; no checkpoint disagreeing with the stored leaves.
    const { lost, gaps, duplicated, forked, checkpoints } = await storedTruth(streamId, acked);
    const { deliveries, undelivered, anchoredAfter } = await backgroundWork(sub.json.subscription.id as string, receiver.received, lastLossAt);
    const redelivered = [...receiver.received.values()].filter((count) => count > 1).length;

    // While a primary was missing: UNAVAILABLE with Retry-After, nothing else of 5xx.
    const failures = outcomes.filter((o) => o.status !== 200);
    const notUnavailable = failures.filter((o) => !(o.status === 503 && o.code === "unavailable" && o.retryAfter));
    const otherFiveXx = outcomes.filter((o) => o.status >= 500 && o.status !== 503).length;
    const seconds = (values: number[]) => `p50 ${(quantile(values, 0.5) / 1000).toFixed(1)} s, max ${(Math.max(...values) / 1000).toFixed(1)} s`;
    const ok =
      lost === 0 &&
      gaps === 0 &&
      duplicated === 0 &&
      forked === 0 &&
      checkpoints > 0 &&
      deliveries > 0 &&
      undelivered === 0 &&
      anchoredAfter > 0 &&
      firstAppendMs.every(Number.isFinite) &&
      otherFiveXx === 0 &&
      acked.size > 0;
    report({
      section: "postgres failover",
      check: `primary's machine lost (kill -9 of Patroni and PostgreSQL) ×${KILLS} under ${CLIENTS} appending clients on ${INSTANCES} instances; Patroni (etcd, synchronous standby, leader TTL 6 s) behind HAProxy`,
      measured:
        `${acked.size} acked: ${lost} lost or moved, ${duplicated} duplicated, ${gaps} gaps; ${checkpoints} checkpoints, ${forked} disagreeing with the stored leaves; ` +
        `first append acknowledged ${seconds(firstAppendMs)} after the kill (Patroni's REST API naming the new primary ${seconds(promotedMs)}); ` +
        `${deliveries} checkpoint deliveries, ${undelivered} undelivered, ${redelivered} received more than once (at-least-once); ${anchoredAfter} anchor batches confirmed after the last loss; ` +
        `${failures.length} answers other than 200: ${failures.length - notUnavailable.length} UNAVAILABLE+Retry-After, ${otherFiveXx} other 5xx, ${notUnavailable.length - otherFiveXx} other`,
      ok,
    });
    expect({ lost, duplicated, gaps, forked, otherFiveXx }).toEqual({ lost: 0, duplicated: 0, gaps: 0, forked: 0, otherFiveXx: 0 });
    expect(checkpoints).toBeGreaterThan(0);
    expect({ undelivered, deliveries: deliveries > 0, anchoredAfter: anchoredAfter > 0 }).toEqual({ undelivered: 0, deliveries: true, anchoredAfter: true });
    expect(firstAppendMs.every(Number.isFinite)).toBe(true);
  });
});

/** What the database holds after the failovers, against what the clients were told. */
async function storedTruth(streamId: string, acked: Map<string, number>) {
  const db = postgres(topology.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await db<{ source_ref: string; seq_no: string; leaf_hash: Buffer }[]>`SELECT source_ref, seq_no, leaf_hash FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`;
    const stored = new Map(rows.map((r) => [r.source_ref, Number(r.seq_no)]));
    // No fork: every signed checkpoint's root is the root of the stored leaves up to its size.
    const signed = await db<{ tree_size: string; root_hash: Buffer }[]>`SELECT tree_size, root_hash FROM checkpoints WHERE stream_id = ${streamId}`;
    const leaves = rows.map((r) => r.leaf_hash);
    return {
      lost: [...acked].filter(([ref, seq]) => stored.get(ref) !== seq).length,
      gaps: rows.filter((r, i) => Number(r.seq_no) !== i + 1).length,
      duplicated: rows.length - stored.size,
      forked: signed.filter((c) => !referenceRoot(leaves.slice(0, Number(c.tree_size))).equals(c.root_hash)).length,
      checkpoints: signed.length,
    };
  } finally {
    await db.end();
  }
}

/**
 * The background work after the failovers: every checkpoint delivery of the
 * subscription delivered (waited for), and the anchor batches confirmed on
 * the chain since the last loss (waited for, up to a minute).
 */
async function backgroundWork(subscriptionId: string, received: Map<string, number>, lastLossAt: Date) {
  const db = postgres(topology.url, { max: 1, onnotice: () => {} });
  try {
    let deliveries = 0;
    let undelivered = 0;
    let anchoredAfter = 0;
    for (let i = 0; i < 120 && (deliveries === 0 || undelivered > 0 || anchoredAfter === 0); i++) {
      if (i > 0) await sleep(500);
      const rows = await db<{ id: string; status: string }[]>`SELECT id, status FROM webhook_deliveries WHERE subscription_id = ${subscriptionId}`;
      deliveries = rows.length;
      undelivered = rows.filter((r) => r.status !== "succeeded" || !received.has(r.id)).length;
      anchoredAfter = Number((await db<{ n: string }[]>`SELECT count(*)::text AS n FROM anchor_batches WHERE status = 'confirmed' AND created_at > ${lastLossAt}`)[0]!.n);
    }
    return { deliveries, undelivered, anchoredAfter };
  } finally {
    await db.end();
  }
}
