import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { createLogger } from "../logger.js";
import { createHttpApp, type HttpDeps } from "./app.js";
import { Metrics } from "./metrics.js";

/** A logger whose lines are kept, to see what a failure logs. */
function keptLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: createLogger("info", sink), lines };
}

function appWith(overrides: Partial<HttpDeps> = {}) {
  const kept = keptLogger();
  const app = createHttpApp({ logger: kept.logger, metrics: new Metrics(), bodyLimitBytes: 16, readiness: {}, ...overrides });
  app.post("/echo", async (c) => c.text(await c.req.text()));
  app.post("/own-limit", async (c) => c.text(String((await c.req.text()).length)));
  app.get("/refused", () => {
    throw new AppError("resource_exhausted", "slow down", { retryAfterSeconds: 7 });
  });
  app.get("/broken", () => {
    throw new Error("index page 7 is corrupt");
  });
  return { app, lines: kept.lines };
}

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; reason?: string } }).error;

describe("the plain HTTP app", () => {
  it("answers /healthz, and /readyz by its checks (503 naming the failed one, never its detail)", async () => {
    const { app, lines } = appWith({
      readiness: {
        database: async () => {},
        redis: async () => {
          throw new Error("connect ECONNREFUSED 10.0.0.7:6379");
        },
      },
    });
    expect(await (await app.request("/healthz")).json()).toEqual({ status: "ok" });
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(503);
    const text = await ready.text();
    expect(JSON.parse(text)).toEqual({ status: "unavailable", checks: { database: "ok", redis: "unavailable" } });
    expect(text).not.toContain("ECONNREFUSED");
    expect(lines.join("")).toContain('"check":"redis"');
    const { app: healthy } = appWith({ readiness: { database: async () => {} } });
    expect((await healthy.request("/readyz")).status).toBe(200);
  });

  it("serves the Prometheus metrics of its registry", async () => {
    const { app } = appWith();
    const res = await app.request("/metrics");
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toContain("attesto_process_info");
  });

  it("answers an unknown route 404 as a JSON error with its reason", async () => {
    const { app } = appWith();
    const res = await app.request("/nowhere", { method: "DELETE" });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "not_found", message: "no route for DELETE /nowhere", reason: "ROUTE_NOT_FOUND" });
  });

  it("refuses a body over the limit by its declared length or, chunked, by counting; paths with their own limit are let through", async () => {
    const { app } = appWith({ ownBodyLimit: ["/own-limit"] });
    const declared = await app.request("/echo", { method: "POST", body: "x".repeat(17), headers: { "content-length": "17" } });
    expect(declared.status).toBe(413);
    expect(await errorOf(declared)).toMatchObject({ code: "payload_too_large", reason: "PAYLOAD_TOO_LARGE" });
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode("12345678"));
        controller.close();
      },
    });
    const counted = await app.request("/echo", { method: "POST", body: chunked, duplex: "half" } as RequestInit);
    expect(counted.status).toBe(413);
    expect(await (await app.request("/echo", { method: "POST", body: "small", headers: { "content-length": "5" } })).text()).toBe("small");
    expect(await (await app.request("/own-limit", { method: "POST", body: "y".repeat(100), headers: { "content-length": "100" } })).text()).toBe("100");
  });

  it("maps an AppError to its status with Retry-After, and anything else to a 500 that hides the error from the caller and logs it", async () => {
    const { app, lines } = appWith();
    const refused = await app.request("/refused");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("7");
    expect(((await refused.json()) as { error: { retry_after_seconds: number } }).error.retry_after_seconds).toBe(7);
    const broken = await app.request("/broken");
    expect(broken.status).toBe(500);
    const text = await broken.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: "internal", message: "internal error" } });
    expect(text).not.toContain("corrupt");
    // The operator sees what failed and where; the caller does not.
    expect(lines.join("")).toMatch(/index page 7 is corrupt.*"path":"\/broken","msg":"request failed"/);
  });

  it("answers 503 with Retry-After past the request deadline", async () => {
    const { app } = appWith({ requestDeadlineMs: 20 });
    app.get("/slow", () => new Promise<Response>(() => {}));
    const res = await app.request("/slow");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
  });
});
