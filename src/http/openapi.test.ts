import { Ajv2020 } from "ajv/dist/2020.js";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { mountOpenApi, openApiDocument } from "./openapi.js";

type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };
type Doc = { openapi: string; info: { title: string }; paths: Record<string, Record<string, Operation>> };

// Whether real answers match the document is checked end to end by test/openapi.test.ts.
describe("the OpenAPI document", () => {
  it("is served as JSON at /openapi.json", async () => {
    const app = new Hono();
    mountOpenApi(app);
    const res = await app.request("/openapi.json");
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await res.json()).toEqual(openApiDocument());
  });

  it("is OpenAPI 3.1 whose every operation lists its answers, with every schema compiling and every $ref resolving", () => {
    const doc = openApiDocument() as Doc;
    expect(doc.openapi).toMatch(/^3\.1\./);
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(doc, "openapi");
    let schemas = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      expect(path.startsWith("/"), path).toBe(true);
      for (const [method, operation] of Object.entries(operations)) {
        if (method === "parameters") continue;
        expect(Object.keys(operation.responses).length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [status, answer] of Object.entries(operation.responses)) {
          for (const type of Object.keys(answer.content ?? {})) {
            const pointer = ["paths", path, method, "responses", status, "content", type, "schema"].map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
            if (!answer.content![type]!.schema) continue;
            // getSchema compiles the schema and throws on a $ref it cannot resolve.
            expect(ajv.getSchema(`openapi#/${pointer}`), `${method} ${path} ${status}`).toBeTypeOf("function");
            schemas++;
          }
        }
      }
    }
    expect(schemas).toBeGreaterThan(20);
  });
});
