import net from "node:net";
import { once } from "node:events";
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

/** Sends requests one after the other on one TCP connection; returns each answer's status line, or how the connection ended. */
async function onOneConnection(requests: Buffer[]): Promise<string[]> {
  const { port } = new URL(app.url);
  const socket = net.connect(Number(port), "127.0.0.1");
  await once(socket, "connect");
  let buffered = Buffer.alloc(0);
  let ended: string | undefined;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on("data", (d: Buffer) => ((buffered = Buffer.concat([buffered, d])), wake()));
  socket.on("error", (e: NodeJS.ErrnoException) => ((ended = `error ${e.code}`), wake()));
  socket.on("close", () => ((ended ??= "closed"), wake()));
  /** One whole answer (head and Content-Length body), or undefined once the connection ended without one. */
  const answer = async (): Promise<string | undefined> => {
    for (;;) {
      const headEnd = buffered.indexOf("\r\n\r\n");
      if (headEnd >= 0) {
        const head = buffered.subarray(0, headEnd).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length >= headEnd + 4 + length) {
          buffered = buffered.subarray(headEnd + 4 + length);
          return head.split("\r\n")[0];
        }
      }
      if (ended) return undefined;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const out: string[] = [];
  for (const request of requests) {
    if (ended) break;
    socket.write(request);
    out.push((await answer()) ?? `no answer (${ended})`);
  }
  socket.destroy();
  return out;
}

const post = (path: string, body: Buffer, headers: Record<string, string> = {}) =>
  Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("")}\r\n`,
    ),
    body,
  ]);
const healthz = Buffer.from("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");

describe("the edge: keep-alive after an answer that did not read the body", () => {
  // A route that answers before reading a body (unknown path, bad key, bad query) must leave the
  // connection usable: the rest of the body is read and dropped, not left to reset the connection
  // under the client's next request (hostile-input runs saw that on every POST route).
  it.each([
    ["an unknown path", "/no-such-route", undefined],
    ["a REST route refusing the key", "/v1/webhooks", "Bearer atk_nope"],
    ["a REST route refusing the query", "/v1/webhooks?page_size=-1", undefined],
  ])("%s, with a 400 KB body, then the next request on the connection", async (_name, path, authorization) => {
    const body = Buffer.alloc(400_000, "x");
    const statuses = await onOneConnection([post(path, body, { Authorization: authorization ?? `Bearer ${key}` }), healthz, healthz]);
    expect(statuses[0]).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(statuses.slice(1)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
  });

  it("an oversized body is refused with 413 and Connection: close", async () => {
    const statuses = await onOneConnection([post("/v1/webhooks", Buffer.alloc(1_100_000, "x"), { Authorization: `Bearer ${key}` }), healthz]);
    expect(statuses[0]).toBe("HTTP/1.1 413 Payload Too Large");
    expect(statuses[1]).toMatch(/^no answer/);
  });
});
