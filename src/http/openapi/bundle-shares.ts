import { errors, ref, json, answer, tenantAuth, pathId, nullable, dateTime, LOOSE_OBJECT, type OpenApiPart } from "./shared.js";

const BUNDLE_ID = pathId("bundleId", "^bundle_[0-9A-HJKMNP-TV-Z]{26}$", "the bundle id");

/** Bundle share links: their REST forms and the public fetch of a shared bundle. */
export function bundleShareRoutes(): OpenApiPart {
  return {
    schemas: {
      BundleShareLink: {
        type: "object",
        required: ["id", "bundleId", "url", "token", "expiresAt", "createdAt", "revokedAt"],
        properties: {
          id: { type: "string", pattern: "^bsl_" },
          bundleId: { type: "string", pattern: "^bundle_" },
          url: nullable("string", { format: "uri", description: "the /verify page with the token in its fragment (#share=); only in the creating answer" }),
          token: nullable("string", { pattern: "^ats_[A-Za-z0-9_-]{43}$", description: "for GET /v1/shared-bundle; only in the creating answer (the server keeps its SHA-256)" }),
          expiresAt: dateTime,
          createdAt: dateTime,
          revokedAt: nullable("string", { format: "date-time" }),
        },
        additionalProperties: false,
      },
    },
    paths: {
      "/v1/bundles/{bundleId}/share-links": {
        parameters: [BUNDLE_ID],
        post: {
          operationId: "createBundleShareLink",
          summary: "Create a share link of a bundle (CreateBundleShareLink): anyone with its URL fetches the bundle without a key until it expires or is revoked; the token is shown once",
          security: tenantAuth,
          requestBody: {
            required: false,
            content: json({
              type: "object",
              properties: {
                ttlSeconds: { type: "integer", minimum: 1, maximum: 2_592_000, description: "lifetime; default 604800 (7 days), at most 30 days" },
                requestId: { type: "string", pattern: "^[A-Za-z0-9_.:-]{1,64}$", description: "a retry with the same id within 10 minutes returns the first link" },
              },
              additionalProperties: false,
            }),
          },
          responses: { "201": answer("created, with url and token", ref("BundleShareLink")), ...errors(400, 401, 403, 404, 429) },
        },
      },
      "/v1/bundles/{bundleId}/share-links/{shareLinkId}": {
        parameters: [BUNDLE_ID, pathId("shareLinkId", "^bsl_[0-9A-HJKMNP-TV-Z]{26}$", "the share link id")],
        delete: {
          operationId: "revokeBundleShareLink",
          summary: "Revoke a share link (RevokeBundleShareLink); from then on its token answers 404. Idempotent",
          security: tenantAuth,
          responses: { "200": answer("the revoked link (without url and token)", ref("BundleShareLink")), ...errors(400, 401, 403, 404, 429) },
        },
      },
      "/v1/shared-bundle": {
        get: {
          operationId: "getSharedBundle",
          summary: "The bundle of a share link, for anyone with its token (public); an unknown, expired or revoked token answers 404",
          security: [],
          parameters: [
            {
              name: "X-Attesto-Share-Token",
              in: "header",
              required: true,
              description: "the share link's token (after #share= in its URL)",
              schema: { type: "string", pattern: "^ats_[A-Za-z0-9_-]{43}$" },
            },
          ],
          responses: { "200": { description: "the bundle document", content: json(LOOSE_OBJECT) }, ...errors(400, 404, 412, 429, 503) },
        },
      },
    },
  };
}
