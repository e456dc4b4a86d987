/**
 * Route classes: every RPC and HTTP route is charged to one budget per
 * caller. One table decides, so routes that land later slot in by name.
 */
import type { RouteClass } from "../budgets.js";

/**
 * Who pays for an HTTP request:
 * - `caller`: the authenticated tenant; a request without a valid tenant key
 *   (public routes, failed auth) pays per client IP.
 * - `path`: the named path parameter (inbound provider webhooks pay per tenant
 *   id in the path, connector ingress per connector id), because those callers
 *   (Apple, Google, GitHub) share their source addresses across every tenant.
 */
export type Payer = { kind: "caller" } | { kind: "path"; param: string; scope: "tenant" | "connector" };

/** RPCs are paid by the caller (tenant, or client address for public services). */
export type Classification = { routeClass: RouteClass } | { routeClass: "exempt" };

const CALLER = { kind: "caller" } as const;

/** Fully qualified `package.Service/Method` → class; an entry with only a service name covers all its methods. */
const RPC_CLASSES: Record<string, RouteClass | "exempt"> = {
  // Operator calls are not a tenant's traffic.
  "attesto.admin.v1.AdminService": "exempt",
  // Health probes are watched by infrastructure, like /readyz; reflection is a read.
  "grpc.health.v1.Health": "exempt",
  "grpc.reflection.v1.ServerReflection": "reads",
  "grpc.reflection.v1alpha.ServerReflection": "reads",
  "attesto.v1.StoreVerificationService/VerifyAppleTransaction": "verification",
  "attesto.v1.StoreVerificationService/VerifyGooglePurchase": "verification",
  "attesto.v1.StoreVerificationService/VerifyAppleSignedData": "verification",
  "attesto.v1.VerifierService/VerifyBundle": "verification",
  // App Store Server API calls: Apple's answers, paid from the same budget as the REST form (/v1/apple/*).
  "attesto.v1.AppStoreService": "verification",
  // Google Play Developer API calls, likewise (/v1/google/*).
  "attesto.v1.GooglePlayService": "verification",
  "attesto.v1.StoreNotificationService/ReconcileNotifications": "verification",
  "attesto.v1.ProofstreamService/AppendEvent": "ingest",
  "attesto.v1.ConnectorService/CommitS3Object": "ingest",
  "attesto.v1.StoreNotificationService/ListNotifications": "reads",
  "attesto.v1.StoreNotificationService/GetNotification": "reads",
};

/** Reads by naming convention (issue 15: every Get and List RPC has no side effects). */
const READ_METHOD = /^(Get|List)[A-Z]/;

/** The class of an RPC, by its service type name and method name. */
export function classifyRpc(serviceTypeName: string, methodName: string): Classification {
  const routeClass = RPC_CLASSES[`${serviceTypeName}/${methodName}`] ?? RPC_CLASSES[serviceTypeName] ?? (READ_METHOD.test(methodName) ? "reads" : "default");
  return { routeClass };
}

interface HttpRule {
  /** Upper-case method, or "*" for any. */
  method: string;
  /** Path segments; ":name" matches one segment, a final "*" the rest (at least one segment). */
  pattern: string;
  routeClass: RouteClass | "exempt";
  payer?: Payer;
}

/** First match wins; anything unmatched is `default`, paid by the caller. */
const HTTP_RULES: HttpRule[] = [
  // Operational routes: watched by infrastructure, never limited.
  { method: "*", pattern: "/healthz", routeClass: "exempt" },
  { method: "*", pattern: "/readyz", routeClass: "exempt" },
  { method: "*", pattern: "/metrics", routeClass: "exempt" },
  { method: "*", pattern: "/admin/queues", routeClass: "exempt" },
  { method: "*", pattern: "/admin/queues/*", routeClass: "exempt" },
  // Inbound provider notifications (seed 002); the /v1/webhooks form (earlier versions' URL) before the subscription API it shares a prefix with.
  { method: "POST", pattern: "/v1/store-notifications/apple/:tenantId", routeClass: "ingest", payer: { kind: "path", param: "tenantId", scope: "tenant" } },
  { method: "POST", pattern: "/v1/store-notifications/google/:tenantId", routeClass: "ingest", payer: { kind: "path", param: "tenantId", scope: "tenant" } },
  { method: "POST", pattern: "/v1/webhooks/apple/:tenantId", routeClass: "ingest", payer: { kind: "path", param: "tenantId", scope: "tenant" } },
  { method: "POST", pattern: "/v1/webhooks/google/:tenantId", routeClass: "ingest", payer: { kind: "path", param: "tenantId", scope: "tenant" } },
  // Store verification, REST form.
  { method: "POST", pattern: "/v1/apple/*", routeClass: "verification" },
  { method: "POST", pattern: "/v1/google/*", routeClass: "verification" },
  // Connector ingress: signed by the connector's secret, paid per connector.
  { method: "POST", pattern: "/v2/connectors/:kind/:connectorId/events", routeClass: "ingest", payer: { kind: "path", param: "connectorId", scope: "connector" } },
  { method: "POST", pattern: "/v2/tenant/connectors/s3-objects/:connectorId/commit", routeClass: "ingest" },
  // Public bundle verification.
  { method: "POST", pattern: "/v2/verify", routeClass: "verification" },
  // Reads.
  { method: "GET", pattern: "/v1/webhooks", routeClass: "reads" },
  { method: "GET", pattern: "/v1/webhooks/:id", routeClass: "reads" },
  { method: "GET", pattern: "/proofstreams/*", routeClass: "reads" },
];

const splitPath = (path: string) => path.split("/").filter((s) => s !== "");

const compiled = HTTP_RULES.map((rule) => ({ ...rule, segments: splitPath(rule.pattern) }));

/** Path parameters of a matching rule, or undefined. */
function match(segments: string[], path: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === "*" && i === segments.length - 1) return path.length > i ? params : undefined;
    const part = path[i];
    if (part === undefined) return undefined;
    if (seg.startsWith(":")) params[seg.slice(1)] = decodeSegment(part);
    else if (seg !== part) return undefined;
  }
  return path.length === segments.length ? params : undefined;
}

function decodeSegment(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export type HttpClassification =
  { routeClass: RouteClass; payer: { kind: "caller" } } | { routeClass: RouteClass; payer: { kind: "path"; scope: "tenant" | "connector"; id: string } } | { routeClass: "exempt" };

/** The class of an HTTP request and who pays for it (with the path parameter's value resolved). */
export function classifyHttp(method: string, path: string): HttpClassification {
  const upper = method.toUpperCase();
  const parts = splitPath(path);
  for (const rule of compiled) {
    if (rule.method !== "*" && rule.method !== upper) continue;
    const params = match(rule.segments, parts);
    if (!params) continue;
    if (rule.routeClass === "exempt") return { routeClass: "exempt" };
    const payer = rule.payer;
    if (payer?.kind === "path") return { routeClass: rule.routeClass, payer: { kind: "path", scope: payer.scope, id: params[payer.param]! } };
    return { routeClass: rule.routeClass, payer: CALLER };
  }
  return { routeClass: "default", payer: CALLER };
}
