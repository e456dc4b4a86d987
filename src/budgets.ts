/**
 * Request budgets as operators write them (`ATTESTO_RATE_LIMIT_*`): pure
 * parsing at the base layer, so config can read them without depending on the
 * rate limiter that enforces them (src/ratelimit).
 */

/** Route classes: every RPC and HTTP route is charged to one budget per caller (src/ratelimit/classes.ts decides which). */
export const ROUTE_CLASSES = ["verification", "ingest", "reads", "default"] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** A budget: `points` requests per window of `durationSeconds`, per payer and route class. */
export interface Limit {
  points: number;
  durationSeconds: number;
}

export type ClassLimits = Record<RouteClass, Limit>;
/** Per-tenant overrides, by tenant id; a class not named keeps the default. */
export type TenantLimits = Record<string, Partial<ClassLimits>>;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** "100/1s", "6000/1m", "20000/1h" → a Limit; throws a message naming the problem. */
export function parseLimit(text: string): Limit {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*(s|m|h)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a limit like 100/1s, 6000/1m or 20000/1h`);
  const points = Number(m[1]);
  const durationSeconds = Number(m[2]) * UNIT_SECONDS[m[3]!]!;
  if (points < 1 || points > 1_000_000_000) throw new Error(`"${text}": the request count must be between 1 and 1e9`);
  if (durationSeconds < 1 || durationSeconds > 86_400) throw new Error(`"${text}": the window must be between 1s and 24h`);
  return { points, durationSeconds };
}

const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * "tnt_a:verification=10/1s,reads=50/1s;tnt_b:ingest=5000/1s" → overrides.
 * Empty text → none.
 */
export function parseTenantLimits(text: string): TenantLimits {
  const out: TenantLimits = {};
  for (const entry of text
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const colon = entry.indexOf(":");
    const tenantId = colon < 0 ? "" : entry.slice(0, colon).trim();
    if (!TENANT_ID.test(tenantId)) throw new Error(`"${entry}" does not start with a tenant id and a colon`);
    const limits: Partial<ClassLimits> = (out[tenantId] ??= {});
    for (const pair of entry
      .slice(colon + 1)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [name, value] = pair.split("=", 2).map((s) => s.trim());
      if (!ROUTE_CLASSES.includes(name as RouteClass)) throw new Error(`"${pair}": the class must be one of ${ROUTE_CLASSES.join(", ")}`);
      limits[name as RouteClass] = parseLimit(value ?? "");
    }
  }
  return out;
}
