import { errors, ref, json, text, answer, tenantAuth, pathId, STREAM_ID, LOOSE_OBJECT, type OpenApiPart } from "./shared.js";

/** Verification, bundle downloads and the tlog-tiles read path. */
export function evidenceRoutes(): OpenApiPart {
  return {
    schemas: {
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
              properties: { name: { type: "string" }, status: { type: "string", enum: ["pass", "fail", "unpinned", "skipped", "offline"] }, detail: { type: "string" }, ok: { type: "boolean" } },
            },
          },
        },
      },
    },
    paths: {
      "/v2/verify": {
        post: {
          operationId: "verifyBundle",
          summary: "Verify an attesto.bundle.v1 bundle or a C2SP tlog-proof sent as the body (public)",
          security: [],
          parameters: [{ name: "verifier_key", in: "query", description: "the stream verifier key you trust (or header X-Attesto-Verifier-Key)", schema: { type: "string", maxLength: 1024 } }],
          requestBody: { required: true, content: { "application/json": { schema: LOOSE_OBJECT }, ...text } },
          responses: { "200": answer("the verification report (valid or not)", ref("VerificationReport")), ...errors(400, 413, 429, 503) },
        },
      },
      "/bundles/{bundleId}/download": {
        parameters: [pathId("bundleId", "^bundle_[0-9A-HJKMNP-TV-Z]{26}$", "a ready bundle")],
        get: {
          operationId: "downloadBundle",
          summary: "Download a ready verifier bundle (the owning tenant's key, or public with ATTESTO_TILES_PUBLIC)",
          security: tenantAuth,
          responses: { "200": { description: "the bundle document", content: json(LOOSE_OBJECT) }, ...errors(400, 401, 404) },
        },
      },
      "/witness/add-checkpoint": {
        post: {
          operationId: "addCheckpoint",
          summary: "C2SP tlog-witness add-checkpoint: this deployment cosigns a checkpoint of a log it trusts (AdminService.AddWitnessedLog), when ATTESTO_WITNESS_KEY is set (public)",
          security: [],
          requestBody: { required: true, content: text },
          responses: {
            "200": { description: "the cosignature line(s) (C2SP tlog-cosignature, cosignature/v1)", content: text },
            "400": { description: "a malformed body (old size line, proof lines, empty line, signed checkpoint)", content: text },
            "403": { description: "no signature by a trusted key of the log", content: text },
            "404": { description: "an unknown origin, or this deployment is not a witness", content: text },
            "409": {
              description: "the old size is not the size last cosigned (body: that size, text/x.tlog.size), or the same size with another root (fork evidence kept)",
              content: { "text/x.tlog.size": { schema: { type: "string" } }, ...text },
            },
            "422": { description: "the consistency proof does not verify (fork evidence kept)", content: text },
            ...errors(413, 429),
          },
        },
      },
      "/proofstreams/{streamId}/checkpoint": {
        parameters: [STREAM_ID],
        get: {
          operationId: "getCheckpoint",
          summary: "The latest signed checkpoint (C2SP tlog-checkpoint note, with its witness cosignature lines)",
          security: tenantAuth,
          responses: { "200": { description: "the note", content: text }, ...errors(401, 404) },
        },
      },
      "/proofstreams/{streamId}/proof/{seqNo}": {
        parameters: [STREAM_ID, { name: "seqNo", in: "path", required: true, schema: { type: "integer", minimum: 1 } }],
        get: {
          operationId: "getInclusionProof",
          summary: "One event's C2SP tlog-proof against the latest checkpoint",
          security: tenantAuth,
          responses: { "200": { description: "the proof", content: text }, ...errors(400, 401, 404) },
        },
      },
      "/proofstreams/{streamId}/tile/{tilePath}": {
        parameters: [STREAM_ID, { name: "tilePath", in: "path", required: true, description: "a C2SP tlog-tiles path (e.g. 0/000, 0/x001/234.p/5, entries/000)", schema: { type: "string" } }],
        get: {
          operationId: "getTile",
          summary: "tlog-tiles read path (the owning tenant's key, or public with ATTESTO_TILES_PUBLIC)",
          security: tenantAuth,
          responses: { "200": { description: "the tile", content: { "application/octet-stream": { schema: { type: "string", contentEncoding: "binary" } } } }, ...errors(400, 401, 404) },
        },
      },
    },
  };
}
