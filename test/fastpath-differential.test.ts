import http from "node:http";
import http2 from "node:http2";
import { readdirSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { accessOf } from "../src/rpc/interceptors.js";
import { AppendEventRequestSchema } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { ADMIN_TOKEN, clientFor, newTenant, testEnv } from "./support/server.js";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { appendRequest } from "./support/proofstream.js";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { GetCurrentTenantResponseSchema, TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { ErrorInfoSchema } from "../gen/ts/google/rpc/error_details_pb.js";
import { fastUnary, withFastUnary } from "../src/rpc/fast-unary.js";
import { recordRoutes } from "../src/rpc/fast-unary-methods.js";

/**
 * The Connect unary fast path against connect-node, generated from the
 * contract: every method of every service in gen/ts gets the same requests
 * (valid and invalid, JSON and binary, HTTP/1.1 and h2c) on two servers that
 * share one database, one Redis and one master key, one with
 * ATTESTO_RPC_FAST_PATH on and one with it off; status, the headers a client
 * reads and the body bytes must be the same.
 */

const BODY_LIMIT = 16 * 1024;
const COMPARED_HEADERS = /^(content-type|content-length|content-encoding|connect-.*|trailer-.*|cache-control|retry-after|access-control-.*|vary|connection|accept-encoding)$/;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Call {
  path: string;
  method?: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent in chunks without Content-Length (HTTP/1.1 chunked). */
  chunked?: boolean;
  h2?: boolean;
}

function keep(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (COMPARED_HEADERS.test(k) && v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : String(v);
  return out;
}

function send1(base: string, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(call.path, base);
    const headers: Record<string, string | number> = { ...call.headers };
    if (!call.chunked && call.body) headers["content-length"] = call.body.length;
    const req = http.request(url, { method: call.method ?? "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: keep(res.headers), body: Buffer.concat(chunks).toString("base64") }));
      res.on("error", reject);
    });
    req.on("error", (err) => resolve({ status: 0, headers: {}, body: `error ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
    if (call.chunked && call.body) {
      for (let i = 0; i < call.body.length; i += 4096) req.write(call.body.subarray(i, i + 4096));
      req.end();
    } else {
      req.end(call.body);
    }
  });
}

function send2(base: string, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    session.on("error", reject);
    const headers: http2.OutgoingHttpHeaders = { ":method": call.method ?? "POST", ":path": call.path, ...call.headers };
    if (call.body) headers["content-length"] = call.body.length;
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let status = 0;
    let got: http.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      got = h as http.IncomingHttpHeaders;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      resolve({ status, headers: keep(got), body: Buffer.concat(chunks).toString("base64") });
    });
    stream.on("error", reject);
    stream.end(call.body);
  });
}

const send = (base: string, call: Call) => (call.h2 ? send2(base, call) : send1(base, call));

/** Every service the contract defines (gen/ts), read from the generated files. */
async function contractServices(): Promise<DescService[]> {
  const root = path.resolve(import.meta.dirname, "../gen/ts/attesto");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.endsWith("_pb.ts")) files.push(path.join(dir, e.name));
    }
  };
  walk(root);
  const services: DescService[] = [];
  for (const file of files) {
    for (const value of Object.values(await import(file))) {
      if (typeof value === "object" && value !== null && (value as { kind?: string }).kind === "service") services.push(value as DescService);
    }
  }
  return services;
}

let fast: Attesto;
let slow: Attesto;
let services: DescService[];
let tenantKey: string;
let streamId: string;

beforeAll(async () => {
  const env = await testEnv();
  const loaded = loadConfig(env, { port: 0, bodyLimitBytes: BODY_LIMIT });
  // Both servers charge one tenant's budgets in Redis, and the contract's verification methods (the App Store
  // Server API's among them) are called many times each: a budget that ran out on one side would differ by timing.
  const base = { ...loaded, rateLimits: { ...loaded.rateLimits, classes: { ...loaded.rateLimits.classes, verification: { points: 1_000_000, durationSeconds: 1 } } } };
  fast = await startAttesto({ ...base, rpcFastPath: true }, createLogger("silent"));
  slow = await startAttesto({ ...base, rpcFastPath: false }, createLogger("silent"));
  services = await contractServices();
  const tenant = await newTenant(fast.url);
  tenantKey = tenant.key;
  const streams = clientFor(ProofstreamService, fast.url, tenantKey);
  const { stream } = await streams.createStream({ name: "differential" });
  streamId = stream!.id;
  // Appended once here: in the test the same append is a replay on both servers (the same answer).
  await streams.appendEvent(appendRequest(streamId, "ref-1"));
  await streams.appendEvent(appendRequest(streamId, "ref-2"));
  // The checkpoint of size 2 that GetInclusionProof names, signed now rather than by the periodic job (late on a loaded machine).
  await streams.createCheckpoint({ streamId });
}, 60_000);

afterAll(async () => {
  await fast?.stop();
  await slow?.stop();
});

const auth = (service: DescService): Record<string, string> => {
  const access = accessOf(service.typeName);
  if (access === "operator") return { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (access === "tenant") return { authorization: `Bearer ${tenantKey}` };
  return {};
};

const pathOf = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
const json = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value));

/** The requests every method gets, named. */
function casesFor(method: DescMethod): Array<[string, Call]> {
  const p = pathOf(method);
  const a = auth(method.parent);
  const cj = { "content-type": "application/json" };
  const cp = { "content-type": "application/proto" };
  const cases: Array<[string, Call]> = [
    ["empty JSON", { path: p, headers: { ...cj, ...a }, body: json({}) }],
    ["empty JSON, charset", { path: p, headers: { "content-type": "application/json; charset=utf-8", ...a }, body: json({}) }],
    ["empty JSON, charset without space", { path: p, headers: { "content-type": "application/json;charset=UTF8", ...a }, body: json({}) }],
    ["empty binary", { path: p, headers: { ...cp, ...a }, body: Buffer.alloc(0) }],
    ["empty JSON over h2c", { path: p, headers: { ...cj, ...a }, body: json({}), h2: true }],
    ["empty binary over h2c", { path: p, headers: { ...cp, ...a }, body: Buffer.alloc(0), h2: true }],
    ["no credentials", { path: p, headers: { ...cj }, body: json({}) }],
    ["bad credentials", { path: p, headers: { ...cj, authorization: "Bearer atk_not-a-key" }, body: json({}) }],
    ["bad credentials, binary", { path: p, headers: { ...cp, authorization: "Bearer atk_not-a-key" }, body: Buffer.alloc(0) }],
    ["malformed JSON", { path: p, headers: { ...cj, ...a }, body: json("{") }],
    ["JSON of the wrong type", { path: p, headers: { ...cj, ...a }, body: json("[1,2]") }],
    ["truncated protobuf", { path: p, headers: { ...cp, ...a }, body: Buffer.from([0x0a, 0x05, 0x61]) }],
    ["unknown JSON field", { path: p, headers: { ...cj, ...a }, body: json({ noSuchField: 1 }) }],
    ["unknown binary field (kept)", { path: p, headers: { ...cp, ...a }, body: Buffer.from([0xf8, 0x3f, 0x01]) }],
    ["text/plain", { path: p, headers: { "content-type": "text/plain", ...a }, body: json({}) }],
    ["no content type", { path: p, headers: { ...a }, body: json({}) }],
    ["streaming content type", { path: p, headers: { "content-type": "application/connect+json", ...a }, body: json({}) }],
    ["valid connect-timeout-ms", { path: p, headers: { ...cj, ...a, "connect-timeout-ms": "5000" }, body: json({}) }],
    ["invalid connect-timeout-ms", { path: p, headers: { ...cj, ...a, "connect-timeout-ms": "soon" }, body: json({}) }],
    ["too long connect-timeout-ms", { path: p, headers: { ...cj, ...a, "connect-timeout-ms": "12345678901" }, body: json({}) }],
    ["Connect-Protocol-Version 1", { path: p, headers: { ...cj, ...a, "connect-protocol-version": "1" }, body: json({}) }],
    ["Connect-Protocol-Version 2", { path: p, headers: { ...cj, ...a, "connect-protocol-version": "2" }, body: json({}) }],
    ["gzip body", { path: p, headers: { ...cj, ...a, "content-encoding": "gzip" }, body: gzipSync(json({})) }],
    ["identity body", { path: p, headers: { ...cj, ...a, "content-encoding": "identity" }, body: json({}) }],
    ["unknown body encoding", { path: p, headers: { ...cj, ...a, "content-encoding": "zz" }, body: json({}) }],
    ["accepts gzip", { path: p, headers: { ...cj, ...a, "accept-encoding": "gzip, br" }, body: json({}) }],
    ["oversized body with length", { path: p, headers: { ...cj, ...a }, body: json({ x: "a".repeat(BODY_LIMIT) }) }],
    ["oversized body chunked", { path: p, headers: { ...cj, ...a }, body: json({ x: "a".repeat(BODY_LIMIT) }), chunked: true }],
    ["small body chunked", { path: p, headers: { ...cj, ...a }, body: json({}), chunked: true }],
    ["query string", { path: `${p}?x=1`, headers: { ...cj, ...a }, body: json({}) }],
    ["GET", { path: `${p}?encoding=json&message=%7B%7D`, method: "GET", headers: { ...a } }],
    ["PUT", { path: p, method: "PUT", headers: { ...cj, ...a }, body: json({}) }],
    ["browser origin", { path: p, headers: { ...cj, ...a, origin: "https://app.example" }, body: json({}) }],
  ];
  return cases;
}

/** Valid calls with deterministic answers: reads of one resource and replays. */
function validCalls(): Array<[string, Call]> {
  const t = { "content-type": "application/json", authorization: `Bearer ${tenantKey}` };
  const tp = { "content-type": "application/proto", authorization: `Bearer ${tenantKey}` };
  const ps = "/attesto.v1.ProofstreamService";
  const replay = appendRequest(streamId, "ref-1");
  return [
    ["GetCurrentTenant", { path: "/attesto.v1.TenantService/GetCurrentTenant", headers: t, body: json({}) }],
    ["GetEvent binary", { path: `${ps}/GetEvent`, headers: tp, body: Buffer.from([0x0a, streamId.length, ...Buffer.from(streamId), 0x10, 0x02]) }],
    ["GetStream", { path: `${ps}/GetStream`, headers: t, body: json({ streamId }) }],
    ["GetEvent", { path: `${ps}/GetEvent`, headers: t, body: json({ streamId, seqNo: "1" }) }],
    ["ListEvents", { path: `${ps}/ListEvents`, headers: t, body: json({ streamId }) }],
    ["ListEvents h2c", { path: `${ps}/ListEvents`, headers: t, body: json({ streamId }), h2: true }],
    ["GetInclusionProof", { path: `${ps}/GetInclusionProof`, headers: t, body: json({ streamId, seqNo: "1", treeSize: "2" }) }],
    ["AppendEvent replay, binary", { path: `${ps}/AppendEvent`, headers: tp, body: Buffer.from(toBinary(AppendEventRequestSchema, create(AppendEventRequestSchema, replay))) }],
    [
      "AppendEvent replay conflict",
      { path: `${ps}/AppendEvent`, headers: t, body: json({ streamId, sourceRef: "ref-1", eventType: "source.observation", occurredAt: "2026-06-07T12:00:00Z", payload: { other: true } }) },
    ],
    ["AppendEvent invalid source_ref (ErrorInfo with field)", { path: `${ps}/AppendEvent`, headers: t, body: json({ streamId, sourceRef: "has space", eventType: "x", payload: {} }) }],
    ["GetStream not found", { path: `${ps}/GetStream`, headers: t, body: json({ streamId: "str_00000000000000000000000000" }) }],
  ];
}

/** The one value that differs per call in these answers: when the key was last used (JSON text, replaced in place). */
/**
 * An API key's last_used_at is what each instance last recorded (written at most once a minute, and kept with the
 * cached key): the two servers of the test record their own, so it is left out of the comparison, in JSON and binary.
 */
function normalized(answer: Answer, callPath = ""): Answer {
  if (answer.status === 200 && callPath.endsWith("/attesto.v1.TenantService/GetCurrentTenant") && answer.headers["content-type"] === "application/proto") {
    const message = fromBinary(GetCurrentTenantResponseSchema, Buffer.from(answer.body, "base64"));
    if (message.apiKey) message.apiKey.lastUsedAt = undefined;
    const body = Buffer.from(toBinary(GetCurrentTenantResponseSchema, message));
    const headers = "content-length" in answer.headers ? { ...answer.headers, "content-length": String(body.length) } : answer.headers;
    return { ...answer, body: body.toString("base64"), headers };
  }
  if (!answer.headers["content-type"]?.startsWith("application/json")) return answer;
  const text = Buffer.from(answer.body, "base64").toString("utf8");
  return { ...answer, body: Buffer.from(text.replace(/"lastUsedAt":"[^"]*"/g, '"lastUsedAt":"…"')).toString("base64") };
}

async function compare(name: string, call: Call): Promise<{ fast: Answer; slow: Answer }> {
  const a = normalized(await send(fast.url, call), call.path);
  const b = normalized(await send(slow.url, call), call.path);
  expect({ case: name, ...a }).toEqual({ case: name, ...b });
  return { fast: a, slow: b };
}

async function fastServed(app: Attesto): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const m = /^attesto_rpc_fast_path_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe("Connect unary fast path vs connect-node, from the contract", () => {
  it("finds the contract's services, every one served", async () => {
    expect(services.length).toBeGreaterThanOrEqual(9);
    for (const service of services) {
      const answer = await send1(fast.url, { path: pathOf(service.methods[0]!), headers: { "content-type": "application/json" }, body: json({}) });
      expect(answer.status, service.typeName).not.toBe(404);
    }
  });

  it("answers every method's valid and invalid requests identically", async () => {
    const before = await fastServed(fast);
    let calls = 0;
    for (const service of services) {
      for (const method of service.methods) {
        for (const [name, call] of casesFor(method)) {
          await compare(`${pathOf(method)}: ${name}`, call);
          calls++;
        }
      }
    }
    expect(calls).toBeGreaterThan(services.length * 30);
    // The fast server really took the calls it can (the slow one has no fast path).
    expect((await fastServed(fast)) - before).toBeGreaterThan(calls / 3);
    expect(await fastServed(slow)).toBe(0);
  }, 240_000);

  it("answers deterministic valid calls (reads, replays) and errors with details identically", async () => {
    for (const [name, call] of validCalls()) {
      const { fast: a } = await compare(name, call);
      if (name.startsWith("Get") && !name.includes("not found")) expect(a.status, name).toBe(200);
    }
    const { fast: info } = await compare("validation error", validCalls().find(([n]) => n.startsWith("AppendEvent invalid"))![1]);
    const error = JSON.parse(Buffer.from(info.body, "base64").toString()) as { code: string; details: Array<{ type: string; value: string }> };
    expect(error.code).toBe("invalid_argument");
    expect(error.details[0]!.type).toBe("google.rpc.ErrorInfo");
    const replay = await compare("replay", validCalls().find(([n]) => n === "AppendEvent replay, binary")![1]);
    expect(replay.fast.status).toBe(200);
    expect(replay.fast.headers["content-type"]).toBe("application/proto");
  });

  it("answers CORS preflights identically", async () => {
    const call: Call = {
      path: "/attesto.v1.TenantService/GetCurrentTenant",
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization,connect-protocol-version" },
    };
    const { fast: a } = await compare("preflight", call);
    expect(a.status).toBe(204);
    expect(a.headers["access-control-allow-origin"]).toBe("https://app.example");
  });
});

/**
 * What the application's services never do but connect-node supports, on a
 * bare adapter pair with one service: response headers and trailers (sent as
 * `trailer-` headers), errors with metadata (Retry-After) and details,
 * internal errors, compressed answers, and a server that requires
 * Connect-Protocol-Version.
 */
describe("fast path vs connect-node, adapter features the services do not use", () => {
  const servers: http.Server[] = [];
  const bases: Record<"fast" | "slow" | "fastStrict" | "slowStrict", string> = { fast: "", slow: "", fastStrict: "", slowStrict: "" };

  beforeAll(async () => {
    const impl = {
      getCurrentTenant(_req: unknown, ctx: HandlerContext) {
        ctx.responseHeader.set("x-answer", "1");
        ctx.responseTrailer.set("x-after", "2");
        const mode = ctx.requestHeader.get("x-mode");
        if (mode === "limited") {
          throw new ConnectError("slow down", Code.ResourceExhausted, { "Retry-After": "7", "Content-Type": "text/evil" }, [
            { desc: ErrorInfoSchema, value: { reason: "RATE_LIMITED", domain: "attesto.eu", metadata: { field: "x" } } },
          ]);
        }
        if (mode === "crash") throw new Error("secret detail");
        return { tenant: { id: "ten_1", name: mode === "large" ? "n".repeat(4000) : "small", active: true } };
      },
    };
    const addHeader: Interceptor = (next) => async (req) => {
      const res = await next(req);
      res.header.set("x-intercepted", req.header.get("x-mode") ?? "none");
      return res;
    };
    for (const [name, strict] of [
      ["", false],
      ["Strict", true],
    ] as const) {
      const routes = recordRoutes((router) => router.service(TenantService, impl));
      const options: ConnectNodeAdapterOptions = { routes: routes.replay, interceptors: [addHeader], requireConnectProtocolHeader: strict, readMaxBytes: 1024 };
      const slowHandler = connectNodeAdapter(options);
      const fastHandler = withFastUnary(fastUnary(options, routes.registrations), slowHandler as never);
      for (const [key, handler] of [
        [`fast${name}`, fastHandler],
        [`slow${name}`, slowHandler],
      ] as const) {
        const server = http.createServer(handler as http.RequestListener);
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        servers.push(server);
        bases[key as keyof typeof bases] = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      }
    }
  });

  afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

  const p = "/attesto.v1.TenantService/GetCurrentTenant";
  const cases: Array<[string, Call]> = [
    ["headers and trailers", { path: p, headers: { "content-type": "application/json" }, body: json({}) }],
    ["binary", { path: p, headers: { "content-type": "application/proto" }, body: Buffer.alloc(0) }],
    ["error with metadata and details", { path: p, headers: { "content-type": "application/json", "x-mode": "limited" }, body: json({}) }],
    ["internal error", { path: p, headers: { "content-type": "application/proto", "x-mode": "crash" }, body: Buffer.alloc(0) }],
    ["large answer, gzip accepted", { path: p, headers: { "content-type": "application/json", "x-mode": "large", "accept-encoding": "gzip" }, body: json({}) }],
    ["large answer, br accepted", { path: p, headers: { "content-type": "application/json", "x-mode": "large", "accept-encoding": "br" }, body: json({}) }],
    ["large answer, no encoding accepted", { path: p, headers: { "content-type": "application/json", "x-mode": "large" }, body: json({}) }],
    ["over readMaxBytes, chunked", { path: p, headers: { "content-type": "application/json" }, body: json({ x: "a".repeat(2000) }), chunked: true }],
    ["over readMaxBytes, with length", { path: p, headers: { "content-type": "application/json" }, body: json({ x: "a".repeat(2000) }) }],
    ["length promised but short", { path: p, headers: { "content-type": "application/json", "content-length": "0" }, body: undefined }],
    ["Connect-Protocol-Version 1", { path: p, headers: { "content-type": "application/json", "connect-protocol-version": "1" }, body: json({}) }],
    ["Connect-Protocol-Version 2", { path: p, headers: { "content-type": "application/json", "connect-protocol-version": "2" }, body: json({}) }],
  ];

  it("answers identically, with and without a required Connect-Protocol-Version", async () => {
    for (const [pair, f, s] of [
      ["lenient", bases.fast, bases.slow],
      ["strict", bases.fastStrict, bases.slowStrict],
    ] as const) {
      for (const [name, call] of cases) {
        const a = await send(f, call);
        const b = await send(s, call);
        expect({ case: `${pair}: ${name}`, ...a }).toEqual({ case: `${pair}: ${name}`, ...b });
        if (pair === "lenient" && name === "headers and trailers") expect(a.headers["trailer-x-after"]).toBe("2");
        if (pair === "lenient" && name === "error with metadata and details") expect(a.headers["retry-after"]).toBe("7");
        if (pair === "lenient" && name.startsWith("large answer, gzip")) expect(a.headers["content-encoding"]).toBe("gzip");
      }
    }
  });
});
