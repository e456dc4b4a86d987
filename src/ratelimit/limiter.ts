import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../errors.js";
import type { RedisHandle } from "../infra/redis.js";
import type { Logger } from "../logger.js";
import type { RouteClass } from "./classes.js";
import { limitFor, retryAfterSeconds, type ClassLimits, type Limit, type TenantLimits } from "./limits.js";

export interface RateLimitSettings {
  enabled: boolean;
  classes: ClassLimits;
  tenants: TenantLimits;
  /** Budget of one Redis round trip; past it the request goes through (fail open). */
  redisTimeoutMs: number;
  /** Redis key prefix; instances that share it share budgets. */
  keyPrefix: string;
}

/** Who pays: a tenant (authenticated, or named in the path), a connector, or a client address. */
export type RateSubject = { tenantId: string } | { connectorId: string } | { ip: string };

export type Decision =
  | { allowed: true; /** True when Redis could not be asked and the request went through unchecked. */ unchecked: boolean }
  | { allowed: false; retryAfterSeconds: number; limit: Limit };

/**
 * What a consume attempt came to. rate-limiter-flexible rejects with a
 * RateLimiterRes when the budget is spent and with an Error when the store
 * failed; only the first denies.
 */
export function decisionOf(outcome: { consumed: true } | { consumed: false; rejection: unknown }, limit: Limit): Decision {
  if (outcome.consumed) return { allowed: true, unchecked: false };
  if (outcome.rejection instanceof RateLimiterRes) {
    return { allowed: false, retryAfterSeconds: retryAfterSeconds(outcome.rejection.msBeforeNext), limit };
  }
  return { allowed: true, unchecked: true };
}

const subjectKey = (s: RateSubject) => ("tenantId" in s ? `t:${s.tenantId}` : "connectorId" in s ? `c:${s.connectorId}` : `ip:${s.ip}`);

/**
 * Per-payer, per-route-class request budgets shared by every instance through
 * Redis (fixed windows, rate-limiter-flexible). Redis trouble never blocks or
 * slows a request: the limiter has its own connection without an offline
 * queue and with a short command timeout, and any store error lets the
 * request through, with one warning when it starts and one line when Redis
 * is back.
 */
export class RateLimits {
  readonly #limiters = new Map<string, RateLimiterRedis>();
  #client: Redis | undefined;
  #degraded = false;
  #unchecked = 0;
  #denied = 0;

  constructor(
    private readonly deps: { redis: RedisHandle; logger: Logger },
    readonly settings: RateLimitSettings,
  ) {}

  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** Requests let through unchecked because Redis failed, and requests denied, since start. */
  stats(): { unchecked: number; denied: number } {
    return { unchecked: this.#unchecked, denied: this.#denied };
  }

  /** Opens the limiter's connection and waits (up to a second) for it; a Redis that is down then is not waited for. */
  async start(): Promise<void> {
    if (!this.settings.enabled || this.#client) return;
    const client = this.deps.redis.connect({
      // Fail fast instead of queueing while disconnected, and bound an in-flight command.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.settings.redisTimeoutMs,
      connectTimeout: 1_000,
      // Reconnect quietly in the background, at most once a second.
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    });
    this.#client = client;
    if (client.status === "ready") return;
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

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#limiters.clear();
    if (client) await client.quit().catch(() => client.disconnect());
  }

  /** Charges one request to the subject's budget for the class. */
  async check(routeClass: RouteClass, subject: RateSubject): Promise<Decision> {
    const client = this.#client;
    if (!this.settings.enabled || !client) return { allowed: true, unchecked: false };
    const limit = limitFor(this.settings.classes, this.settings.tenants, routeClass, "tenantId" in subject ? subject.tenantId : undefined);
    let decision: Decision;
    // Whether Redis itself answered (a denial from the in-memory block does not tell).
    let redisAnswered: boolean;
    try {
      await this.#limiter(client, routeClass, limit).consume(subjectKey(subject));
      decision = decisionOf({ consumed: true }, limit);
      redisAnswered = true;
    } catch (rejection) {
      decision = decisionOf({ consumed: false, rejection }, limit);
      redisAnswered = rejection instanceof RateLimiterRes && rejection.consumedPoints > 0;
      if (decision.allowed) this.#storeFailed(rejection);
    }
    if (redisAnswered && this.#degraded) {
      this.#degraded = false;
      this.deps.logger.info("rate limiter: Redis answers again, limits are enforced");
    }
    if (decision.allowed && decision.unchecked) this.#unchecked++;
    if (!decision.allowed) this.#denied++;
    return decision;
  }

  /** check(), throwing resource_exhausted with the wait when the budget is spent. */
  async enforce(routeClass: RouteClass, subject: RateSubject): Promise<void> {
    const decision = await this.check(routeClass, subject);
    if (!decision.allowed) {
      throw new AppError(
        "resource_exhausted",
        `rate limit of ${decision.limit.points} ${routeClass} requests per ${decision.limit.durationSeconds}s exceeded; retry in ${decision.retryAfterSeconds}s`,
        { retryAfterSeconds: decision.retryAfterSeconds, reason: "RATE_LIMITED" },
      );
    }
  }

  #storeFailed(err: unknown): void {
    if (this.#degraded) return;
    this.#degraded = true;
    this.deps.logger.warn(
      { err: err instanceof Error ? err.message : String(err) },
      "rate limiter: Redis is unavailable, requests go through unlimited until it answers again",
    );
  }

  #limiter(client: Redis, routeClass: RouteClass, limit: Limit): RateLimiterRedis {
    const key = `${routeClass}:${limit.points}:${limit.durationSeconds}`;
    let limiter = this.#limiters.get(key);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: client,
        // The window is part of the key so that instances configured differently never share a counter.
        keyPrefix: `${this.settings.keyPrefix}:rl:${routeClass}:${limit.durationSeconds}`,
        points: limit.points,
        duration: limit.durationSeconds,
        rejectIfRedisNotReady: true,
        // Once a payer has spent its window, answer it from memory until the window ends: a flood costs no Redis calls.
        inMemoryBlockOnConsumed: limit.points,
      });
      this.#limiters.set(key, limiter);
    }
    return limiter;
  }
}
