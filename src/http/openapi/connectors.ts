import { errors, ref, json, answer, tenantAuth, pathId, RAW_BODY, LOOSE_OBJECT, type OpenApiPart } from "./shared.js";

function connectorIngress(operationId: string, what: string) {
  return {
    parameters: [pathId("id", "^con_", "the connector")],
    post: {
      operationId,
      summary: `Ingress of ${what}: the raw body is verified, then committed to the connector's stream`,
      security: [],
      requestBody: RAW_BODY,
      responses: {
        "200": answer("already committed (duplicate), or a ping", LOOSE_OBJECT),
        "201": answer("committed", ref("CommittedEvent")),
        "202": answer("an event type the connector does not commit (ignored)", LOOSE_OBJECT),
        ...errors(400, 401, 404, 413, 429, 503),
      },
    },
  };
}

/** Connector ingress (verified by each connector's signature) and the S3 object commit (tenant key). */
export function connectorRoutes(): OpenApiPart {
  return {
    schemas: {
      CommittedEvent: {
        type: "object",
        required: ["stream_id", "seq_no", "leaf_hash", "leaf_hash_base64", "duplicate"],
        properties: {
          stream_id: { type: "string" },
          seq_no: { type: "integer" },
          leaf_hash: { type: "string", pattern: "^[0-9a-f]{64}$", description: "the RFC 9162 leaf hash in hex" },
          leaf_hash_base64: { type: "string", pattern: "^[A-Za-z0-9+/]{43}=$", description: "the same bytes in base64, as the RPCs' JSON carries bytes (GetInclusionProof's leafHash)" },
          duplicate: { type: "boolean" },
          receipt: LOOSE_OBJECT,
        },
      },
    },
    paths: {
      "/v2/connectors/signed-webhooks/{id}/events": connectorIngress("receiveSignedWebhookEvent", "a signed-webhook connector (HMAC over the raw body)"),
      "/v2/connectors/github/{id}/events": connectorIngress("receiveGitHubEvent", "a GitHub connector (X-Hub-Signature-256)"),
      "/v2/connectors/gitlab/{id}/events": connectorIngress("receiveGitLabEvent", "a GitLab connector (signing token or legacy X-Gitlab-Token)"),
      "/v2/tenant/connectors/s3-objects/{id}/commit": {
        parameters: [pathId("id", "^con_", "the S3/R2 object connector")],
        post: {
          operationId: "commitS3Object",
          summary: "Commit an object version: Attesto reads its metadata (HeadObject) and appends it",
          security: tenantAuth,
          requestBody: {
            required: true,
            content: json({ type: "object", required: ["key"], properties: { key: { type: "string" }, versionId: { type: "string" }, metadata: LOOSE_OBJECT } }),
          },
          responses: { "200": answer("already committed (duplicate)", ref("CommittedEvent")), "201": answer("committed", ref("CommittedEvent")), ...errors(400, 401, 404, 412, 503) },
        },
      },
    },
  };
}
