import { Writable } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import { RetryInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { loadConfig, type Config } from "../src/config.js";
import { startRedisServer } from "../src/infra/redis.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { clientFor, newTenant, startTestServer, tempDir, testEnv } from "./support/server.js";

/** Small budgets; windows chosen so no other test file's servers share these Redis keys. */
const rateLimits = (): Config["rateLimits"] => ({
  enabled: true,
  classes: {
    verification: { points: 3, durationSeconds: 97 },
    ingest: { points: 3, durationSeconds: 97 },
    reads: { points: 4, durationSeconds: 97 },
    default: { points: 50, durationSeconds: 97 },
  },
  tenants: {},
  redisTimeoutMs: 50,
});

const failure = async (p: Promise<unknown>) => ConnectError.from(await p.then(() => new Error("expected a failure"), (e: unknown) => e));

describe("rate limits across two instances on one Redis", () => {
  let one: Attesto;
  let two: Attesto;
  beforeAll(async () => {
    [one, two] = await Promise.all([
      startTestServer({ rateLimits: rateLimits(), dbPoolSize: 4 }),
      startTestServer({ rateLimits: rateLimits(), dbPoolSize: 4 }),
    ]);
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
      expect(err.rawMessage).toMatch(/rate limit of 4 reads requests per 97s exceeded/);
      const [retry] = err.findDetails(RetryInfoSchema);
      expect(Number(retry?.retryDelay?.seconds)).toBeGreaterThanOrEqual(1);
      expect(Number(retry?.retryDelay?.seconds)).toBeLessThanOrEqual(97);
    }

    // The REST reads of the same tenant share the class budget.
    for (const app of [one, two]) {
      const res = await fetch(`${app.url}/v1/webhooks`, { headers: { authorization: `Bearer ${a.key}` } });
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(97);
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
      const config = loadConfig(await testEnv({ ATTESTO_RATE_LIMIT_TENANTS: `${small.tenantId}:reads=1/97s`, ATTESTO_DB_POOL: "2" }), { port: 0 });
      expect(config.rateLimits.tenants[small.tenantId]).toEqual({ reads: { points: 1, durationSeconds: 97 } });
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

describe("Redis trouble", () => {
  it("fails open: a stalled Redis neither blocks nor slows calls, and is reported once", async () => {
    const { child, url: redisUrl } = await startRedisServer(`${await tempDir()}/redis`);
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino(
      { level: "warn" },
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
          done();
        },
      }),
    );
    const config = loadConfig(await testEnv({ REDIS_URL: redisUrl, ATTESTO_QUEUE_PREFIX: "rlfail", ATTESTO_DB_POOL: "2" }), { port: 0 });
    const app = await startAttesto({ ...config, rateLimits: rateLimits() }, logger);
    try {
      const t = await newTenant(app.url);
      const client = clientFor(TenantService, app.url, t.key);
      await client.getCurrentTenant({});

      process.kill(child.pid!, "SIGSTOP");
      // Well past the budget of 4: every call goes through, each within the limiter's timeout plus the call itself.
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        expect((await client.getCurrentTenant({})).tenant?.id).toBe(t.tenantId);
        expect(performance.now() - started).toBeLessThan(1_000);
      }
      const rest = await fetch(`${app.url}/v1/webhooks`, { headers: { authorization: `Bearer ${t.key}` } });
      expect(rest.status).toBe(200);
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis is unavailable"))).toHaveLength(1);
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      expect(Number(/^attesto_rate_limit_unchecked_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(11);
    } finally {
      process.kill(child.pid!, "SIGCONT");
      await app.stop();
      child.kill("SIGTERM");
    }
  });
});
