import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { AppError } from "../errors.js";
import type { Principal, TenantPrincipal } from "../tenancy/types.js";

/** Set by the auth interceptor before any handler runs. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "caller" });

/** The calling tenant; handlers of tenant-scoped services use it for every query. */
export function tenantOf(ctx: HandlerContext): TenantPrincipal {
  const principal = ctx.values.get(principalKey);
  if (principal?.kind !== "tenant") throw new AppError("unauthenticated", "no tenant for this call", { reason: "CREDENTIALS_MISSING" });
  return principal;
}

/** The peer address of the connection (set by the server's adapter); public calls are limited by it. */
export const clientAddressKey = createContextKey<string>("", { description: "client address" });

/**
 * Marks an answer that can never change (an event, a checkpoint or proof at
 * an explicit size) as cacheable when the call came as a Connect GET, so
 * browsers and proxies keep it. Private: it was read with the caller's key.
 */
export function immutableOnGet(ctx: HandlerContext): void {
  if (ctx.requestMethod === "GET") ctx.responseHeader.set("Cache-Control", "private, max-age=31536000, immutable");
}
