import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpApp } from "../src/http/app.js";
import { Metrics } from "../src/http/metrics.js";
import { createLogger } from "../src/logger.js";
import type { Attesto } from "../src/server/app.js";
import { newTenant, startTestServer } from "./support/server.js";

let app: Attesto;
let key: string;

beforeAll(async () => {
  app = await startTestServer({ corsOrigins: ["https://app.example"] });
  key = (await newTenant(app.url)).key;
});
afterAll(() => app?.stop());

const rpc = (headers: Record<string, string>) =>
  fetch(`${app.url}/attesto.v1.TenantService/GetCurrentTenant`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body: "{}" });

describe("the edge: CORS only for browsers", () => {
  it("answers a preflight from an allowed origin", async () => {
    const res = await fetch(`${app.url}/attesto.v1.TenantService/GetCurrentTenant`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    expect(res.headers.get("access-control-max-age")).toBe("7200");
  });

  it("marks an actual browser request and leaves other origins unmarked", async () => {
    const allowed = await rpc({ origin: "https://app.example" });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-expose-headers")).toMatch(/X-Request-Id/);
    const other = await rpc({ origin: "https://evil.example" });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("adds no CORS headers without an Origin, but still Vary: Origin for caches", async () => {
    const res = await rpc({});
    expect(res.status).toBe(200);
    expect([...res.headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([]);
    expect(res.headers.get("vary")).toBe("Origin");
  });
});

describe("the edge: health, readiness and metrics without Hono", () => {
  const hono = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 1024, readiness: { database: async () => {}, redis: async () => {} } });

  for (const path of ["/healthz", "/readyz"]) {
    it(`GET ${path} answers as the Hono route does`, async () => {
      const plain = await fetch(`${app.url}${path}`);
      const routed = await hono.request(path);
      expect(plain.status).toBe(routed.status);
      expect(plain.headers.get("content-type")).toBe(routed.headers.get("content-type"));
      expect(await plain.text()).toBe(await routed.text());
    });
  }

  it("GET /metrics serves the Prometheus text with the registry's content type", async () => {
    const res = await fetch(`${app.url}/metrics?x=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(new Metrics().registry.contentType);
    expect(await res.text()).toMatch(/^attesto_http_request_duration_seconds_bucket/m);
  });

  it("other methods on those paths still reach the Hono routes", async () => {
    const res = await fetch(`${app.url}/healthz`, { method: "POST" });
    expect(res.status).toBe(404);
  });
});
