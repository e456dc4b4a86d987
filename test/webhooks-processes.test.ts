import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AttemptErrorKind, DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import { answersPing, freePort } from "../src/infra/redis.js";
import type { Attesto } from "../src/server/app.js";
import { newTenant, tempDir } from "./support/server.js";
import { inversions, seenOf, type Seen } from "./support/ordering.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, storeEnv, waitFor, webhookClient, type Store } from "./support/webhooks.js";

const ROOT = path.resolve(import.meta.dirname, "..");

/** Settings shared by the in-test API server and the spawned workers. */
const SETTINGS = {
  ATTESTO_WEBHOOK_RETRY_SCHEDULE: "0,100ms,100ms",
  ATTESTO_WEBHOOK_TIMEOUT_MS: "1500",
  ATTESTO_WEBHOOK_JOB_LOCK_MS: "2000",
  ATTESTO_WEBHOOK_RELAY_INTERVAL_MS: "500",
  ATTESTO_WEBHOOK_RELAY_GRACE_MS: "1000",
};
const SERVER_SETTINGS = {
  webhookRetrySchedule: [0, 100, 100],
  webhookTimeoutMs: 1_500,
  webhookJobLockMs: 2_000,
  webhookRelayIntervalMs: 500,
  webhookRelayGraceMs: 1_000,
};

interface Worker {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
}

