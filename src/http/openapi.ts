import type { Hono } from "hono";
import { packageVersion } from "../paths.js";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";

/**
 * The OpenAPI 3.1 description of the plain HTTP routes, served at
 * /openapi.json. The RPCs (Connect, gRPC, gRPC-Web) are described by the
 * contract under proto/attesto/v1 instead. test/openapi.test.ts checks that
 * every route the server registers is here and that real answers match the
 * schemas, so the document cannot drift from the code.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: object = {}) => ({ type: [type, "null"], ...extra });
const dateTime = { type: "string", format: "date-time" };
const json = (schema: object) => ({ "application/json": { schema } });
const text = { "text/plain": { schema: { type: "string" } } };
const answer = (description: string, schema?: object) => ({ description, ...(schema ? { content: json(schema) } : {}) });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: ERROR_MEANING[s] ?? "error", content: json(ref("Error")) }]));
const ERROR_MEANING: Record<number, string> = {
  400: "invalid argument: `error.field` names the offending field or query parameter",
  401: "no or unknown credentials",
  403: "the credentials may not do this (an operator token on a tenant route)",
  404: "not found (another tenant's resources read as not found)",
  409: "conflict",
  412: "failed precondition",
  413: "body too large",
  429: "rate limited: `Retry-After` says when to try again",
  503: "a dependency is unavailable",
};
const tenantAuth = [{ tenantKey: [] }];
const pathId = (name: string, pattern: string, description: string) => ({ name, in: "path", required: true, description, schema: { type: "string", pattern } });
const SUB_ID = pathId("id", "^sub_[0-9A-HJKMNP-TV-Z]{26}$", "the subscription id");
const DELIVERY_ID = pathId("deliveryId", "^dlv_[0-9A-HJKMNP-TV-Z]{26}$", "the delivery id");
const STREAM_ID = pathId("streamId", "^str_[0-9A-HJKMNP-TV-Z]{26}$", "the stream id");
const PAGE = [
  { name: "page_size", in: "query", description: "items per page: absent or 0 means 50, at most 500", schema: { type: "integer", minimum: 0, maximum: 500 } },
  { name: "page_token", in: "query", description: "the previous page's `nextPageToken`", schema: { type: "string", maxLength: 512 } },
];
/** Body of a third-party push (store notifications, connector ingress): its bytes are verified as sent. */
const RAW_BODY = { required: true, content: { "application/json": { schema: { type: "object" } } } };
const LOOSE_OBJECT = { type: "object" };

