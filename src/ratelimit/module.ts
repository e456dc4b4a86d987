import type { Redis } from "ioredis";
import type { Limit, RouteClass } from "../budgets.js";
import { AppError } from "../errors.js";
import type { RedisHandle } from "../infra/redis.js";
import type { Logger } from "../logger.js";
import { limitFor, retryAfterSeconds } from "./limits.js";
import { PayerBudget, type LeaseRequest } from "./payer-budget.js";
import type { RateLimitSettings } from "./settings.js";
import { TroubleLog, type RedisTrouble } from "./trouble-log.js";

export { classifyHttp, classifyRpc } from "./classes.js";

/** Who pays: a tenant (authenticated, or named in the path), a connector, or a client address. */
export type RateSubject = { tenantId: string } | { connectorId: string } | { ip: string };

export type Decision =
  /** `shared`: counted against the budget all instances share; false: admitted by this process's own bucket while Redis was slow or unavailable. */
  { allowed: true; shared: boolean } | { allowed: false; retryAfterSeconds: number; limit: Limit };

export interface RateLimitStats {
  /** Requests refused by a budget. */
  denied: number;
  /** Requests admitted by this process's own bucket alone, while Redis was slow or unavailable (charged once it answers). */
  localOnly: number;
  /** Lease calls Redis answered later than the timeout, or not within the connection's command timeout. */
  redisSlow: number;
  /** Lease calls that failed (refused, closed, not connected); one unanswered within the command timeout counts as slow. */
  redisUnavailable: number;
}

const ALLOWED_SHARED: Decision = Object.freeze({ allowed: true, shared: true });
const ALLOWED_LOCAL: Decision = Object.freeze({ allowed: true, shared: false });

/**
 * Charges `charge` requests already admitted and leases up to `want` more
 * tokens from one window's counter, never past `points`; the key expires
 * after its window. Returns { granted, the window's count after the call }.
 */
const LEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local charge = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local points = tonumber(ARGV[3])
local granted = math.min(want, math.max(0, points - used - charge))
local total = used + charge + granted
if total ~= used then
  redis.call('SET', KEYS[1], total, 'PX', ARGV[4])
