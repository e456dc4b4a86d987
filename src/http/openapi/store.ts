import { APP_STORE_METHODS } from "../../contract/appstore-messages.js";
import { GOOGLE_PLAY_METHODS } from "../../contract/googleplay-messages.js";
import { errors, ref, json, answer, tenantAuth, pathId, RAW_BODY, LOOSE_OBJECT, type OpenApiPart } from "./shared.js";

/** App Store and Google Play verification (tenant key) and the stores' inbound notifications (verified by their signatures). */
export function storeRoutes(): OpenApiPart {
  return {
    schemas: {
      CommittedNotification: {
        type: "object",
        required: ["id", "duplicate", "stream_id", "seq_no"],
        properties: { id: { type: "string" }, duplicate: { type: "boolean" }, stream_id: { type: "string" }, seq_no: { type: "integer" } },
        additionalProperties: false,
      },
    },
    paths: {
      ...appStorePaths(),
      ...googlePlayPaths(),
      "/v1/apple/verify": {
        post: {
          operationId: "verifyAppleTransaction",
          summary: "Look up and verify an App Store transaction (body and answer: the protojson of attesto.v1 VerifyAppleTransaction)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verified transaction", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
        },
      },
      "/v1/apple/verify-signed": {
        post: {
          operationId: "verifyAppleSignedData",
          summary: "Verify Apple-signed data offline against the pinned roots (protojson of attesto.v1 VerifyAppleSignedData)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verification result", LOOSE_OBJECT), ...errors(400, 401, 429) },
        },
      },
      "/v1/google/verify": {
        post: {
          operationId: "verifyGooglePurchase",
          summary: "Look up and verify a Google Play purchase (protojson of attesto.v1 VerifyGooglePurchase)",
          security: tenantAuth,
          requestBody: { required: true, content: json(LOOSE_OBJECT) },
          responses: { "200": answer("the verified purchase", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
        },
      },
      "/v1/store-notifications/apple/{tenantId}": {
        parameters: [pathId("tenantId", "^ten_[0-9A-HJKMNP-TV-Z]{26}$", "the receiving tenant")],
        post: {
          operationId: "receiveAppleNotification",
          summary: "App Store Server Notifications V2 endpoint (Apple signs the body; no credentials). Earlier versions' URL, /v1/webhooks/apple/{tenantId}, answers the same.",
          security: [],
          requestBody: RAW_BODY,
          responses: { "200": answer("committed to the tenant's store Proofstream", ref("CommittedNotification")), ...errors(400, 404, 412, 503) },
        },
      },
      "/v1/store-notifications/google/{tenantId}": {
        parameters: [pathId("tenantId", "^ten_[0-9A-HJKMNP-TV-Z]{26}$", "the receiving tenant")],
        post: {
          operationId: "receiveGoogleNotification",
          summary: "Google Play RTDN Pub/Sub push endpoint (Google's OIDC token authenticates it). Earlier versions' URL, /v1/webhooks/google/{tenantId}, answers the same.",
          security: [],
          requestBody: RAW_BODY,
          responses: { "200": answer("committed to the tenant's store Proofstream", ref("CommittedNotification")), ...errors(400, 401, 404, 412, 503) },
        },
      },
    },
  };
}

/** AppStoreService's REST forms: one POST per call, its request and response as protojson. */
function appStorePaths(): Record<string, object> {
  const paths: Record<string, object> = {};
  for (const [name, m] of Object.entries(APP_STORE_METHODS)) {
    paths[`/v1/apple/${m.route}`] = {
      post: {
        operationId: name,
        summary: `App Store Server API: ${name[0]!.toUpperCase()}${name.slice(1)}, every signed item of Apple's answer verified (body and answer: the protojson of ${m.request.typeName} and ${m.response.typeName})`,
        security: tenantAuth,
        requestBody: { required: true, content: json(LOOSE_OBJECT) },
        responses: { "200": answer("Apple's answer, verified", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
      },
    };
  }
  return paths;
}

/** GooglePlayService's REST forms: one POST per call, its request and response as protojson. */
function googlePlayPaths(): Record<string, object> {
  const paths: Record<string, object> = {};
  for (const [name, m] of Object.entries(GOOGLE_PLAY_METHODS)) {
    paths[`/v1/google/${m.route}`] = {
      post: {
        operationId: name,
        summary: `Google Play Developer API: ${name[0]!.toUpperCase()}${name.slice(1)} with the tenant's service account (body and answer: the protojson of ${m.request.typeName} and ${m.response.typeName})`,
        security: tenantAuth,
        requestBody: { required: true, content: json(LOOSE_OBJECT) },
        responses: { "200": answer("Google's answer", LOOSE_OBJECT), ...errors(400, 401, 404, 412, 429, 503) },
      },
    };
  }
  return paths;
}
