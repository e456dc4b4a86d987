import { errors, ref, text, answer, LOOSE_OBJECT, type OpenApiPart } from "./shared.js";

/** The landing page, documentation, this document, the verification page and the operational routes. */
export function siteRoutes(): OpenApiPart {
  return {
    schemas: {
      Readiness: {
        type: "object",
        required: ["status", "checks"],
        properties: { status: { type: "string", enum: ["ready", "unavailable"] }, checks: { type: "object", additionalProperties: { type: "string", enum: ["ok", "unavailable"] } } },
        additionalProperties: false,
      },
    },
    paths: {
      "/": {
        get: {
          operationId: "getLanding",
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
            ...errors(429),
          },
        },
      },
      "/docs": {
        get: {
          operationId: "listDocs",
          summary: "The documentation pages (JSON; an HTML index to a client that accepts text/html). `/docs/` answers the same.",
          security: [],
          parameters: [{ name: "format", in: "query", required: false, schema: { enum: ["json"] }, description: "`json` gives a browser the JSON list" }],
          responses: {
            "200": {
              description: "their paths",
              content: {
                "application/json": { schema: { type: "object", required: ["pages"], properties: { pages: { type: "array", items: { type: "string" } } } } },
                "text/html": { schema: { type: "string" } },
              },
            },
            ...errors(429),
          },
        },
      },
      "/docs/api": {
        get: {
          operationId: "getApiReference",
          summary: "This document rendered as an API reference page (Redoc, served from this server: the page loads nothing from elsewhere)",
          security: [],
          responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } }, ...errors(429) },
        },
      },
      "/docs/{page}": {
        parameters: [{ name: "page", in: "path", required: true, schema: { type: "string", pattern: "^[a-z0-9-]+\\.md$" } }],
        get: {
          operationId: "getDoc",
          summary: "One documentation page: Markdown, or rendered HTML with working links to a client that accepts text/html",
          security: [],
          parameters: [{ name: "format", in: "query", required: false, schema: { enum: ["markdown"] }, description: "`markdown` gives a browser the Markdown" }],
          responses: { "200": { description: "the page", content: { "text/markdown": { schema: { type: "string" } }, "text/html": { schema: { type: "string" } } } }, ...errors(404, 429) },
        },
      },
      "/openapi.json": { get: { operationId: "getOpenApiDocument", summary: "This document", security: [], responses: { "200": answer("OpenAPI 3.1", LOOSE_OBJECT), ...errors(429) } } },
      "/verify": {
        get: {
          operationId: "getVerifyPage",
          summary: "The verification page (checks bundles and tlog-proofs in the browser)",
          security: [],
          responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } }, ...errors(429) },
        },
      },
      "/healthz": {
        get: {
          operationId: "getLiveness",
          summary: "Liveness",
          security: [],
          responses: { "200": answer("alive", { type: "object", required: ["status"], properties: { status: { const: "ok" } }, additionalProperties: false }) },
        },
      },
      "/readyz": {
        get: {
          operationId: "getReadiness",
          summary: "Readiness: the database and Redis answer within 2 s",
          security: [],
          responses: {
            "200": answer("ready", ref("Readiness")),
            "503": answer("a dependency is unavailable", ref("Readiness")),
          },
        },
      },
      "/metrics": { get: { operationId: "getMetrics", summary: "Prometheus metrics", security: [], responses: { "200": { description: "text exposition format", content: text } } } },
    },
  };
}
