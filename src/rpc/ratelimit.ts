import type { Interceptor } from "@connectrpc/connect";
import { classifyRpc, type RateLimits } from "../ratelimit/module.js";
import { clientAddressKey, principalKey } from "./context.js";

/**
 * Charges each call to its route class's budget: the tenant's when the auth
 * interceptor found one, else the client address (public services).
 * Operator calls are exempt. Runs after auth, before validation, so a
 * flood of invalid requests is limited too.
 */
export function rateLimitInterceptor(limits: RateLimits): Interceptor {
  return (next) => async (req) => {
    if (!limits.enabled) return next(req);
    const classification = classifyRpc(req.service.typeName, req.method.name);
    if (classification.routeClass === "exempt") return next(req);
    const principal = req.contextValues.get(principalKey);
    if (principal?.kind === "operator") return next(req);
    const subject = principal?.kind === "tenant" ? { tenantId: principal.tenantId } : { ip: req.contextValues.get(clientAddressKey) || "unknown" };
    // Answered from memory: a promise only when the call must wait for a lease (module.ts).
    const waiting = limits.enforce(classification.routeClass, subject);
    if (waiting) await waiting;
    return next(req);
  };
}