const SUBSCRIPTION_REQUIRED = ["id", "name", "url", "eventTypes", "description", "enabled", "disabledReason", "createdAt", "updatedAt", "secretRotatedAt", "previousSecretExpiresAt"];
const SUBSCRIPTION_PROPERTIES = {
  id: { type: "string", pattern: "^sub_" },
  name: { type: "string" },
  url: { type: "string", format: "uri" },
  eventTypes: ref("EventTypes"),
  description: { type: "string" },
  enabled: { type: "boolean" },
  disabledReason: nullable("string", { description: "why deliveries stopped: disabled_by_tenant, endpoint_gone (410)…" }),
  createdAt: dateTime,
  updatedAt: dateTime,
  secretRotatedAt: dateTime,
  previousSecretExpiresAt: nullable("string", { format: "date-time", description: "until when the previous secret also signs (after a rotation)" }),
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "Attesto REST API",
      version: packageVersion(),
      description:
        "The plain HTTP routes of Attesto. The RPCs (Connect, gRPC, gRPC-Web on the same port) are described by the Protobuf contract in proto/attesto/v1; both share one error vocabulary (`code`, `reason`, `field`).",
    },
    servers: [{ url: "/" }],
    components: {
      securitySchemes: {
        tenantKey: { type: "http", scheme: "bearer", description: "a tenant API key (`atk_…`)" },
        operatorToken: { type: "http", scheme: "bearer", description: "the operator token (ATTESTO_ADMIN_TOKEN); the queue board also takes HTTP Basic with it as the password" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: {
                  type: "string",
                  enum: ["invalid_argument", "unauthenticated", "permission_denied", "not_found", "already_exists", "replay_conflict", "failed_precondition", "resource_exhausted", "payload_too_large", "unavailable", "unimplemented", "internal"],
                },
                message: { type: "string", description: "safe to show; never contains secrets or payloads" },
                field: { type: "string", description: "the offending field, as this API names it" },
                reason: { type: "string", description: "machine-readable cause, UPPER_SNAKE_CASE" },
                retry_after_seconds: { type: "integer" },
              },
              additionalProperties: false,
            },
          },
          additionalProperties: false,
        },
        EventTypes: { type: "array", minItems: 1, items: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } },
        Subscription: { type: "object", required: SUBSCRIPTION_REQUIRED, properties: SUBSCRIPTION_PROPERTIES, additionalProperties: false },
        SubscriptionWithSecret: {
          type: "object",
          required: [...SUBSCRIPTION_REQUIRED, "secret"],
          properties: { ...SUBSCRIPTION_PROPERTIES, secret: { type: "string", pattern: "^whsec_", description: "the signing secret, shown once" } },
          additionalProperties: false,
        },
        SubscriptionPage: {
          type: "object",
          required: ["webhooks", "nextPageToken"],
          properties: { webhooks: { type: "array", items: ref("Subscription") }, nextPageToken: { type: "string", description: "empty on the last page" } },
          additionalProperties: false,
        },
        Attempt: {
          type: "object",
          required: ["number", "startedAt", "finishedAt", "latencyMs", "statusCode", "errorKind", "responseExcerpt"],
          properties: {
            number: { type: "integer", minimum: 1 },
            startedAt: dateTime,
            finishedAt: nullable("string", { format: "date-time" }),
            latencyMs: nullable("integer"),
            statusCode: nullable("integer", { description: "the receiver's HTTP status, when it answered" }),
            errorKind: {
              type: ["string", "null"],
              enum: ["none", "http_status", "timeout", "connection_refused", "dns", "tls", "blocked_address", "network", "interrupted", "internal", null],
              description: "null while the attempt is in flight",
            },
            responseExcerpt: { type: "string" },
          },
          additionalProperties: false,
        },
        Delivery: {
          type: "object",
          required: ["id", "subscriptionId", "eventType", "status", "failureReason", "url", "test", "data", "attemptCount", "createdAt", "lastAttemptAt", "nextAttemptAt"],
          properties: {
            id: { type: "string", pattern: "^dlv_" },
            subscriptionId: { type: "string", pattern: "^sub_" },
            eventType: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] },
            status: { type: "string", enum: ["pending", "succeeded", "failed"] },
            failureReason: nullable("string"),
            url: { type: "string" },
            test: { type: "boolean", description: "sent by POST /v1/webhooks/{id}/test; its data also carries \"test\": true" },
            data: { type: "object", description: "the body's `data`, as sent" },
            attemptCount: { type: "integer", minimum: 0 },
            createdAt: dateTime,
            lastAttemptAt: nullable("string", { format: "date-time" }),
            nextAttemptAt: nullable("string", { format: "date-time", description: "set while pending and not in flight" }),
            attempts: { type: "array", items: ref("Attempt"), description: "oldest first; only when reading one delivery" },
          },
          additionalProperties: false,
        },
        DeliveryPage: {
          type: "object",
          required: ["deliveries", "nextPageToken"],
          properties: { deliveries: { type: "array", items: ref("Delivery") }, nextPageToken: { type: "string" } },
          additionalProperties: false,
        },
        CommittedEvent: {
          type: "object",
          required: ["stream_id", "seq_no", "leaf_hash", "duplicate"],
          properties: { stream_id: { type: "string" }, seq_no: { type: "integer" }, leaf_hash: { type: "string", pattern: "^[0-9a-f]{64}$" }, duplicate: { type: "boolean" }, receipt: LOOSE_OBJECT },
        },
        Readiness: {
          type: "object",
          required: ["status", "checks"],
          properties: { status: { type: "string", enum: ["ready", "unavailable"] }, checks: { type: "object", additionalProperties: { type: "string", enum: ["ok", "unavailable"] } } },
          additionalProperties: false,
        },
        CommittedNotification: {
          type: "object",
          required: ["id", "duplicate", "stream_id", "seq_no"],
          properties: { id: { type: "string" }, duplicate: { type: "boolean" }, stream_id: { type: "string" }, seq_no: { type: "integer" } },
          additionalProperties: false,
        },
        VerificationReport: {
          type: "object",
          required: ["kind", "valid", "checks"],
          properties: {
            kind: { type: "string", enum: ["bundle", "tlog-proof"] },
            valid: { type: "boolean" },
            checks: {
              type: "array",
              items: {
                type: "object",
                required: ["name", "status", "detail", "ok"],
                properties: { name: { type: "string" }, status: { type: "string", enum: ["pass", "fail", "unpinned", "skipped"] }, detail: { type: "string" }, ok: { type: "boolean" } },
              },
            },
          },
        },
      },
    },
    paths: {
      "/v1/webhooks": {
        get: {
          summary: "List the tenant's webhook subscriptions",
          security: tenantAuth,
          parameters: PAGE,
          responses: { "200": answer("a page of subscriptions", ref("SubscriptionPage")), ...errors(400, 401, 403, 429) },
        },
        post: {
          summary: "Create a subscription; the signing secret is shown once",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["name", "url", "eventTypes"],
              properties: { name: { type: "string", maxLength: 200 }, url: { type: "string", format: "uri" }, eventTypes: ref("EventTypes"), description: { type: "string" } },
              additionalProperties: false,
            }),
          },
          responses: { "201": answer("created", ref("SubscriptionWithSecret")), ...errors(400, 401, 403, 429) },
        },
      },
      "/v1/webhooks/{id}": {
        parameters: [SUB_ID],
        get: { summary: "Read one subscription", security: tenantAuth, responses: { "200": answer("the subscription", ref("Subscription")), ...errors(400, 401, 404) } },
        patch: {
          summary: "Change a subscription (only the fields given)",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({
              type: "object",
              properties: { name: { type: "string" }, url: { type: "string" }, eventTypes: ref("EventTypes"), description: { type: "string" }, enabled: { type: "boolean" } },
              additionalProperties: false,
            }),
          },
          responses: { "200": answer("the changed subscription", ref("Subscription")), ...errors(400, 401, 404) },
        },
        delete: { summary: "Delete a subscription; its pending deliveries stop", security: tenantAuth, responses: { "204": answer("deleted"), ...errors(400, 401, 404) } },
      },
      "/v1/webhooks/{id}/rotate-secret": {
        parameters: [SUB_ID],
        post: {
          summary: "Rotate the signing secret; the previous one keeps signing during the overlap",
          security: tenantAuth,
          requestBody: {
            required: false,
            content: json({
              type: "object",
              properties: { overlapSeconds: { type: "integer", minimum: 0, maximum: 604800, description: "absent: ATTESTO_WEBHOOK_SECRET_OVERLAP_MS (24 h); 0 ends the old secret at once" } },
              additionalProperties: false,
            }),
          },
          responses: { "200": answer("the subscription and its new secret (shown once)", ref("SubscriptionWithSecret")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/test": {
        parameters: [SUB_ID],
        post: {
          summary: "Send a sample event of any type to this subscription (even when disabled); its data carries \"test\": true",
          security: tenantAuth,
          requestBody: { required: true, content: json({ type: "object", required: ["eventType"], properties: { eventType: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } }, additionalProperties: false }) },
          responses: { "201": answer("the test delivery, pending", ref("Delivery")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/deliveries": {
        parameters: [SUB_ID],
        get: {
          summary: "List this subscription's deliveries, newest first (without attempts)",
          security: tenantAuth,
          parameters: [
            ...PAGE,
            { name: "status", in: "query", schema: { type: "string", enum: ["pending", "succeeded", "failed"] } },
            { name: "event_type", in: "query", schema: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] } },
          ],
          responses: { "200": answer("a page of deliveries", ref("DeliveryPage")), ...errors(400, 401, 404) },
        },
      },
      "/v1/webhooks/{id}/deliveries/{deliveryId}": {
        parameters: [SUB_ID, DELIVERY_ID],
        get: { summary: "Read one delivery with its attempts", security: tenantAuth, responses: { "200": answer("the delivery", ref("Delivery")), ...errors(400, 401, 404) } },
      },
      "/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver": {
        parameters: [SUB_ID, DELIVERY_ID],
        post: {
          summary: "Attempt the delivery again now: same id and body, the next attempt number",
          security: tenantAuth,
          responses: { "202": answer("the delivery, pending again", ref("Delivery")), ...errors(400, 401, 404, 412) },
        },
      },
      "/v1/apple/verify": {
        post: {
          summary: "Look up and verify an App Store transaction (body and answer: the protojson of attesto.v1 VerifyAppleTransaction)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verified transaction", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
        },
      },
      "/v1/apple/verify-signed": {
        post: {
          summary: "Verify Apple-signed data offline against the pinned roots (protojson of attesto.v1 VerifyAppleSignedData)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verification result", LOOSE_OBJECT), ...errors(400, 401, 429) },
        },
      },
      "/v1/google/verify": {
        post: {
          summary: "Look up and verify a Google Play purchase (protojson of attesto.v1 VerifyGooglePurchase)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verified purchase", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
        },
      },
      "/v1/webhooks/apple/{tenantId}": {
        parameters: [pathId("tenantId", "^ten_[0-9A-HJKMNP-TV-Z]{26}$", "the receiving tenant")],
        post: {
          summary: "App Store Server Notifications V2 endpoint (Apple signs the body; no credentials)",
          security: [],
          requestBody: RAW_BODY,
          responses: { "200": answer("committed to the tenant's store Proofstream", ref("CommittedNotification")), ...errors(400, 404, 412) },
        },
      },
      "/v1/webhooks/google/{tenantId}": {
        parameters: [pathId("tenantId", "^ten_[0-9A-HJKMNP-TV-Z]{26}$", "the receiving tenant")],
        post: {
          summary: "Google Play RTDN Pub/Sub push endpoint (Google's OIDC token authenticates it)",
          security: [],
          requestBody: RAW_BODY,
          responses: { "200": answer("committed to the tenant's store Proofstream", ref("CommittedNotification")), ...errors(400, 401, 404, 412) },
        },
      },
      "/v2/connectors/signed-webhooks/{id}/events": connectorIngress("a signed-webhook connector (HMAC over the raw body)"),
      "/v2/connectors/github/{id}/events": connectorIngress("a GitHub connector (X-Hub-Signature-256)"),
      "/v2/connectors/gitlab/{id}/events": connectorIngress("a GitLab connector (signing token or legacy X-Gitlab-Token)"),
      "/v2/tenant/connectors/s3-objects/{id}/commit": {
        parameters: [pathId("id", "^con_", "the S3/R2 object connector")],
        post: {
          summary: "Commit an object version: Attesto reads its metadata (HeadObject) and appends it",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({ type: "object", required: ["key"], properties: { key: { type: "string" }, versionId: { type: "string" }, metadata: LOOSE_OBJECT } }),
          },
          responses: { "200": answer("already committed (duplicate)", ref("CommittedEvent")), "201": answer("committed", ref("CommittedEvent")), ...errors(400, 401, 404, 412, 503) },
        },
      },
      "/v2/verify": {
        post: {
          summary: "Verify an attesto.bundle.v1 bundle or a C2SP tlog-proof sent as the body (public)",
          security: [],
          parameters: [{ name: "verifier_key", in: "query", description: "the stream verifier key you trust (or header X-Attesto-Verifier-Key)", schema: { type: "string", maxLength: 1024 } }],
          requestBody: { required: true, content: { "application/json": { schema: LOOSE_OBJECT }, ...text } },
          responses: { "200": answer("the verification report (valid or not)", ref("VerificationReport")), ...errors(400, 413, 429) },
        },
      },
      "/bundles/{bundleId}/download": {
        parameters: [pathId("bundleId", "^bundle_[0-9A-HJKMNP-TV-Z]{26}$", "a ready bundle")],
        get: {
          summary: "Download a ready verifier bundle (the owning tenant's key, or public with ATTESTO_TILES_PUBLIC)",
          security: tenantAuth,
          responses: { "200": { description: "the bundle document", content: json(LOOSE_OBJECT) }, ...errors(400, 401, 404) },
        },
      },
      "/proofstreams/{streamId}/checkpoint": {
        parameters: [STREAM_ID],
        get: { summary: "The latest signed checkpoint (C2SP tlog-checkpoint note)", security: tenantAuth, responses: { "200": { description: "the note", content: text }, ...errors(401, 404) } },
      },
      "/proofstreams/{streamId}/proof/{seqNo}": {
        parameters: [STREAM_ID, { name: "seqNo", in: "path", required: true, schema: { type: "integer", minimum: 1 } }],
        get: { summary: "One event's C2SP tlog-proof against the latest checkpoint", security: tenantAuth, responses: { "200": { description: "the proof", content: text }, ...errors(400, 401, 404) } },
      },
      "/proofstreams/{streamId}/tile/{tilePath}": {
        parameters: [STREAM_ID, { name: "tilePath", in: "path", required: true, description: "a C2SP tlog-tiles path (e.g. 0/000, 0/x001/234.p/5, entries/000)", schema: { type: "string" } }],
        get: {
          summary: "tlog-tiles read path (the owning tenant's key, or public with ATTESTO_TILES_PUBLIC)",
          security: tenantAuth,
          responses: { "200": { description: "the tile", content: { "application/octet-stream": { schema: { type: "string", contentEncoding: "binary" } } } }, ...errors(400, 401, 404) },
        },
      },
      "/": {
        get: {
          summary: "What this server is, with links (HTML with Accept: text/html)",
          security: [],
          responses: {
            "200": {
              description: "name, version and links",
              content: {
                "text/html": { schema: { type: "string" } },
                "application/json": {
                  schema: {
                    type: "object",
                    required: ["name", "version", "links"],
                    properties: {
                      name: { const: "Attesto" },
                      version: { type: "string" },
                      links: { type: "array", items: { type: "object", required: ["href", "title"], properties: { href: { type: "string" }, title: { type: "string" } } } },
                    },
                  },
                },
              },
            },
          },
        },
      },
      "/docs/": { get: { summary: "The documentation pages", security: [], responses: { "200": answer("their paths", { type: "object", required: ["pages"], properties: { pages: { type: "array", items: { type: "string" } } } }) } } },
      "/docs/{page}": {
        parameters: [{ name: "page", in: "path", required: true, schema: { type: "string", pattern: "^[a-z0-9-]+\\.md$" } }],
        get: { summary: "One documentation page (Markdown)", security: [], responses: { "200": { description: "the page", content: { "text/markdown": { schema: { type: "string" } } } }, ...errors(404) } },
      },
      "/openapi.json": { get: { summary: "This document", security: [], responses: { "200": answer("OpenAPI 3.1", LOOSE_OBJECT) } } },
      "/verify": { get: { summary: "The verification page (checks bundles and tlog-proofs in the browser)", security: [], responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } } } } },
      "/healthz": {
        get: { summary: "Liveness", security: [], responses: { "200": answer("alive", { type: "object", required: ["status"], properties: { status: { const: "ok" } }, additionalProperties: false }) } },
      },
      "/readyz": {
        get: {
          summary: "Readiness: the database and Redis answer within 2 s",
          security: [],
          responses: {
            "200": answer("ready", ref("Readiness")),
            "503": answer("a dependency is unavailable", ref("Readiness")),
          },
        },
      },
      "/metrics": { get: { summary: "Prometheus metrics", security: [], responses: { "200": { description: "text exposition format", content: text } } } },
    },
  };
}

function connectorIngress(what: string) {
  return {
    parameters: [pathId("id", "^con_", "the connector")],
    post: {
      summary: `Ingress of ${what}: the raw body is verified, then committed to the connector's stream`,
      security: [],
      requestBody: RAW_BODY,
      responses: {
        "200": answer("already committed (duplicate), or a ping", LOOSE_OBJECT),
        "201": answer("committed", ref("CommittedEvent")),
        "202": answer("an event type the connector does not commit (ignored)", LOOSE_OBJECT),
        ...errors(400, 401, 404, 413, 429),
      },
    },
  };
}

export function mountOpenApi(app: Hono): void {
  const body = JSON.stringify(openApiDocument());
  app.get("/openapi.json", (c) => c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" }));
}
