import { fromBinary } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnchorService } from "../gen/ts/attesto/v1/anchor_pb.js";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import type { Attesto } from "../src/server/app.js";
import { ADMIN_TOKEN, newTenant, startTestServer } from "./support/server.js";

let app: Attesto;
let tenant: Awaited<ReturnType<typeof newTenant>>;

beforeAll(async () => {
  app = await startTestServer({ bodyLimitBytes: 64 * 1024 });
  tenant = await newTenant(app.url);
});
afterAll(() => app?.stop());

/** What curl does: Connect's JSON protocol over HTTP/1.1. */
function connectJson(path: string, body: unknown, token?: string) {
  return fetch(`${app.url}/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

const bearer = (token: string) => [
  (next: (req: { header: Headers }) => unknown) => (req: { header: Headers }) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  },
];

describe("Connect JSON over HTTP/1.1 (curl)", () => {
  it("answers a tenant-scoped RPC for the key's tenant", async () => {
    const res = await connectJson("attesto.v1.TenantService/GetCurrentTenant", {}, tenant.key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tenant: { id: string }; apiKey: { id: string; prefix: string } };
    expect(body.tenant.id).toBe(tenant.tenantId);
    expect(body.apiKey.id).toBe(tenant.apiKeyId);
    expect(tenant.key.startsWith(body.apiKey.prefix)).toBe(true);
    expect(res.headers.get("x-request-id")).toMatch(/.+/);
  });

  it("answers unauthenticated without a key and with a wrong one", async () => {
    for (const token of [undefined, "atk_" + "A".repeat(43), "garbage"]) {
      const res = await connectJson("attesto.v1.TenantService/GetCurrentTenant", {}, token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe("unauthenticated");
    }
  });

  it("names the field of invalid input", async () => {
    const res = await connectJson("attesto.v1.TenantService/CreateApiKey", { name: "" }, tenant.key);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string; details: Array<{ type: string; value: string }> };
    expect(body).toMatchObject({ code: "invalid_argument", message: "name: is required" });
    // The machine-readable form: a google.rpc.ErrorInfo detail with the reason and the field.
    expect(body.details.map((d) => d.type)).toEqual(["google.rpc.ErrorInfo"]);
    const info = fromBinary(ErrorInfoSchema, Buffer.from(body.details[0]!.value, "base64"));
    expect(info).toMatchObject({ reason: "FIELD_INVALID", domain: "attesto.eu", metadata: { field: "name" } });
  });

  it("rejects malformed JSON as invalid_argument", async () => {
    const res = await fetch(`${app.url}/attesto.v1.TenantService/CreateApiKey`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${tenant.key}` },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("answers unimplemented for contract RPCs whose issue has not landed, after auth", async () => {
    const unauth = await connectJson("attesto.v1.AnchorService/ListBatches", {});
    expect(unauth.status).toBe(401);
    const res = await connectJson("attesto.v1.AnchorService/ListBatches", {}, tenant.key);
    expect(res.status).toBe(501);
    expect(((await res.json()) as { code: string }).code).toBe("unimplemented");
  });

  it("lets anyone call the public verifier service", async () => {
    const res = await connectJson("attesto.v1.VerifierService/VerifyBundle", { bundleJson: "{}" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { valid?: boolean; checks: Array<{ name: string; ok?: boolean }> };
    expect(body.valid).toBeUndefined(); // false: the Connect JSON default is left out
    expect(body.checks[0]).toMatchObject({ name: "format" });
  });

  it("refuses operator calls from tenants and anonymous callers with distinct codes", async () => {
    const asTenant = await connectJson("attesto.admin.v1.AdminService/ListTenants", {}, tenant.key);
    expect(((await asTenant.json()) as { code: string }).code).toBe("permission_denied");
    const anonymous = await connectJson("attesto.admin.v1.AdminService/ListTenants", {});
    expect(((await anonymous.json()) as { code: string }).code).toBe("unauthenticated");
    const wrong = await connectJson("attesto.admin.v1.AdminService/ListTenants", {}, "not-the-operator-token");
    expect(((await wrong.json()) as { code: string }).code).toBe("unauthenticated");
    const operator = await connectJson("attesto.admin.v1.AdminService/ListTenants", { pageSize: 500 }, ADMIN_TOKEN);
    expect(operator.status).toBe(200);
  });

  it("limits request bodies", async () => {
    const res = await connectJson("attesto.v1.TenantService/CreateApiKey", { name: "x".repeat(100 * 1024) }, tenant.key);
    expect(res.status).toBe(429); // Connect maps resource_exhausted to 429
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
  });
});

describe("native gRPC (h2c) and gRPC-Web on the same port", () => {
  it("serves gRPC over HTTP/2 prior knowledge", async () => {
    const client = createClient(TenantService, createGrpcTransport({ baseUrl: app.url, interceptors: bearer(tenant.key) as never }));
    const res = await client.getCurrentTenant({});
    expect(res.tenant?.id).toBe(tenant.tenantId);
  });

  it("maps errors to gRPC status codes", async () => {
    const client = createClient(AnchorService, createGrpcTransport({ baseUrl: app.url, interceptors: bearer(tenant.key) as never }));
    const err = await client.listBatches({}).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unimplemented);
    const anonymous = createClient(TenantService, createGrpcTransport({ baseUrl: app.url }));
    expect(ConnectError.from(await anonymous.getCurrentTenant({}).catch((e: unknown) => e)).code).toBe(Code.Unauthenticated);
  });

  it("serves gRPC-Web over HTTP/1.1", async () => {
    const client = createClient(TenantService, createGrpcWebTransport({ baseUrl: app.url, httpVersion: "1.1", interceptors: bearer(tenant.key) as never }));
    expect((await client.getCurrentTenant({})).tenant?.id).toBe(tenant.tenantId);
  });

  it("serves the Connect protocol over h2c too", async () => {
    const client = createClient(VerifierService, createGrpcTransport({ baseUrl: app.url }));
    const answer = await client.verifyBundle({ bundleJson: "{}" });
    expect(answer.valid).toBe(false);
    expect(answer.checks.map((c) => c.name)).toEqual(["format", "signature", "leaves", "range_proof", "anchors"]);
    const err = await client.verifyBundle({}).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.InvalidArgument);
  });
});

describe("operational routes", () => {
  it("reports liveness and readiness of the database and Redis", async () => {
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { database: "ok", redis: "ok" } });
  });

  it("exports Prometheus metrics including request latency by RPC", async () => {
    await connectJson("attesto.v1.TenantService/GetCurrentTenant", {}, tenant.key);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toContain('attesto_http_request_duration_seconds_count{route="/attesto.v1.TenantService/GetCurrentTenant",method="POST",status="200"}');
    expect(text).toContain("attesto_process_cpu_user_seconds_total");
  });

  it("answers CORS preflights for browser Connect clients", async () => {
    const res = await fetch(`${app.url}/attesto.v1.TenantService/GetCurrentTenant`, {
      method: "OPTIONS",
      headers: { Origin: "http://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,connect-protocol-version,content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://app.example");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("grpc-status");
  });

  it("keeps a sane caller request id and replaces a bad one", async () => {
    const kept = await fetch(`${app.url}/healthz`, { headers: { "X-Request-Id": "abc-123" } });
    expect(kept.headers.get("x-request-id")).toBe("abc-123");
    const replaced = await fetch(`${app.url}/healthz`, { headers: { "X-Request-Id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await fetch(`${app.url}/no/such/route`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});
