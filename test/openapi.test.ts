import { createConfig, lintFromString } from "@redocly/openapi-core";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { newTenant } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, type Store } from "./support/webhooks.js";

type Doc = { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };

let store: Store;
let app: Attesto;
let receiver: Receiver;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
/** Every (method, path template, status) whose answer was checked against the document. */
const checked = new Set<string>();

beforeAll(async () => {
  store = await isolatedStore("openapi");
  app = await startWebhookServer(store);
  receiver = await Receiver.start(0);
  doc = (await (await fetch(`${app.url}/openapi.json`)).json()) as Doc;
  ajv.addSchema(doc, "openapi");
});
afterAll(async () => {
  await receiver?.close();
  await app?.stop();
  await store?.drop();
});

/** The document's path template for a Hono route (":id" → "{id}", a trailing "*" → "{tilePath}"). */
const template = (honoPath: string) => honoPath.replace(/:([A-Za-z]+)/g, "{$1}").replace(/\/\*$/, "/{tilePath}");
const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

/** Calls the server and checks the answer's status and JSON body against the document. */
async function call(method: string, pathTemplate: string, path: string, init: { key?: string; body?: unknown; accept?: string } = {}) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(init.accept ? { accept: init.accept } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const operation = doc.paths[pathTemplate]?.[method.toLowerCase()];
  expect(operation, `${method} ${pathTemplate} is documented`).toBeDefined();
  const documented = operation!.responses[String(res.status)];
  expect(documented, `${method} ${path} answered ${res.status}, which the document lists`).toBeDefined();
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? "";
  if (contentType.startsWith("application/json")) {
    expect(documented!.content?.["application/json"], `${method} ${pathTemplate} ${res.status} documents a JSON body`).toBeDefined();
    const validate = ajv.getSchema(`openapi#/${pointer("paths", pathTemplate, method.toLowerCase(), "responses", String(res.status), "content", "application/json", "schema")}`)!;
    const body = JSON.parse(text) as unknown;
    expect(validate(body), `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`).toBe(true);
    checked.add(`${method} ${pathTemplate} ${res.status}`);
    return { status: res.status, body: body as Record<string, any> };
  }
  if (text)
    expect(
      Object.keys(documented!.content ?? {}).some((type) => contentType.startsWith(type)),
      `${method} ${path}: ${contentType} is documented`,
    ).toBe(true);
  checked.add(`${method} ${pathTemplate} ${res.status}`);
  return { status: res.status, body: undefined };
}

