import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { RateLimiterRes } from "rate-limiter-flexible";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openRedis, startRedisServer, type RedisHandle } from "../infra/redis.js";
import { decisionOf, RateLimits, type RateLimitSettings } from "./limiter.js";
import { limitFor, parseLimit, parseTenantLimits, retryAfterSeconds } from "./limits.js";

/** A logger whose lines the test can read. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const settings = (extra: Partial<RateLimitSettings> = {}): RateLimitSettings => ({
  enabled: true,
  classes: {
    verification: { points: 3, durationSeconds: 60 },
    ingest: { points: 100, durationSeconds: 60 },
    reads: { points: 100, durationSeconds: 60 },
    default: { points: 100, durationSeconds: 60 },
  },
  tenants: {},
  redisTimeoutMs: 50,
  keyPrefix: `rltest-${randomBytes(6).toString("hex")}`,
  ...extra,
});

describe("limit settings", () => {
  it("parses budgets and refuses malformed ones", () => {
    expect(parseLimit("100/1s")).toEqual({ points: 100, durationSeconds: 1 });
    expect(parseLimit(" 6000 / 1m ")).toEqual({ points: 6000, durationSeconds: 60 });
    expect(parseLimit("5/2h")).toEqual({ points: 5, durationSeconds: 7200 });
    for (const bad of ["", "100", "100/s", "0/1s", "10/0s", "10/25h", "-1/1s", "1.5/1s", "10/1d"]) {
      expect(() => parseLimit(bad), bad).toThrow(/limit|between/);
    }
  });

  it("parses per-tenant overrides and names the bad part", () => {
    expect(parseTenantLimits("")).toEqual({});
    expect(parseTenantLimits("tnt_a:verification=10/1s, reads=50/1m; tnt_b:ingest=5000/1s")).toEqual({
      tnt_a: { verification: { points: 10, durationSeconds: 1 }, reads: { points: 50, durationSeconds: 60 } },
      tnt_b: { ingest: { points: 5000, durationSeconds: 1 } },
    });
    expect(() => parseTenantLimits("verification=10/1s")).toThrow(/tenant id/);
    expect(() => parseTenantLimits("tnt_a:writes=10/1s")).toThrow(/verification, ingest, reads, default/);
    expect(() => parseTenantLimits("tnt_a:reads=lots")).toThrow(/not a limit/);
  });

  it("takes the tenant's override of a class, else the class default", () => {
    const s = settings({ tenants: parseTenantLimits("tnt_a:verification=1/1s") });
    expect(limitFor(s.classes, s.tenants, "verification", "tnt_a")).toEqual({ points: 1, durationSeconds: 1 });
    expect(limitFor(s.classes, s.tenants, "reads", "tnt_a")).toEqual(s.classes.reads);
    expect(limitFor(s.classes, s.tenants, "verification", "tnt_b")).toEqual(s.classes.verification);
    expect(limitFor(s.classes, s.tenants, "verification", undefined)).toEqual(s.classes.verification);
  });

  it("rounds the wait up to whole seconds, at least one", () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(59_400)).toBe(60);
  });
});

describe("decisionOf", () => {
  const limit = { points: 5, durationSeconds: 10 };
  it("allows a consumed point", () => {
    expect(decisionOf({ consumed: true }, limit)).toEqual({ allowed: true, unchecked: false });
  });
  it("denies a spent budget with the wait", () => {
    expect(decisionOf({ consumed: false, rejection: new RateLimiterRes(0, 2500, 6, false) }, limit)).toEqual({ allowed: false, retryAfterSeconds: 3, limit });
  });
  it("lets a request through unchecked when the store failed", () => {
    expect(decisionOf({ consumed: false, rejection: new Error("Connection is closed.") }, limit)).toEqual({ allowed: true, unchecked: true });
    expect(decisionOf({ consumed: false, rejection: "weird" }, limit)).toEqual({ allowed: true, unchecked: true });
  });
});

describe("RateLimits on a shared Redis", () => {
  let redis: RedisHandle;
  const { logger } = capturedLogger();
  beforeAll(async () => {
    redis = await openRedis({ url: inject("redisUrl"), dataDir: os.tmpdir(), logger });
  });
  afterAll(async () => {
    await redis.close();
  });

  it("allows the budget, then denies with the wait, per payer and class", async () => {
    const limits = new RateLimits({ redis, logger }, settings());
    await limits.start();
    try {
      for (let i = 0; i < 3; i++) expect(await limits.check("verification", { tenantId: "tnt_a" })).toEqual({ allowed: true, unchecked: false });
      const denied = await limits.check("verification", { tenantId: "tnt_a" });
      expect(denied.allowed).toBe(false);
      if (!denied.allowed) {
        expect(denied.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(denied.retryAfterSeconds).toBeLessThanOrEqual(60);
      }
      await expect(limits.enforce("verification", { tenantId: "tnt_a" })).rejects.toMatchObject({
        code: "resource_exhausted",
        details: { retryAfterSeconds: expect.any(Number), reason: "RATE_LIMITED" },
      });
      // Another tenant, another class, a client address and a connector each have their own budget.
      expect((await limits.check("verification", { tenantId: "tnt_b" })).allowed).toBe(true);
      expect((await limits.check("reads", { tenantId: "tnt_a" })).allowed).toBe(true);
      expect((await limits.check("verification", { ip: "tnt_a" })).allowed).toBe(true);
      expect((await limits.check("verification", { connectorId: "tnt_a" })).allowed).toBe(true);
      expect(limits.stats()).toEqual({ denied: 2, unchecked: 0 });
    } finally {
      await limits.close();
    }
  });

  it("shares one budget between instances on the same prefix", async () => {
    const s = settings();
    const one = new RateLimits({ redis, logger }, s);
    const two = new RateLimits({ redis, logger }, s);
    await Promise.all([one.start(), two.start()]);
    try {
      expect((await one.check("verification", { tenantId: "tnt_s" })).allowed).toBe(true);
      expect((await two.check("verification", { tenantId: "tnt_s" })).allowed).toBe(true);
      expect((await one.check("verification", { tenantId: "tnt_s" })).allowed).toBe(true);
      expect((await two.check("verification", { tenantId: "tnt_s" })).allowed).toBe(false);
      expect((await one.check("verification", { tenantId: "tnt_s" })).allowed).toBe(false);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("applies a tenant's override instead of the class default", async () => {
    const limits = new RateLimits({ redis, logger }, settings({ tenants: parseTenantLimits("tnt_small:verification=1/1m;tnt_big:verification=5/1m") }));
    await limits.start();
    try {
      expect((await limits.check("verification", { tenantId: "tnt_small" })).allowed).toBe(true);
      expect((await limits.check("verification", { tenantId: "tnt_small" })).allowed).toBe(false);
      for (let i = 0; i < 5; i++) expect((await limits.check("verification", { tenantId: "tnt_big" })).allowed).toBe(true);
      expect((await limits.check("verification", { tenantId: "tnt_big" })).allowed).toBe(false);
    } finally {
      await limits.close();
    }
  });

  it("frees the budget when the window ends", async () => {
    const s = settings();
    s.classes.default = { points: 1, durationSeconds: 1 };
    const limits = new RateLimits({ redis, logger }, s);
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

  it("lets everything through when disabled, without touching Redis", async () => {
    const limits = new RateLimits({ redis, logger }, settings({ enabled: false }));
    await limits.start();
    for (let i = 0; i < 10; i++) expect(await limits.check("verification", { tenantId: "tnt_off" })).toEqual({ allowed: true, unchecked: false });
    await limits.close();
  });
});

describe("RateLimits when Redis fails", () => {
  it("fails open fast with one warning: a stalled Redis (in-flight timeout), its recovery, then a dead one", async () => {
    const { child, url } = await startRedisServer(path.join(await mkdtemp(path.join(os.tmpdir(), "attesto-rl-")), "redis"));
    const { logger, lines } = capturedLogger();
    const redis = await openRedis({ url, dataDir: os.tmpdir(), logger });
    const limits = new RateLimits({ redis, logger }, settings());
    await limits.start();
    const warnings = () => lines.filter((l) => l.level === 40 && l.msg.startsWith("rate limiter"));
    try {
      // Wait for the limiter's own connection, then spend the budget.
      let first = await limits.check("verification", { tenantId: "tnt_f" });
      const ready = Date.now() + 5_000;
      while (first.allowed && first.unchecked && Date.now() < ready) {
        await new Promise((r) => setTimeout(r, 20));
        first = await limits.check("verification", { tenantId: "tnt_f" });
      }
      expect(first).toEqual({ allowed: true, unchecked: false });
      for (let i = 0; i < 5; i++) await limits.check("verification", { tenantId: "tnt_f" });
      expect((await limits.check("verification", { tenantId: "tnt_f" })).allowed).toBe(false);

      // Stalled: commands are sent and never answered; each check gives up after the timeout.
      process.kill(child.pid!, "SIGSTOP");
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        const d = await limits.check("verification", { tenantId: "tnt_other" });
        expect(d).toEqual({ allowed: true, unchecked: true });
        expect(performance.now() - started).toBeLessThan(500);
      }
      expect(warnings()).toHaveLength(1);

      // Back: limits are enforced again, and that is said once.
      process.kill(child.pid!, "SIGCONT");
      const back = Date.now() + 5_000;
      let checked = await limits.check("verification", { tenantId: "tnt_g" });
      while (checked.allowed && checked.unchecked && Date.now() < back) {
        await new Promise((r) => setTimeout(r, 20));
        checked = await limits.check("verification", { tenantId: "tnt_g" });
      }
      expect(checked).toEqual({ allowed: true, unchecked: false });
      // The checks sent during the stall reached Redis late and count against that tenant.
      expect((await limits.check("verification", { tenantId: "tnt_other" })).allowed).toBe(false);
      expect(lines.filter((l) => l.msg.startsWith("rate limiter: Redis answers again"))).toHaveLength(1);

      // Dead: the connection is refused; checks answer at once, one new warning for the new outage.
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      const started = performance.now();
      for (let i = 0; i < 50; i++) expect(await limits.check("verification", { tenantId: "tnt_h" })).toEqual({ allowed: true, unchecked: true });
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(warnings()).toHaveLength(2);
      expect(limits.stats().unchecked).toBeGreaterThanOrEqual(60);
      await expect(limits.enforce("verification", { tenantId: "tnt_h" })).resolves.toBeUndefined();
      // A payer already known to be over its window stays refused from memory, Redis or not.
      expect((await limits.check("verification", { tenantId: "tnt_f" })).allowed).toBe(false);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, "SIGCONT");
        child.kill("SIGKILL");
      }
      await limits.close();
      await redis.close();
    }
  });
});
