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
              properties: {
                name: { type: "string", description: "format, signature, leaves, range_proof, inclusion_proofs, inclusion_proof, anchors, witnesses, timestamp" },
                status: {
                  type: "string",
                  enum: ["pass", "fail", "unpinned", "skipped", "offline", "missing"],
                  description: "missing: the policy asks for evidence the document does not carry; skipped: nothing to check, or carried and not asked for",
                },
                detail: { type: "string" },
                ok: { type: "boolean" },
              },
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
          description:
            "The caller's policy comes as query parameters (docs/bundle.md): each kind of evidence it names is its own check in the report, pass, fail or missing (asked for and not carried). A parameter that is not usable is a 400 naming it; the document is not read.",
          parameters: [
            { name: "verifier_key", in: "query", description: "the stream verifier key you trust (or header X-Attesto-Verifier-Key)", schema: { type: "string", maxLength: 1024 } },
            {
              name: "witness_keys",
              in: "query",
              description: "a witness you trust (C2SP tlog-cosignature verifier key, type 0x04); repeat for each, with witness_k",
              explode: true,
              schema: { type: "array", maxItems: 64, items: { type: "string", maxLength: 1024 } },
            },
            { name: "witness_k", in: "query", description: "how many of witness_keys must have cosigned the checkpoint (1..their number)", schema: { type: "integer", minimum: 1 } },
            {
              name: "tsa_roots",
              in: "query",
              description: "an RFC 3161 TSA root certificate you trust, PEM or base64 DER; repeat for each (the URL is bounded by the server's header limit: larger sets go through VerifyBundle)",
              explode: true,
              schema: { type: "array", maxItems: 32, items: { type: "string" } },
            },
            { name: "require_anchor", in: "query", description: "the document must carry an anchor receipt (else the anchors check is missing)", schema: { type: "boolean" } },
          ],
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
