import { randomBytes } from "node:crypto";
import net from "node:net";
import os from "node:os";
import { Writable } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import { RetryInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { parseTenantLimits, type Limit } from "../src/budgets.js";
import { loadConfig, type Config } from "../src/config.js";
import { openRedis, startRedisServer, type RedisHandle } from "../src/infra/redis.js";
import { RateLimits } from "../src/ratelimit/module.js";
import type { RateLimitSettings } from "../src/ratelimit/settings.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { spawnServe, stopProcess } from "./support/process.js";
import { clientFor, newTenant, startTestServer, tempDir, testEnv } from "./support/server.js";

/**
 * Windows are aligned to the clock (a window of W seconds starts at a
 * multiple of W since the epoch): an odd day-long window makes a test that
 * crosses a boundary as unlikely as one that shares its keys with another
 * test file of the run.
 */
const W = 86_399;

/**
 * Small budgets. The test servers share this process's event loop with the
 * test and each other, so a lease may be answered late for reasons of this
 * machine: a generous timeout keeps Redis "in time" where a test counts
 * exactly what the instances share.
 */
const rateLimits = (): Config["rateLimits"] => ({
  enabled: true,
  classes: {
    verification: { points: 3, durationSeconds: W },
    ingest: { points: 3, durationSeconds: W },
    reads: { points: 4, durationSeconds: W },
    default: { points: 50, durationSeconds: W },
  },
  tenants: {},
  redisTimeoutMs: 1_000,
});

/** A logger whose lines the test can read. */
function capturedLogger(level = "info") {
  const lines: Array<{ level: number; msg: string; redis?: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** A loopback TCP proxy in front of Redis that holds each reply `delayMs` before passing it on (0: at once). */
async function slowRedisProxy(target: string) {
  const { hostname, port } = new URL(target);
  let delayMs = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port || 6379), hostname);
    sockets.add(client).add(upstream);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      // Equal delays fire in order, so replies keep their order.
      if (delayMs === 0) client.write(d);
      else setTimeout(() => client.writable && client.write(d), delayMs);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Only ever raised: lowering it could let a later reply overtake an earlier one. */
    delay(ms: number) {
      delayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const facadeSettings = (extra: Partial<RateLimitSettings> = {}): RateLimitSettings => ({
  enabled: true,
  classes: {
    verification: { points: 3, durationSeconds: W },
    ingest: { points: 100, durationSeconds: W },
    reads: { points: 100, durationSeconds: W },
    default: { points: 100, durationSeconds: W },
  },
  tenants: {},
  redisTimeoutMs: 1_000,
  keyPrefix: `rltest-${randomBytes(6).toString("hex")}`,
  settleIntervalMs: 100,
  ...extra,
});

/** Checks one after another, letting the event loop turn between them (as requests do); how many were admitted. */
async function admitted(limits: RateLimits, count: number, routeClass: "verification" | "reads" | "default", tenantId: string): Promise<number> {
  let n = 0;
  for (let i = 0; i < count; i++) {
    if ((await limits.check(routeClass, { tenantId })).allowed) n++;
    await new Promise((r) => setImmediate(r));
  }
  return n;
}

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );

describe("rate limits across two instances on one Redis", () => {
  let one: Attesto;
  let two: Attesto;
  beforeAll(async () => {
    [one, two] = await Promise.all([startTestServer({ rateLimits: rateLimits(), dbPoolSize: 4 }), startTestServer({ rateLimits: rateLimits(), dbPoolSize: 4 })]);
  });
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
  });

  it("spends one budget on both instances: RESOURCE_EXHAUSTED with RetryInfo on RPC, 429 with Retry-After on REST; another tenant is unaffected", async () => {
    const [a, b] = await Promise.all([newTenant(one.url), newTenant(one.url)]);
    const aOn = [clientFor(TenantService, one.url, a.key), clientFor(TenantService, two.url, a.key)];
    for (let i = 0; i < 4; i++) expect((await aOn[i % 2]!.getCurrentTenant({})).tenant?.id).toBe(a.tenantId);

    for (const client of aOn) {
      const err = await failure(client.getCurrentTenant({}));
      expect(err.code).toBe(Code.ResourceExhausted);
      expect(err.rawMessage).toMatch(/rate limit of 4 reads requests per 86399s exceeded/);
      const [retry] = err.findDetails(RetryInfoSchema);
      expect(Number(retry?.retryDelay?.seconds)).toBeGreaterThanOrEqual(1);
      expect(Number(retry?.retryDelay?.seconds)).toBeLessThanOrEqual(W);
    }

    // The REST reads of the same tenant share the class budget.
    for (const app of [one, two]) {
      const res = await fetch(`${app.url}/v1/webhooks`, { headers: { authorization: `Bearer ${a.key}` } });
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(W);
      expect(await res.json()).toMatchObject({ error: { code: "resource_exhausted", retry_after_seconds: retryAfter } });
    }

    // Another class of the same tenant still has its budget (CreateApiKey is `default`).
    expect((await aOn[1]!.createApiKey({ name: "second" })).secret).toBeTruthy();
    // Another tenant is untouched, on both instances and both transports.
    expect((await clientFor(TenantService, two.url, b.key).getCurrentTenant({})).tenant?.id).toBe(b.tenantId);
    expect((await fetch(`${one.url}/v1/webhooks`, { headers: { authorization: `Bearer ${b.key}` } })).status).toBe(200);

    // Denials are counted on /metrics; operational routes are never limited.
    const metrics = await (await fetch(`${one.url}/metrics`)).text();
    expect(Number(/^attesto_rate_limited_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });

  it("limits a REST-only tenant by its key and answers 429 before the route runs", async () => {
    const c = await newTenant(one.url);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${(i % 2 ? two : one).url}/v1/webhooks/whs_01ARZ3NDEKTSV4RRFFQ69G5FAV`, { headers: { authorization: `Bearer ${c.key}` } });
      statuses.push(res.status);
    }
    // The route's own answer (a malformed id: 400) until the budget is spent, then the limit's.
    expect(statuses).toEqual([400, 400, 400, 400, 429, 429]);
  });

  it("charges inbound provider notifications to the tenant id in the path", async () => {
    const post = (app: Attesto, tenantId: string) => fetch(`${app.url}/v1/webhooks/apple/${tenantId}`, { method: "POST", body: "{}" });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(i % 2 ? two : one, "tnt_pathpaid")).status);
    // No such route yet on this branch (404) until the budget is spent; the limit is in front of every route.
    expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect((await post(one, "tnt_otherpath")).status).not.toBe(429);
  });

  it("charges public RPCs to the client address", async () => {
    const verifier = [clientFor(VerifierService, one.url), clientFor(VerifierService, two.url)];
    const codes: Code[] = [];
    for (let i = 0; i < 5; i++) codes.push((await failure(verifier[i % 2]!.verifyBundle({ bundleJson: "{}" }))).code);
    expect(codes.slice(0, 3).every((c) => c !== Code.ResourceExhausted)).toBe(true);
    expect(codes.slice(3)).toEqual([Code.ResourceExhausted, Code.ResourceExhausted]);
  });

  it("never limits operator calls or health, readiness and metrics", async () => {
    for (let i = 0; i < 8; i++) expect((await fetch(`${one.url}/healthz`)).status).toBe(200);
    for (let i = 0; i < 8; i++) await newTenant(two.url);
  });
});

describe("per-tenant override", () => {
  it("gives the tenant named in ATTESTO_RATE_LIMIT_TENANTS its own budget", async () => {
    const first = await startTestServer({ rateLimits: rateLimits(), dbPoolSize: 2 });
    try {
      const [small, normal] = await Promise.all([newTenant(first.url), newTenant(first.url)]);
      const config = loadConfig(await testEnv({ ATTESTO_RATE_LIMIT_TENANTS: `${small.tenantId}:reads=1/${W}s`, ATTESTO_DB_POOL: "2" }), { port: 0 });
      expect(config.rateLimits.tenants[small.tenantId]).toEqual({ reads: { points: 1, durationSeconds: W } });
      const app = await startAttesto({ ...config, rateLimits: { ...rateLimits(), tenants: config.rateLimits.tenants } }, pino({ level: "silent" }));
      try {
        await clientFor(TenantService, app.url, small.key).getCurrentTenant({});
        expect((await failure(clientFor(TenantService, app.url, small.key).getCurrentTenant({}))).code).toBe(Code.ResourceExhausted);
        for (let i = 0; i < 4; i++) await clientFor(TenantService, app.url, normal.key).getCurrentTenant({});
        expect((await failure(clientFor(TenantService, app.url, normal.key).getCurrentTenant({}))).code).toBe(Code.ResourceExhausted);
      } finally {
        await app.stop();
      }
    } finally {
      await first.stop();
    }
  });
});

describe("RateLimits on Redis", () => {
  const { logger } = capturedLogger("silent");
  let redis: RedisHandle;
  beforeAll(async () => {
    redis = await openRedis({ url: inject("redisUrl"), dataDir: os.tmpdir(), logger });
  });
  afterAll(async () => {
    await redis.close();
  });

  it("allows the budget, then denies with the wait until the window ends, per payer and class", async () => {
    const limits = new RateLimits({ redis, logger }, facadeSettings());
    await limits.start();
    try {
      expect(await admitted(limits, 5, "verification", "tnt_a")).toBe(3);
      const denied = await limits.check("verification", { tenantId: "tnt_a" });
      expect(denied.allowed).toBe(false);
      if (!denied.allowed) {
        expect(denied.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(denied.retryAfterSeconds).toBeLessThanOrEqual(W);
      }
      expect(() => limits.enforce("verification", { tenantId: "tnt_a" })).toThrow(
        expect.objectContaining({ code: "resource_exhausted", details: { retryAfterSeconds: expect.any(Number), reason: "RATE_LIMITED" } }),
      );
      // Another tenant, another class, a client address and a connector each have their own budget.
      expect((await limits.check("verification", { tenantId: "tnt_b" })).allowed).toBe(true);
      expect((await limits.check("reads", { tenantId: "tnt_a" })).allowed).toBe(true);
      expect((await limits.check("verification", { ip: "tnt_a" })).allowed).toBe(true);
      expect((await limits.check("verification", { connectorId: "tnt_a" })).allowed).toBe(true);
      expect(limits.stats()).toEqual({ denied: 4, localOnly: 0, redisSlow: 0, redisUnavailable: 0 });
    } finally {
      await limits.close();
    }
  });

  it("shares one budget between instances on the same prefix", async () => {
    const s = facadeSettings();
    const one = new RateLimits({ redis, logger }, s);
    const two = new RateLimits({ redis, logger }, s);
    await Promise.all([one.start(), two.start()]);
    try {
      const seen: boolean[] = [];
      for (let i = 0; i < 6; i++) {
        seen.push((await (i % 2 ? two : one).check("verification", { tenantId: "tnt_s" })).allowed);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(seen).toEqual([true, true, true, false, false, false]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("holds the written overshoot across two instances under concurrent load: budget ± 2 × chunk", async () => {
    const budget: Limit = { points: 300, durationSeconds: W };
    const s = facadeSettings({ classes: { ...facadeSettings().classes, reads: budget } });
    const one = new RateLimits({ redis, logger }, s);
    const two = new RateLimits({ redis, logger }, s);
    await Promise.all([one.start(), two.start()]);
    try {
      let allowed = 0;
      // 40 bursts of 50 concurrent checks, split between the instances.
      for (let burst = 0; burst < 40; burst++) {
        const decisions = await Promise.all(Array.from({ length: 50 }, async (_, i) => (i % 2 ? two : one).check("reads", { tenantId: "tnt_load" })));
        allowed += decisions.filter((d) => d.allowed).length;
        await new Promise((r) => setImmediate(r));
      }
      // chunk = 300 / 50 = 6: credit can overshoot by N × chunk; leases held unspent can fall short by N × 1.5 chunks.
      expect(allowed).toBeLessThanOrEqual(300 + 2 * 6);
      expect(allowed).toBeGreaterThanOrEqual(300 - 2 * 9);
      expect(one.stats().localOnly + two.stats().localOnly).toBe(0);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("applies a tenant's override instead of the class default", async () => {
    const limits = new RateLimits({ redis, logger }, facadeSettings({ tenants: parseTenantLimits(`tnt_small:verification=1/${W}s;tnt_big:verification=5/${W}s`) }));
    await limits.start();
    try {
      expect(await admitted(limits, 3, "verification", "tnt_small")).toBe(1);
      expect(await admitted(limits, 8, "verification", "tnt_big")).toBe(5);
    } finally {
      await limits.close();
    }
  });

  it("frees the budget when the window ends", async () => {
    const limits = new RateLimits({ redis, logger }, facadeSettings({ classes: { ...facadeSettings().classes, default: { points: 1, durationSeconds: 1 } } }));
    await limits.start();
    try {
      expect((await limits.check("default", { tenantId: "tnt_w" })).allowed).toBe(true);
      expect((await limits.check("default", { tenantId: "tnt_w" })).allowed).toBe(false);
      const deadline = Date.now() + 3_000;
      let again = false;
      while (!again && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        again = (await limits.check("default", { tenantId: "tnt_w" })).allowed;
      }
      expect(again).toBe(true);
    } finally {
      await limits.close();
    }
  });

  it("lets everything through when disabled, without a connection", async () => {
    const limits = new RateLimits({ redis, logger }, facadeSettings({ enabled: false }));
    await limits.start();
    expect(await admitted(limits, 10, "verification", "tnt_off")).toBe(10);
    await limits.close();
  });

  it("keeps the limit through a stalled event loop", async () => {
    const { logger: watched, lines } = capturedLogger();
    const limits = new RateLimits({ redis, logger: watched }, facadeSettings({ redisTimeoutMs: 50, classes: { ...facadeSettings().classes, default: { points: 5, durationSeconds: W } } }));
    await limits.start();
    try {
      // The first check sends a lease; the loop then stalls (a long verification, say) while its answer waits in the socket.
      expect((await limits.check("default", { tenantId: "tnt_stall" })).allowed).toBe(true);
      const until = performance.now() + 300;
      while (performance.now() < until);
      expect(await admitted(limits, 20, "default", "tnt_stall")).toBe(4);
      expect(lines.filter((l) => l.redis === "slow")).toHaveLength(1);
    } finally {
      await limits.close();
    }
  });
});

describe("two server processes", () => {
  it("share one budget under concurrent load within the written overshoot: budget + 2 × chunk at most, budget − 2 × 1.5 chunks at least", async () => {
    // One environment for both: the same database, master key and Redis prefix.
    const env = {
      ...process.env,
      ...(await testEnv({ ATTESTO_RATE_LIMIT_READS: `200/${W}s`, ATTESTO_RATE_LIMIT_REDIS_TIMEOUT_MS: "1000", ATTESTO_DB_POOL: "2" })),
    };
    // One after the other: both migrate the same database at start-up.
    const one = await spawnServe(env);
    const two = await spawnServe(env);
    try {
      const t = await newTenant(one.info.url);
      const call = (url: string) =>
        fetch(`${url}/attesto.v1.TenantService/GetCurrentTenant`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${t.key}` },
          body: "{}",
        }).then(async (res) => (await res.text(), res.status));
      const statuses: number[] = [];
      // 20 bursts of 30 concurrent calls, alternating between the processes.
      for (let burst = 0; burst < 20; burst++) statuses.push(...(await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2 ? two.info.url : one.info.url)))));
      const ok = statuses.filter((s) => s === 200).length;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      // chunk = 200 / 50 = 4.
      expect(ok).toBeLessThanOrEqual(200 + 2 * 4);
      expect(ok).toBeGreaterThanOrEqual(200 - 2 * 6);
    } finally {
      await Promise.all([stopProcess(one.child), stopProcess(two.child)]);
    }
  });
});