describe("/openapi.json", () => {
  it("passes Redocly's recommended ruleset with no error and no warning, and every operation has a unique operationId", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: "openapi.json", config });
    const found = problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ""}: ${p.message}`);
    // Where a rule of the ruleset is wrong for this document, the exception is named here with its reason:
    const exceptions: Array<{ rule: string; pointer: RegExp; why: string }> = [
      // The project declares no license (package.json has none): the document does not invent one.
      { rule: "info-license", pointer: /^#\/info$/, why: "no license is declared" },
      // The probes and the metrics scrape are exempt from rate limits and take no input: they have no 4xx answer to document.
      { rule: "operation-4xx-response", pointer: /^#\/paths\/~1(healthz|readyz|metrics)\/get\/responses$/, why: "probes never answer 4xx" },
    ];
    const excepted = (p: (typeof problems)[number]) => exceptions.some((e) => e.rule === p.ruleId && e.pointer.test(p.location[0]?.pointer ?? ""));
    expect(found.filter((_, i) => !excepted(problems[i]!))).toEqual([]);
    // Each exception is still needed (a rule that stops firing loses its exception).
    for (const e of exceptions)
      expect(
        problems.some((p) => p.ruleId === e.rule && e.pointer.test(p.location[0]?.pointer ?? "")),
        `${e.rule}: ${e.why}`,
      ).toBe(true);

    const ids = [...Object.values(doc.paths), ...Object.values((doc as unknown as { webhooks: Doc["paths"] }).webhooks)].flatMap((item) =>
      Object.entries(item)
        .filter(([k]) => k !== "parameters")
        .map(([, op]) => (op as { operationId?: string }).operationId),
    );
    expect(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z0-9]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // Named after the RPC where one does the same.
    expect(ids).toEqual(
      expect.arrayContaining([
        "getCheckpoint",
        "getInclusionProof",
        "verifyBundle",
        "createSubscription",
        "listDeliveries",
        "commitS3Object",
        "verifyAppleTransaction",
        "getTransactionHistory",
        "refundOrder",
      ]),
    );
  });

  it("is OpenAPI 3.1 whose component schemas compile as JSON Schema 2020-12", () => {
    expect(doc.openapi).toBe("3.1.0");
    const schemas = (doc as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas;
    for (const name of Object.keys(schemas)) expect(ajv.getSchema(`openapi#/components/schemas/${name}`), name).toBeTypeOf("function");
  });

  it("documents every plain HTTP route the server registers, and nothing it does not", () => {
    const internal = (path: string) => path.startsWith("/admin/queues") || path === "/verify/verify.js" || path === "/docs/api/redoc.standalone.js";
    // Served for the URLs earlier versions gave out, each answering as the documented form beside it;
    // not in the document, where they would be ambiguous (Redocly's no-ambiguous-paths) or end in a slash.
    const aliases: Record<string, string> = {
      "post /v1/webhooks/apple/{tenantId}": "post /v1/store-notifications/apple/{tenantId}",
      "post /v1/webhooks/google/{tenantId}": "post /v1/store-notifications/google/{tenantId}",
      "get /docs/": "get /docs",
    };
    const served = app.httpRoutes.filter((r) => !internal(r.path)).map((r) => `${r.method.toLowerCase()} ${template(r.path)}`);
    for (const [alias, documentedForm] of Object.entries(aliases)) {
      expect(served, alias).toContain(alias);
      expect(served, documentedForm).toContain(documentedForm);
    }
    const registered = new Set(served.filter((r) => !(r in aliases)));
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => k !== "parameters")
          .map((m) => `${m} ${path}`),
      ),
    );
    expect(
      [...registered].filter((r) => !documented.has(r)),
      "registered but not documented",
    ).toEqual([]);
    expect(
      [...documented].filter((d) => !registered.has(d)),
      "documented but not registered",
    ).toEqual([]);
  });

  it("matches the real answers of the webhook routes, their errors included", async () => {
    const { key } = await newTenant(app.url);
    const created = await call("POST", "/v1/webhooks", "/v1/webhooks", { key, body: { name: "doc", url: receiver.url(), eventTypes: ["batch.failed"] } });
    expect(created.status).toBe(201);
    const id = created.body!.id as string;
    await call("GET", "/v1/webhooks", "/v1/webhooks?page_size=1", { key });
    await call("GET", "/v1/webhooks", "/v1/webhooks?page_size=9999", { key });
    await call("GET", "/v1/webhooks", "/v1/webhooks");
    await call("GET", "/v1/webhooks/{id}", `/v1/webhooks/${id}`, { key });
    await call("GET", "/v1/webhooks/{id}", "/v1/webhooks/sub_01ARZ3NDEKTSV4RRFFQ69G5FAV", { key });
    await call("PATCH", "/v1/webhooks/{id}", `/v1/webhooks/${id}`, { key, body: { description: "documented" } });
    await call("POST", "/v1/webhooks/{id}/rotate-secret", `/v1/webhooks/${id}/rotate-secret`, { key, body: { overlapSeconds: 60 } });
    const test = await call("POST", "/v1/webhooks/{id}/test", `/v1/webhooks/${id}/test`, { key, body: { eventType: "proofstream.checkpointed" } });
    const delivery = `/v1/webhooks/${id}/deliveries/${test.body!.id}`;
    await waitFor(async () => (await (await fetch(`${app.url}${delivery}`, { headers: { authorization: `Bearer ${key}` } })).json()).status === "succeeded" || undefined, "the test delivery");
    await call("GET", "/v1/webhooks/{id}/deliveries", `/v1/webhooks/${id}/deliveries?status=succeeded`, { key });
    await call("GET", "/v1/webhooks/{id}/deliveries/{deliveryId}", delivery, { key });
    await call("POST", "/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver", `${delivery}/redeliver`, { key });
    expect((await call("DELETE", "/v1/webhooks/{id}", `/v1/webhooks/${id}`, { key })).status).toBe(204);
  });

  it("matches the real answers of the public routes", async () => {
    await call("GET", "/", "/");
    await call("GET", "/", "/", { accept: "text/html" });
    await call("GET", "/healthz", "/healthz");
    await call("GET", "/readyz", "/readyz");
    await call("GET", "/openapi.json", "/openapi.json");
    const pages = await call("GET", "/docs", "/docs");
    expect(pages.body!.pages).toContain("/docs/architecture.md");
    await call("GET", "/docs/{page}", "/docs/architecture.md");
    await call("GET", "/docs/{page}", "/docs/nope.md");
    await call("GET", "/docs/api", "/docs/api", { accept: "text/html" });
    await call("POST", "/v2/verify", "/v2/verify", { body: { not: "a bundle" } });
    await call("GET", "/metrics", "/metrics");
    expect(checked.size).toBeGreaterThan(20);
  });
});
