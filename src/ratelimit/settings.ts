import type { ClassLimits, TenantLimits } from "../budgets.js";
import type { Config } from "../config.js";

export interface RateLimitSettings {
  enabled: boolean;
  classes: ClassLimits;
  tenants: TenantLimits;
  /** How late a lease answer may be before Redis counts as slow and each process enforces budgets alone. */
  redisTimeoutMs: number;
  /** Redis key prefix; instances that share it share budgets. */
  keyPrefix: string;
  /** How often budgets settle with Redis in the background (charges owed, idle budgets forgotten). */
  settleIntervalMs: number;
}

/** The rate limiter's settings; off in a worker process, which serves only health, readiness and metrics (never limited). */
export function rateLimitSettings(config: Config, keyPrefix: string): RateLimitSettings {
  const { enabled, classes, tenants, redisTimeoutMs } = config.rateLimits;
  return { enabled: enabled && config.role !== "worker", classes, tenants, redisTimeoutMs, keyPrefix, settleIntervalMs: 100 };
}
