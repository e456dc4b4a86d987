import { packageVersion } from "../../paths.js";

/*
 * What every route group's part of the OpenAPI document is built from, and
 * the document's frame (info, security schemes, the error shape).
 */

/** One route group's part of the document: its component schemas and its paths. */
export interface OpenApiPart {
  schemas?: Record<string, unknown>;
  paths: Record<string, unknown>;
  /** OpenAPI 3.1 webhooks: requests Attesto sends (webhook deliveries). */
  webhooks?: Record<string, unknown>;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const nullable = (type: string, extra: object = {}) => ({ type: [type, "null"], ...extra });
export const dateTime = { type: "string", format: "date-time" };
export const json = (schema: object) => ({ "application/json": { schema } });
export const text = { "text/plain": { schema: { type: "string" } } };
export const answer = (description: string, schema?: object) => ({ description, ...(schema ? { content: json(schema) } : {}) });
export const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { description: ERROR_MEANING[s] ?? "error", content: json(ref("Error")) }]));
const ERROR_MEANING: Record<number, string> = {
  400: "invalid argument: `error.field` names the offending field or query parameter",
  401: "no or unknown credentials",
  403: "the credentials may not do this (an operator token on a tenant route)",
  404: "not found (another tenant's resources read as not found)",
  409: "conflict",
  412: "failed precondition",
  413: "body too large",
  429: "rate limited: `Retry-After` says when to try again",
  503: "unavailable: a dependency is down, or (public routes) the server is taking as many public requests as it can (reason SERVER_BUSY); Retry-After says when to retry",
};
export const tenantAuth = [{ tenantKey: [] }];
export const pathId = (name: string, pattern: string, description: string) => ({ name, in: "path", required: true, description, schema: { type: "string", pattern } });
export const SUB_ID = pathId("id", "^sub_[0-9A-HJKMNP-TV-Z]{26}$", "the subscription id");
export const DELIVERY_ID = pathId("deliveryId", "^dlv_[0-9A-HJKMNP-TV-Z]{26}$", "the delivery id");
export const STREAM_ID = pathId("streamId", "^str_[0-9A-HJKMNP-TV-Z]{26}$", "the stream id");
export const PAGE = [
  { name: "page_size", in: "query", description: "items per page: absent or 0 means 50, at most 500", schema: { type: "integer", minimum: 0, maximum: 500 } },
  { name: "page_token", in: "query", description: "the previous page's `nextPageToken`", schema: { type: "string", maxLength: 512 } },
];
/** Body of a third-party push (store notifications, connector ingress): its bytes are verified as sent. */
export const RAW_BODY = { required: true, content: { "application/json": { schema: { type: "object" } } } };
export const LOOSE_OBJECT = { type: "object" };

/** The document without paths: info, servers, security schemes and the Error schema every group refers to. */
export function documentFrame() {
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
                  enum: [
                    "invalid_argument",
                    "unauthenticated",
                    "permission_denied",
                    "not_found",
                    "already_exists",
                    "replay_conflict",
                    "failed_precondition",
                    "resource_exhausted",
                    "payload_too_large",
                    "unavailable",
                    "unimplemented",
                    "internal",
                  ],
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
      },
    },
  };
}
