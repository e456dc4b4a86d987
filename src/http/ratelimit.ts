import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, Hono } from "hono";
import { classifyHttp, type RateLimits, type RateSubject } from "../ratelimit/module.js";
import type { Authenticator } from "../tenancy/module.js";

/** Ids named in a path are charged only when they look like ids; anything else is charged to the client address. */
const PATH_ID = /^[A-Za-z0-9_-]{1,64}$/;

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Charges every HTTP request (except the operational routes) to its route
 * class's budget before it is routed: the authenticated tenant, the tenant or
 * connector named in the path (inbound provider and connector webhooks), or
 * else the client address. Must be mounted before the routes it guards.
 * Answers 429 with Retry-After through the app's error handler.
 */
export function mountRateLimit(app: Hono, deps: { limits: RateLimits; authenticator: Authenticator }): void {
  const { limits, authenticator } = deps;
  if (!limits.enabled) return;
  app.use("*", async (c, next) => {
    const classification = classifyHttp(c.req.method, c.req.path);
    if (classification.routeClass === "exempt") return next();
    let subject: RateSubject | undefined;
    if (classification.payer.kind === "path") {
      const id = classification.payer.id;
      if (PATH_ID.test(id)) subject = classification.payer.scope === "tenant" ? { tenantId: id } : { connectorId: id };
    } else {
      const authorization = c.req.header("authorization");
      if (authorization) {
        // The route authenticates again from the authenticator's cache; a bad key is the route's to refuse.
        const principal = await authenticator.authenticate(authorization).catch(() => undefined);
        if (principal?.kind === "operator") return next();
        if (principal) subject = { tenantId: principal.tenantId };
      }
    }
    // Answered from memory: a promise only when the request must wait for a lease (module.ts).
    // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- hono types a middleware's input as any
    const waiting = limits.enforce(classification.routeClass, subject ?? { ip: clientAddress(c) });
    if (waiting) await waiting;
    return next();
  });
}
