import type { Hono } from "hono";
import { mountApiReference } from "./api-reference.js";
import { connectorRoutes } from "./openapi/connectors.js";
import { evidenceRoutes } from "./openapi/evidence.js";
import { documentFrame, type OpenApiPart } from "./openapi/shared.js";
import { siteRoutes } from "./openapi/site.js";
import { storeRoutes } from "./openapi/store.js";
import { deliveryWebhooks } from "./openapi/webhook-events.js";
import { webhookRoutes } from "./openapi/webhooks.js";

/**
 * The OpenAPI 3.1 description of the plain HTTP routes, served at
 * /openapi.json (and rendered at /docs/api), with the webhook deliveries
 * Attesto sends as 3.1 `webhooks`. The RPCs (Connect, gRPC, gRPC-Web) are described by the
 * contract under proto/attesto/v1 instead. test/openapi.test.ts checks that
 * every route the server registers is here and that real answers match the
 * schemas, so the document cannot drift from the code.
 */
export function openApiDocument(): Record<string, unknown> {
  const parts: OpenApiPart[] = [webhookRoutes(), storeRoutes(), connectorRoutes(), evidenceRoutes(), siteRoutes()];
  const frame = documentFrame();
  const schemas: Record<string, unknown> = { ...frame.components.schemas };
  const paths: Record<string, unknown> = {};
  for (const part of parts) {
    Object.assign(schemas, part.schemas ?? {});
    Object.assign(paths, part.paths);
  }
  return { ...frame, components: { ...frame.components, schemas }, paths, ...deliveryWebhooks() };
}

/** `GET /openapi.json` and the reference page that renders it (`GET /docs/api`). */
export function mountOpenApi(app: Hono): void {
  const body = JSON.stringify(openApiDocument());
  app.get("/openapi.json", (c) => c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" }));
  mountApiReference(app);
}