/** Undone in reverse order after each test: servers stop before the workers, the store and Redis go last. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function killOnCleanup(child: ChildProcess): ChildProcess {
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  });
  return child;
}

/** `attesto serve --role worker` in a process of its own, on the store. */
async function spawnWorker(store: Store, extra: Record<string, string> = {}): Promise<Worker> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "serve", "--role", "worker", "--port", "0"], {
    cwd: ROOT,
    env: storeEnv(store, { ...SETTINGS, ATTESTO_DATA_DIR: await tempDir(), ...extra }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  killOnCleanup(child);
  const logs: Array<Record<string, unknown>> = [];
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
    let nl: number;
    while ((nl = stderr.indexOf("\n")) >= 0) {
      const line = stderr.slice(0, nl);
      stderr = stderr.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  await waitFor(() => stdout.includes("listening") || child.exitCode !== null, "the worker to start", 30_000);
  if (child.exitCode !== null) throw new Error(`worker exited: ${JSON.stringify(logs)}`);
  return { child, logs };
}

async function withStore(label: string) {
  const store = await isolatedStore(label);
  cleanups.push(() => store.drop());
  return store;
}

async function withServer(store: Store, overrides: Parameters<typeof startWebhookServer>[1] = {}) {
  const app = await startWebhookServer(store, { ...SERVER_SETTINGS, ...overrides });
  cleanups.push(() => app.stop());
  return app;
}

async function withReceiver() {
  const r = await Receiver.start();
  cleanups.push(() => r.close());
  return r;
}

async function subscribe(app: Attesto, url: string) {
  const tenant = await newTenant(app.url);
  const client = webhookClient(app, tenant.key);
  const { subscription } = await client.createSubscription({ name: "processes", url, eventTypes: ["proofstream.checkpointed"] });
  return { tenant, client, subscription: subscription! };
}

async function emitMany(app: Attesto, tenantId: string, n: number, from = 0) {
  await emitEvents(
    app,
    tenantId,
    Array.from({ length: n }, (_, k) => ["proofstream.checkpointed", { stream_id: "str_processes", tree_size: from + k + 1 }]),
  );
}

async function allDeliveries(client: ReturnType<typeof webhookClient>) {
  const all = [];
  let pageToken = "";
  do {
    const page = await client.listDeliveries({ pageSize: 500, pageToken });
    all.push(...page.deliveries);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

async function allSucceeded(client: ReturnType<typeof webhookClient>, n: number, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const all = await allDeliveries(client);
      return all.length === n && all.every((d) => d.status === DeliveryStatus.SUCCEEDED) ? all : undefined;
    },
    `${n} deliveries to succeed`,
    timeoutMs,
    200,
  );
}

const pairs = (r: Receiver) => r.received.map((x) => `${x.headers["x-attesto-delivery-id"]}#${x.headers["x-attesto-attempt"]}`);

// Each test starts several server processes; on a loaded 2-core machine that alone can take tens of seconds.
describe("several worker processes", { timeout: 90_000 }, () => {
  it("never make the same attempt twice", async () => {
    const store = await withStore("two");
    const app = await withServer(store, { role: "api" });
    const rec = await withReceiver();
    // Attempts 1 and 2 fail, attempt 3 succeeds: every delivery goes through the schedule.
    rec.respond = (r) => (r.headers["x-attesto-attempt"] === "3" ? { status: 204 } : { status: 500 });
    const [w1, w2] = await Promise.all([spawnWorker(store, { LOG_LEVEL: "debug" }), spawnWorker(store, { LOG_LEVEL: "debug" })]);
    const { tenant, client } = await subscribe(app, rec.url());
    const N = 150;
    await emitMany(app, tenant.tenantId, N);
    const deliveries = await allSucceeded(client, N);

    const seen = pairs(rec);
    expect(seen).toHaveLength(3 * N);
    expect(new Set(seen).size).toBe(seen.length);
    for (const d of deliveries) {
      expect(
        rec
          .of(d.id)
          .map((r) => r.headers["x-attesto-attempt"])
          .sort(),
      ).toEqual(["1", "2", "3"]);
      expect(d.attemptCount).toBe(3);
    }
    // Both processes made attempts; together exactly one per (delivery, number).
    const made = (w: Worker) => w.logs.filter((l) => l.msg === "webhook delivered" || l.msg === "webhook attempt failed").map((l) => `${l.deliveryId as string}#${l.attempt as number}`);
    // A worker logs an attempt after its row is written: the last lines may still be in the pipe when the rows say succeeded.
    const [m1, m2] = await waitFor(() => {
      const both: [string[], string[]] = [made(w1), made(w2)];
      return both[0].length + both[1].length >= 3 * N ? both : undefined;
    }, "every attempt in the workers' logs");
    expect(m1.length).toBeGreaterThan(0);
    expect(m2.length).toBeGreaterThan(0);
    expect(new Set([...m1, ...m2]).size).toBe(m1.length + m2.length);
    expect(m1.length + m2.length).toBe(3 * N);
  });

  it("keep an ordered subscription's order while earlier deliveries retry", async () => {
    const store = await withStore("ordered");
    const app = await withServer(store, { role: "api" });
    const rec = await withReceiver();
    const seen: Seen[] = [];
    // Event 3 of each stream fails its first two attempts: the later ones of its stream wait for it.
    rec.respond = (r) => {
      const s = seenOf(r, true);
      const fail = s.n === 3 && r.headers["x-attesto-attempt"] !== "3";
      seen.push({ ...s, ok: !fail });
      return { status: fail ? 500 : 204 };
    };
    const [w1, w2] = await Promise.all([spawnWorker(store, { LOG_LEVEL: "debug" }), spawnWorker(store, { LOG_LEVEL: "debug" })]);
    const tenant = await newTenant(app.url);
    const client = webhookClient(app, tenant.key);
    await client.createSubscription({ name: "ordered", url: rec.url(), eventTypes: ["proofstream.checkpointed"], ordered: true });
    const streams = ["str_P1", "str_P2", "str_P3"];
    const N = 10;
    await emitEvents(
      app,
      tenant.tenantId,
      Array.from({ length: N }, (_, k) =>
        streams.map((stream) => ["proofstream.checkpointed", { stream_id: stream, tree_size: k + 1 }] as ["proofstream.checkpointed", Record<string, unknown>]),
      ).flat(),
    );
    await allSucceeded(client, N * streams.length);

    expect(inversions(seen)).toEqual([]);
    expect(seen.filter((s) => s.ok)).toHaveLength(N * streams.length);
    expect(seen.filter((s) => !s.ok)).toHaveLength(2 * streams.length);
    expect(new Set(seen.map((s) => s.ordering))).toEqual(new Set(["in_order"]));
    // Both processes made attempts.
    const made = (w: Worker) => w.logs.filter((l) => l.msg === "webhook delivered" || l.msg === "webhook attempt failed").length;
    expect(made(w1)).toBeGreaterThan(0);
    expect(made(w2)).toBeGreaterThan(0);
  });

  it("lose no delivery when a worker is killed with SIGKILL mid-delivery", async () => {
    const store = await withStore("kill");
    const app = await withServer(store, { role: "api" });
    const rec = await withReceiver();
    rec.respond = () => "hang";
    const w1 = await spawnWorker(store);
    const { tenant, client } = await subscribe(app, rec.url());
    const N = 10;
    await emitMany(app, tenant.tenantId, N);
    await waitFor(() => rec.received.length >= 1, "an attempt in flight");
    w1.child.kill("SIGKILL");
    await new Promise((r) => w1.child.once("exit", r));
    const inFlight = new Set(rec.received.map((r) => r.headers["x-attesto-delivery-id"] as string));
    rec.respond = () => ({ status: 204 });

    await spawnWorker(store);
    const deliveries = await allSucceeded(client, N);
    let interrupted = 0;
    for (const d of deliveries) {
      const kinds = (await client.getDelivery({ deliveryId: d.id })).delivery!.attempts.map((a) => a.errorKind);
      if (kinds.length === 2) interrupted++;
      // An attempt the dead worker had started is recorded as interrupted, and the next one delivered.
      if (inFlight.has(d.id) || kinds.length === 2) expect(kinds).toEqual([AttemptErrorKind.INTERRUPTED, AttemptErrorKind.NONE]);
      else expect(kinds).toEqual([AttemptErrorKind.NONE]);
    }
    expect(interrupted).toBeGreaterThanOrEqual(inFlight.size);
    expect(new Set(pairs(rec)).size).toBe(rec.received.length);
  });
});

describe("a Redis that restarts empty", () => {
  it("loses no delivery: the outbox relay re-enqueues what Redis lost", async () => {
    const port = await freePort();
    const startRedis = async () => {
      // No persistence: a restart comes back empty, as after losing the data.
      const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
      await waitFor(() => answersPing("127.0.0.1", port), "redis-server to answer", 10_000);
      return child;
    };
    let redis = await startRedis();
    // Registered first, so it runs last: the server stops while its Redis still answers.
    cleanups.push(async () => {
      const exited = new Promise((r) => redis.once("exit", r));
      redis.kill("SIGKILL");
      await exited;
    });
    const store = await withStore("redis");
    const app = await withServer(store, { redisUrl: `redis://127.0.0.1:${port}`, webhookRetrySchedule: [0, 4_000, 100] });
    const rec = await withReceiver();
    // Attempt 1 fails: each delivery then waits in Redis as a delayed job.
    rec.respond = (r) => (r.headers["x-attesto-attempt"] === "1" ? { status: 503 } : { status: 204 });
    const { tenant, client } = await subscribe(app, rec.url());
    const N = 10;
    await emitMany(app, tenant.tenantId, N);
    const waiting = await waitFor(async () => {
      const all = await allDeliveries(client);
      return all.length === N && all.every((d) => d.attemptCount === 1 && d.nextAttemptAt) ? all : undefined;
    }, "every delivery to wait for attempt 2");

    redis.kill("SIGKILL");
    await new Promise((r) => redis.once("exit", r));
    // Events emitted while Redis is down are written to the outbox all the same.
    await emitMany(app, tenant.tenantId, 5, N);
    redis = await startRedis();
    // Redis came back empty: the delayed jobs are gone.
    for (const d of waiting) expect(await app.webhooks.engine.queue.getJobState(d.id)).toBe("unknown");

    const done = await allSucceeded(client, N + 5);
    expect(new Set(pairs(rec)).size).toBe(rec.received.length);
    for (const d of done) expect(rec.of(d.id).map((r) => r.headers["x-attesto-attempt"])).toEqual(["1", "2"]);
  });
});
