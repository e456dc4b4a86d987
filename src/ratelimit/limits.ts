import type { ClassLimits, Limit, RouteClass, TenantLimits } from "../budgets.js";

/** The budget that applies: the tenant's override of the class, else the class default. */
export function limitFor(classes: ClassLimits, tenants: TenantLimits, routeClass: RouteClass, tenantId: string | undefined): Limit {
  return (tenantId !== undefined ? tenants[tenantId]?.[routeClass] : undefined) ?? classes[routeClass];
}

/** Whole seconds until the budget frees a request; never 0, so a client always waits a little. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
