import http from "node:http";
import type net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { fastUnary, withFastUnary } from "./fast-unary.js";
import { recordRoutes } from "./fast-unary-methods.js";

/**
 * Issue 24 item 4: an answer leaves in one write. Each accepted socket counts
 * the writes handed to it (Writable's `_write` for one chunk, `_writev` for
 * a corked batch: one system call each on a loopback socket).
 */
let server: http.Server;
let url: string;
const writes: number[] = [];

beforeAll(async () => {
  const routes = recordRoutes((router) =>
    router.service(TenantService, {
      getCurrentTenant() {
        return { tenant: { id: "ten_1", name: "one write", active: true }, apiKey: { id: "key_1", tenantId: "ten_1", name: "k", prefix: "atk_abcdefgh" } };
      },
      createApiKey() {
        throw new ConnectError("refused for the test", Code.PermissionDenied);
      },
    }),
  );
  const fast = fastUnary({ routes: routes.replay }, routes.registrations);
  server = http.createServer(
    withFastUnary(fast, (_req, res) => {
      res.statusCode = 404;
      res.end();
    }),
  );
  server.on("connection", (socket: net.Socket & { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void }) => {
    const slot = writes.push(0) - 1;
    const write = socket._write.bind(socket);
    socket._write = (...a: unknown[]) => {
      writes[slot]!++;
      write(...a);
    };
    const writev = socket._writev?.bind(socket);
    if (writev)
      socket._writev = (...a: unknown[]) => {
        writes[slot]!++;
        writev(...a);
      };
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** `n` calls in turn on one keep-alive connection; the writes the server made for them. */
async function writesFor(method: string, n: number, body = "{}"): Promise<{ writes: number; statuses: number[]; bodies: string[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const statuses: number[] = [];
  const bodies: string[] = [];
  const before = writes.length;
  for (let i = 0; i < n; i++) {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${url}/attesto.v1.TenantService/${method}`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });
    statuses.push(answer.status);
    bodies.push(answer.body);
  }
  agent.destroy();
  expect(writes.length - before, "one connection").toBe(1);
  return { writes: writes[before]!, statuses, bodies };
}

describe("the fast path's answers", () => {
  it("go out in one write each, head and body together", async () => {
    const ok = await writesFor("GetCurrentTenant", 5);
    expect(ok.statuses).toEqual([200, 200, 200, 200, 200]);
    expect(JSON.parse(ok.bodies[0]!)).toMatchObject({ tenant: { id: "ten_1" } });
    expect(ok.writes).toBe(5);
  });

  it("errors too", async () => {
    const refused = await writesFor("CreateApiKey", 3, JSON.stringify({ name: "x" }));
    expect(refused.statuses).toEqual([403, 403, 403]);
    expect(JSON.parse(refused.bodies[0]!)).toMatchObject({ code: "permission_denied" });
    expect(refused.writes).toBe(3);
    const malformed = await writesFor("GetCurrentTenant", 2, "{not json");
    expect(malformed.statuses).toEqual([400, 400]);
    expect(malformed.writes).toBe(2);
  });
});