end
return {granted, total}
`;

type LeaseClient = Redis & {
  attestoLease(key: string, charge: number, want: number, points: number, ttlMs: number): Promise<[number, number]>;
};

/** Idle budgets are looked for every this many settle ticks. */
const SWEEP_EVERY_TICKS = 10;

const subjectKey = (s: RateSubject) => ("tenantId" in s ? `t:${s.tenantId}` : "connectorId" in s ? `c:${s.connectorId}` : `ip:${s.ip}`);

/**
 * Per-payer, per-route-class request budgets, answered from process memory
 * and settled with Redis in the background (payer-budget.ts: a local token
 * bucket plus tokens leased ahead of need from a shared fixed-window
 * counter). A request never waits for Redis except when it arrives faster
 * than leases do while Redis answers in time, and then at most
 * `redisTimeoutMs`. Redis slow (a lease answered late) or unavailable (a
 * lease call failed): a payer without leased tokens in hand is admitted by
 * its process's bucket alone (fail open across instances, never unlimited);
 * leases keep flowing from a slow Redis, a failing one is tried by the settle
 * timer; the state is said in the log at most once a minute per kind, and
 * what was admitted is charged once Redis answers again.
 */
export class RateLimits {
  readonly #budgets = new Map<string, PayerBudget>();
  /** Budgets that owe Redis a charge and had no lease call to carry it. */
  readonly #owed = new Map<string, PayerBudget>();
  /** The lease call in flight for each request, for a request that waits for it. */
  readonly #pending = new WeakMap<LeaseRequest, Promise<void>>();
  /** Lease calls already counted as slow (noticed overdue before their answer came). */
  readonly #overdue = new WeakSet<LeaseRequest>();
  #client: LeaseClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  /** How the last lease call went: answered within the timeout, answered late, or failed. */
  #redis: "inTime" | "slow" | "unavailable" = "unavailable";
  readonly #stats: RateLimitStats = { denied: 0, localOnly: 0, redisSlow: 0, redisUnavailable: 0 };
  readonly #troubleLog: TroubleLog;

  constructor(
    private readonly deps: { redis: RedisHandle; logger: Logger },
    readonly settings: RateLimitSettings,
  ) {
    this.#troubleLog = new TroubleLog(deps.logger);
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  stats(): RateLimitStats {
    return { ...this.#stats };
  }

  /** Opens the limiter's connection and waits (up to a second) for it, and starts the settle timer; a Redis that is down then is not waited for. */
  async start(): Promise<void> {
    if (!this.settings.enabled || this.#client) return;
    const client = this.deps.redis.connect({
      // Fail fast instead of queueing while disconnected; a command unanswered this long fails (and counts as slow).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.#commandTimeoutMs(),
      connectTimeout: 1_000,
      // Lease calls of one tick go out in one write.
      enableAutoPipelining: true,
      // Reconnect quietly in the background, at most once a second.
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    }) as LeaseClient;
    client.defineCommand("attestoLease", { numberOfKeys: 1, lua: LEASE_SCRIPT });
    this.#client = client;
    if (client.status !== "ready") {
      let timer: NodeJS.Timeout | undefined;
      let onReady: () => void = () => {};
      await new Promise<void>((resolve) => {
        onReady = resolve;
        client.once("ready", onReady);
        timer = setTimeout(resolve, 1_000);
      });
      clearTimeout(timer);
      client.off("ready", onReady);
    }
    if (client.status === "ready") {
      // Load the lease script now, so the first lease is not the one that pays for it.
      await client.script("LOAD", LEASE_SCRIPT).then(
        () => (this.#redis = "inTime"),
        () => {},
      );
    }
    this.#timer = setInterval(() => this.#settle(), this.settings.settleIntervalMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    this.#budgets.clear();
    this.#owed.clear();
    if (client) await client.quit().catch(() => client.disconnect());
  }

  /** Charges one request to the subject's budget for the class; answers from memory unless it must wait for a lease (see the class comment). */
  check(routeClass: RouteClass, subject: RateSubject): Decision | Promise<Decision> {
    if (!this.settings.enabled || !this.#client) return ALLOWED_SHARED;
    const limit = limitFor(this.settings.classes, this.settings.tenants, routeClass, "tenantId" in subject ? subject.tenantId : undefined);
    // The window is part of the key so that instances configured differently never share a counter.
    const key = `${routeClass}:${limit.durationSeconds}:${subjectKey(subject)}`;
    const now = Date.now();
    let budget = this.#budgets.get(key);
    if (!budget) {
      budget = new PayerBudget(limit, this.settings.redisTimeoutMs, now);
      this.#budgets.set(key, budget);
    }
    const admission = budget.decide(now, this.#redis === "inTime");
    if (admission.kind === "wait") return this.#waitForLease(key, budget, now + this.settings.redisTimeoutMs);
    return this.#decided(key, budget, admission, now);
  }

  /** check(), throwing resource_exhausted with the wait when the budget is spent. */
  enforce(routeClass: RouteClass, subject: RateSubject): void | Promise<void> {
    const decision = this.check(routeClass, subject);
    if (decision instanceof Promise) return decision.then((d) => refuseIfDenied(d, routeClass));
    refuseIfDenied(decision, routeClass);
  }

  /** Waits for the budget's lease (sending one if none is in flight) and decides again, until `deadline`; past it the request is admitted on the local bucket. */
  async #waitForLease(key: string, budget: PayerBudget, deadline: number): Promise<Decision> {
    for (;;) {
      this.#lease(key, budget, Date.now());
      const lease = budget.inflight && this.#pending.get(budget.inflight);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([lease, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
      clearTimeout(timer);
      const now = Date.now();
      const admission = budget.decide(now, this.#redis === "inTime", now < deadline);
      if (admission.kind !== "wait") return this.#decided(key, budget, admission, now);
    }
  }

  #decided(key: string, budget: PayerBudget, admission: { kind: "admit"; shared: boolean } | { kind: "deny"; retryAfterMs: number }, now: number): Decision {
    if (admission.kind === "deny") {
      this.#stats.denied++;
      return { allowed: false, retryAfterSeconds: retryAfterSeconds(admission.retryAfterMs), limit: budget.limit };
    }
    // A failing Redis is tried by the settle timer only, not by every request.
    if (this.#redis !== "unavailable") this.#lease(key, budget, now);
    else if (budget.unreported > 0) this.#owed.set(key, budget);
    if (admission.shared) return ALLOWED_SHARED;
    this.#stats.localOnly++;
    const overdue = budget.inflight;
    if (overdue && !this.#overdue.has(overdue) && now - overdue.sentAt > this.settings.redisTimeoutMs) {
      // Say it now, not when (or if) the answer comes.
      this.#overdue.add(overdue);
      this.#troubled("slow", `a lease call has waited ${now - overdue.sentAt} ms, over the ${this.settings.redisTimeoutMs} ms timeout`);
    }
    return ALLOWED_LOCAL;
  }

  /** Sends the budget's lease call if it needs one and has none in flight. */
  #lease(key: string, budget: PayerBudget, now: number): void {
    const client = this.#client;
    if (!client) return;
    const request = budget.leaseToSend(now);
    if (!request) return;
    const ttlMs = (request.window + 1) * budget.windowMs - now + 1_000;
    const call = client.attestoLease(`${this.settings.keyPrefix}:rl:${key}:${request.window}`, request.charge, request.want, budget.limit.points, ttlMs).then(
      ([granted, total]) => {
        budget.leaseAnswered(request, Number(granted), Number(total));
        const tookMs = Date.now() - request.sentAt;
        if (tookMs <= this.settings.redisTimeoutMs) this.#answeredInTime();
        else if (!this.#overdue.has(request)) this.#troubled("slow", `a lease call took ${tookMs} ms, over the ${this.settings.redisTimeoutMs} ms timeout`);
        if (budget.unreported > 0) this.#owed.set(key, budget);
      },
      (err: unknown) => {
        budget.leaseFailed(request);
        if (budget.unreported > 0) this.#owed.set(key, budget);
        // ioredis's command timeout: Redis (or this event loop) is late, not gone.
        if (isCommandTimeout(err)) this.#troubled("slow", `a lease call got no answer within the ${this.#commandTimeoutMs()} ms command timeout`);
        else this.#troubled("unavailable", err instanceof Error ? err.message : String(err));
      },
    );
    this.#pending.set(request, call);
  }

  /**
   * The background settle: charges owed to Redis, and forgets idle budgets.
   * A Redis that failed is probed with one charge per tick, not one per
   * owing budget, so an outage costs no storm of failing calls.
   */
  #settle(): void {
    const now = Date.now();
    const probeOnly = this.#redis === "unavailable";
    for (const [key, budget] of this.#owed) {
      if (budget.inflight) continue;
      this.#owed.delete(key);
      this.#lease(key, budget, now);
      if (probeOnly) break;
    }
    if (++this.#ticks % SWEEP_EVERY_TICKS !== 0) return;
    for (const [key, budget] of this.#budgets) {
      if (budget.idle(now)) {
        this.#budgets.delete(key);
        this.#owed.delete(key);
      }
    }
  }

  #troubled(kind: RedisTrouble, detail: string): void {
    this.#redis = kind;
    this.#stats[kind === "slow" ? "redisSlow" : "redisUnavailable"]++;
    this.#troubleLog.troubled(kind, detail);
  }

  #answeredInTime(): void {
    if (this.#redis === "inTime") return;
    this.#redis = "inTime";
    this.#troubleLog.recovered();
  }

  /** How long the limiter's connection waits for a command's answer before failing it. */
  #commandTimeoutMs(): number {
    return Math.max(1_000, this.settings.redisTimeoutMs * 10);
  }
}

/** The error ioredis fails a command with when `commandTimeout` passed without an answer. */
const isCommandTimeout = (err: unknown) => err instanceof Error && err.message === "Command timed out";

function refuseIfDenied(decision: Decision, routeClass: RouteClass): void {
  if (decision.allowed) return;
  throw new AppError("resource_exhausted", `rate limit of ${decision.limit.points} ${routeClass} requests per ${decision.limit.durationSeconds}s exceeded; retry in ${decision.retryAfterSeconds}s`, {
    retryAfterSeconds: decision.retryAfterSeconds,
    reason: "RATE_LIMITED",
  });
}
