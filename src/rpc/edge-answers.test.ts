import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { Health } from "./grpc-health.js";
import { rpcMethodIndex, unknownRpcRoute, withMediaTypeCheck } from "./edge-answers.js";

/** The two answers in front of a listener that says "passed" for whatever they let through. */
let server: http.Server;
let url: string;
beforeAll(async () => {
  const index = rpcMethodIndex([ProofstreamService, AdminService, Health]);
  const unknown = unknownRpcRoute(index);
  // As in server/edges.ts: served paths go to connect-node, the rest to its fallback.
  const listener = withMediaTypeCheck(index, (req, res) => {
    if (!index.methods.has(req.url!.split("?")[0]!) && unknown(req, res)) return;
    res.end("passed");
  });
  server = http.createServer((req, res) => listener(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** A request without the Content-Type fetch would add to a string body. */
function send(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(method === "GET" ? undefined : "{}");
  });
}

const reasonOf = (body: string) => (JSON.parse(body) as { details: Array<{ debug: { reason: string } }> }).details[0]!.debug.reason;

describe("withMediaTypeCheck", () => {
  it("lets every protocol's content type through to the method's kind", async () => {
    for (const type of ["application/json", "application/proto", "application/json; charset=utf-8", "application/grpc", "application/grpc+proto", "application/grpc-web+proto"]) {
      expect((await send("POST", "/attesto.v1.ProofstreamService/CreateStream", { "content-type": type })).body, type).toBe("passed");
    }
    // A server-streaming method takes Connect's streaming types.
    expect((await send("POST", "/grpc.health.v1.Health/Watch", { "content-type": "application/connect+json" })).body).toBe("passed");
    expect((await send("POST", "/grpc.health.v1.Health/Watch", { "content-type": "application/json" })).status).toBe(415);
    expect((await send("GET", "/attesto.v1.ProofstreamService/GetStream?encoding=json&message=%7B%7D")).body).toBe("passed");
  });

  it("answers 415 naming the types when there is no Content-Type or another one", async () => {
    for (const headers of [{}, { "content-type": "text/plain" }, { "content-type": "application/connect+json" }] as Array<Record<string, string>>) {
      const res = await send("POST", "/attesto.v1.ProofstreamService/CreateStream", headers);
      expect(res.status).toBe(415);
      expect(res.headers["accept-post"]).toBe("application/json, application/proto, application/grpc, application/grpc-web");
      expect(JSON.parse(res.body).message).toMatch(/this method takes application\/json or application\/proto \(Connect\)/);
      expect(reasonOf(res.body)).toBe("BODY_INVALID");
    }
  });

  it("answers a GET without encoding 415, and a GET to a method that changes state 405", async () => {
    const noEncoding = await send("GET", "/attesto.v1.ProofstreamService/GetStream?message=%7B%7D");
    expect([noEncoding.status, reasonOf(noEncoding.body)]).toEqual([415, "BODY_INVALID"]);
    const write = await send("GET", "/attesto.v1.ProofstreamService/CreateStream?encoding=json&message=%7B%7D");
    expect([write.status, write.headers.allow]).toEqual([405, "POST"]);
  });
});

describe("unknownRpcRoute", () => {
  it("names the service's real package, or says the method or the service does not exist", async () => {
    const wrong = await send("POST", "/attesto.v1.AdminService/ListTenants", { "content-type": "application/json" });
    expect(wrong.status).toBe(404);
    expect(JSON.parse(wrong.body)).toMatchObject({ code: "unimplemented", message: expect.stringContaining("the service is attesto.admin.v1.AdminService") });
    expect(reasonOf(wrong.body)).toBe("ROUTE_NOT_FOUND");
    const noMethod = await send("POST", "/attesto.v1.AdminService/Nope", { "content-type": "application/json" });
    expect(JSON.parse(noMethod.body).message).toBe("there is no service attesto.v1.AdminService: AdminService is attesto.admin.v1.AdminService, without a method Nope");
    expect(JSON.parse((await send("POST", "/attesto.v1.ProofstreamService/Nope")).body).message).toBe("attesto.v1.ProofstreamService has no method Nope");
    expect((await send("POST", "/attesto.v1.NopeService/Nope")).status).toBe(404);
  });

  it("leaves every other path to the plain HTTP routes", async () => {
    for (const path of ["/v1/webhooks", "/openapi.json", "/proofstreams/ps_1/checkpoint", "/.well-known/x"]) expect((await send("GET", path)).body, path).toBe("passed");
  });
});
