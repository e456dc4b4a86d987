import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referenceRoot } from "../support/proofstream.js";
import { call, freePort, LONG, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn, webhookReceiver } from "./support.js";

/**
 * kill -9 at random moments under AppendEvent load from several clients, at
 * least 20 times, on two instances of one database (the clients split
 * between them, the kills alternating): both append to both streams, so
 * the streams are contended and take the sequencing path, whose answers
 * come before their events are in the tree. Afterwards every acknowledged
 * event is present once with its seq_no, streams are gapless, the latest
 * checkpoints match the trees recomputed from the stored leaves, and every
 * webhook delivery (one per checkpoint) is eventually delivered.
 */
const KILLS = Number(process.env.ATTESTO_CRASH_KILLS ?? (LONG ? 50 : 20));
const CLIENTS = 4;
let servers: ServerProcess[];
let tenant: { tenantId: string; key: string };
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

beforeAll(async () => {
  receiver = await webhookReceiver();
  // One master key for both: either instance signs any stream's checkpoints.
  const env = serverEnv({ ...sharedServices("crash"), ATTESTO_SHUTDOWN_GRACE_MS: "2000" });
  servers = [new ServerProcess("crash-a", { ...env, PORT: String(await freePort()) }), new ServerProcess("crash-b", { ...env, PORT: String(await freePort()) })];
  for (const server of servers) await server.start();
  tenant = await tenantOn(servers[0]!.url);
});
afterAll(async () => {
  for (const server of servers ?? []) await server.stop();
  receiver?.close();
});

describe("crash", () => {
  it(`kill -9 ${KILLS} times under load on two instances: acknowledged events kept once, gapless, checkpoints consistent, deliveries delivered`, async () => {
    const server = servers[0]!;
    const sub = await call(server.url, tenant.key, "WebhookService/CreateSubscription", { name: "crash", url: receiver.url, eventTypes: ["proofstream.checkpointed"] });
    expect(sub.status).toBe(200);
    const streams: string[] = [];
    for (const name of ["crash-a", "crash-b"]) streams.push((await call(server.url, tenant.key, "ProofstreamService/CreateStream", { name })).json.stream.id);
    const acked = new Map<string, { stream: string; seq: number }>();
    let running = true;
    let n = 0;
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      while (running) {
        const ref = `c${c}-${n++}`;
        const stream = streams[n % streams.length]!;
        const res = await call(
          servers[c % servers.length]!.url,
          tenant.key,
          "ProofstreamService/AppendEvent",
          { streamId: stream, sourceRef: ref, eventType: "crash", occurredAt: "2026-06-07T12:00:00Z", payload: { ref } },
          5_000,
        );
        if (res.status === 200) acked.set(ref, { stream, seq: Number(res.json.event.seqNo) });
        else await sleep(20);
      }
    });
    const restartMs: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      await sleep(300 + Math.random() * 1_500);
      const victim = servers[kill % servers.length]!;
      await victim.kill9();
      const t = performance.now();
      await victim.start();
      restartMs.push(performance.now() - t);
    }
    await sleep(1_000);
    running = false;
    await Promise.all(loops);

    // Every acknowledged event once, with its seq_no; gapless; checkpoints match the recomputed trees.
    let lost = 0;
    let duplicated = 0;
    let gaps = 0;
    let inconsistent = 0;
    let events = 0;
    for (const stream of streams) {
      const rows: Array<{ sourceRef: string; seqNo: string; leafHash: string }> = [];
      let pageToken = "";
      do {
        const res = (await call(server.url, tenant.key, "ProofstreamService/ListEvents", { streamId: stream, pageSize: 500, pageToken })).json;
        rows.push(...(res.events ?? []));
        pageToken = res.nextPageToken ?? "";
      } while (pageToken);
      events += rows.length;
      const bySeq = rows.map((r) => Number(r.seqNo));
      gaps += bySeq.filter((s, i) => s !== i + 1).length;
      const refs = new Map<string, number>();
      for (const r of rows) refs.set(r.sourceRef, (refs.get(r.sourceRef) ?? 0) + 1);
      duplicated += [...refs.values()].filter((c) => c > 1).length;
      for (const [ref, at] of acked) if (at.stream === stream && !rows.some((r) => r.sourceRef === ref && Number(r.seqNo) === at.seq)) lost++;
      // Wait for the periodic signer to cover the whole tree, then check its root.
      let checkpoint: any;
      for (let i = 0; i < 100; i++) {
        checkpoint = (await call(server.url, tenant.key, "ProofstreamService/GetCheckpoint", { streamId: stream })).json?.checkpoint;
        if (checkpoint && Number(checkpoint.treeSize) === rows.length) break;
        await sleep(200);
      }
      const leaves = rows.slice(0, Number(checkpoint?.treeSize ?? 0)).map((r) => Buffer.from(r.leafHash, "base64"));
      if (!checkpoint || Number(checkpoint.treeSize) !== rows.length || !referenceRoot(leaves).equals(Buffer.from(checkpoint.rootHash, "base64"))) inconsistent++;
    }

    // Every delivery eventually delivered (the relay re-enqueues those whose job a crash lost).
    const db = postgres(sharedServices("x").DATABASE_URL!, { max: 1, onnotice: () => {} });
    let statuses: Record<string, number> = {};
    let undelivered: string[] = [];
    try {
      for (let i = 0; i < 120; i++) {
        const rows = await db<{ id: string; status: string }[]>`SELECT id, status FROM webhook_deliveries WHERE subscription_id = ${sub.json.subscription.id}`;
        statuses = rows.reduce<Record<string, number>>((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {});
        undelivered = rows.filter((r) => r.status !== "succeeded" || !receiver.received.has(r.id)).map((r) => r.id);
        if (rows.length > 0 && undelivered.length === 0) break;
        await sleep(500);
      }
    } finally {
      await db.end();
    }
    const deliveries = Object.values(statuses).reduce((a, b) => a + b, 0);
    const redelivered = [...receiver.received.values()].filter((c) => c > 1).length;
    report({
      section: "crash",
      check: `kill -9 ×${KILLS} at random moments, alternating between 2 instances of one database, under ${CLIENTS} appending clients (2 streams, each appended to through both)`,
      measured:
        `${acked.size} acked: ${lost} lost, ${duplicated} duplicated, ${gaps} gaps in ${events} events; ${inconsistent} of ${streams.length} latest checkpoints inconsistent; ` +
        `${deliveries} deliveries, ${undelivered.length} undelivered, ${redelivered} received more than once (at-least-once); restart median ${(restartMs.sort((x, y) => x - y)[restartMs.length >> 1]! / 1000).toFixed(1)} s`,
      ok: lost === 0 && duplicated === 0 && gaps === 0 && inconsistent === 0 && deliveries > 0 && undelivered.length === 0 && acked.size > 0,
    });
    expect({ lost, duplicated, gaps, inconsistent, undelivered: undelivered.length }).toEqual({ lost: 0, duplicated: 0, gaps: 0, inconsistent: 0, undelivered: 0 });
    expect(deliveries).toBeGreaterThan(0);
  });
});