describe("Redis slow", () => {
  it("holds the limit when Redis answers 400 ms late, does not slow requests, and says so once", async () => {
    const proxy = await slowRedisProxy(inject("redisUrl"));
    const { logger, lines } = capturedLogger("warn");
    const config = loadConfig(await testEnv({ REDIS_URL: proxy.url, ATTESTO_DB_POOL: "2" }), { port: 0 });
    const app = await startAttesto({ ...config, rateLimits: { ...rateLimits(), redisTimeoutMs: 50 } }, logger);
    try {
      const t = await newTenant(app.url);
      const client = clientFor(TenantService, app.url, t.key);
      proxy.delay(400);
      const codes: Array<Code | "ok"> = [];
      for (let i = 0; i < 12; i++) {
        const started = performance.now();
        codes.push(
          await client.getCurrentTenant({}).then(
            () => "ok" as const,
            (e: unknown) => ConnectError.from(e).code,
          ),
        );
        // At most one wait of the limiter's timeout (50 ms) for a lease, never Redis's 400 ms.
        expect(performance.now() - started).toBeLessThan(350);
      }
      expect(codes.filter((c) => c === "ok")).toHaveLength(4);
      expect(codes.slice(4)).toEqual(Array(8).fill(Code.ResourceExhausted));
      // Said when the late answer arrives.
      const slowLines = () => lines.filter((l) => l.msg.startsWith("rate limiter: Redis is slow"));
      for (const until = Date.now() + 2_000; slowLines().length === 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
      expect(slowLines()).toHaveLength(1);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(Number(/^attesto_rate_limit_redis_trouble_total\{kind="slow"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
      expect(Number(/^attesto_rate_limit_local_only_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await app.stop();
      await proxy.close();
    }
  });
});

describe("Redis slower than the command timeout", () => {
  it("is said as slow, not unavailable, and counted as slow (issue 26, defect 8)", async () => {
    // A Redis of this test's own: CLIENT PAUSE stops every client of the server it is sent to.
    const { child, url } = await startRedisServer(`${await tempDir()}/redis`);
    const { logger, lines } = capturedLogger();
    const redis = await openRedis({ url, dataDir: os.tmpdir(), logger });
    // A lease answered after 50 ms is late; one unanswered for 1 s (the command timeout) fails in ioredis.
    const limits = new RateLimits({ redis, logger }, facadeSettings({ redisTimeoutMs: 50, classes: { ...facadeSettings().classes, reads: { points: 1_000, durationSeconds: W } } }));
    await limits.start();
    try {
      expect(await admitted(limits, 2, "reads", "tnt_paused")).toBe(2);
      await redis.client.call("CLIENT", "PAUSE", "2500", "ALL");
      // Requests go on while the lease calls wait; each is admitted at once on the local bucket.
      const until = Date.now() + 5_000;
      while (limits.stats().redisSlow < 2 && Date.now() < until) {
        expect((await limits.check("reads", { tenantId: "tnt_paused" })).allowed).toBe(true);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Noticed overdue (the first), then failed by the command timeout (the second): both slow.
      expect(limits.stats()).toMatchObject({ redisUnavailable: 0 });
      expect(limits.stats().redisSlow).toBeGreaterThanOrEqual(2);
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis is unavailable"))).toEqual([]);
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis is slow"))).toHaveLength(1);
    } finally {
      child.kill("SIGKILL");
      await limits.close();
      await redis.close();
    }
  });
});

describe("Redis gone", () => {
  it("fails open across instances: each enforces the whole budget alone, answers at once, says so once", async () => {
    const { child, url } = await startRedisServer(`${await tempDir()}/redis`);
    const { logger, lines } = capturedLogger();
    const redis = await openRedis({ url, dataDir: os.tmpdir(), logger });
    const s = facadeSettings();
    const one = new RateLimits({ redis, logger }, s);
    const two = new RateLimits({ redis, logger }, s);
    await Promise.all([one.start(), two.start()]);
    try {
      // Shared while Redis is up.
      expect((await admitted(one, 2, "verification", "tnt_up")) + (await admitted(two, 2, "verification", "tnt_up"))).toBe(3);

      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      const started = performance.now();
      // Each instance admits the budget of 3 on its own: 6 in all, where Redis would have allowed 3; then refuses.
      expect(await admitted(one, 10, "verification", "tnt_down")).toBe(3);
      expect(await admitted(two, 10, "verification", "tnt_down")).toBe(3);
      expect(performance.now() - started).toBeLessThan(1_000);
      // A payer Redis said was over its budget stays refused (`one` still holds a token it leased before).
      expect((await two.check("verification", { tenantId: "tnt_up" })).allowed).toBe(false);
      // The first check of each may still have been admitted on credit, before its lease call failed.
      expect(one.stats().localOnly + two.stats().localOnly).toBeGreaterThanOrEqual(4);
      // Let the settle timer try Redis a few times: still one line per instance.
      await new Promise((r) => setTimeout(r, 400));
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis is unavailable"))).toHaveLength(2);
      expect(one.stats().redisUnavailable).toBeGreaterThanOrEqual(2);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await Promise.all([one.close(), two.close()]);
      await redis.close();
    }
  });

  it("charges what it admitted during a stall once Redis answers again, and says so once", async () => {
    const { child, url } = await startRedisServer(`${await tempDir()}/redis`);
    const { logger, lines } = capturedLogger();
    const redis = await openRedis({ url, dataDir: os.tmpdir(), logger });
    const s = facadeSettings({ redisTimeoutMs: 50, classes: { ...facadeSettings().classes, verification: { points: 5, durationSeconds: W } } });
    const one = new RateLimits({ redis, logger }, s);
    const two = new RateLimits({ redis, logger }, s);
    await Promise.all([one.start(), two.start()]);
    try {
      process.kill(child.pid!, "SIGSTOP");
      expect(await admitted(one, 8, "verification", "tnt_stalled")).toBe(5);
      process.kill(child.pid!, "SIGCONT");
      for (const until = Date.now() + 5_000; !lines.some((l) => l.msg.startsWith("rate limiter: Redis answers in time again")) && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis answers in time again"))).toHaveLength(1);
      // Let the settle carry the rest of the charge; then another instance, which admitted nothing itself, finds the budget
      // spent: it admits only its one request of credit (chunk = 1), where an uncharged counter would have let it have 3.
      await new Promise((r) => setTimeout(r, 300));
      expect(await admitted(two, 4, "verification", "tnt_stalled")).toBe(1);
    } finally {
      process.kill(child.pid!, "SIGCONT");
      child.kill("SIGKILL");
      await Promise.all([one.close(), two.close()]);
      await redis.close();
    }
  });
});
