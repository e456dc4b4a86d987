import { randomBytes } from "node:crypto";
import { create, fromJson, toBinary, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import fc from "fast-check";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN } from "../support/server.js";
import { ed25519FromSeed, ed25519RawPublic } from "../../src/crypto/note-signing.js";
import { witnessPrivateKeyString } from "../../src/witness/protocol.js";
import { APP_STORE_METHODS } from "../../src/contract/appstore-messages.js";
import { GOOGLE_PLAY_METHODS } from "../../src/contract/googleplay-messages.js";
import { contractServices, kindOf, rpcPath } from "./contract.js";
import { keepOutput, LONG, remember, report, ServerProcess, serverEnv, sharedServices, tenantOn } from "./support.js";

/**
 * Hostile input over every RPC of the contract (Connect JSON and binary) and
 * every HTTP route: wrong types, huge and deep bodies, NUL, lone
 * surrogates, non-finite numbers, truncated and corrupted protobuf, wrong
 * content types, header smuggling, signature and timestamp edge cases.
 * 0 answers >= 500, no half-written event (every stream's tree size equals
 * its events, gapless), server RSS bounded.
 */
/**
 * Cases per route: 2,000 in a CI run (the issue's floor), 20,000 in the long form;
 * ATTESTO_HOSTILE_CASES overrides both.
 */
const CASES = Number(process.env.ATTESTO_HOSTILE_CASES ?? (LONG ? 20_000 : 2_000));
const CONCURRENCY = 24;
let server: ServerProcess;
let tenant: { tenantId: string; key: string };
let streamId: string;
const rssSamples: number[] = [];
let sampler: NodeJS.Timeout;

beforeAll(async () => {
  // With a witness key, so POST /witness/add-checkpoint runs its checks instead of answering "not a witness".
  const seed = randomBytes(32);
  const witnessKey = witnessPrivateKeyString("hostile.attesto.test/witness", seed, ed25519RawPublic(ed25519FromSeed(seed)));
  server = new ServerProcess("hostile", serverEnv({ ...sharedServices("hostile"), ATTESTO_DB_POOL: "6", ATTESTO_WITNESS_KEY: witnessKey }));
  remember("witness key", witnessKey);
  await server.start();
  tenant = await tenantOn(server.url);
  const res = await fetch(`${server.url}/attesto.v1.ProofstreamService/CreateStream`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
    body: '{"name":"hostile"}',
  });
  streamId = ((await res.json()) as { stream: { id: string } }).stream.id;
  sampler = setInterval(() => server.alive && rssSamples.push(server.rss()), 500);
});
afterAll(async () => {
  clearInterval(sampler);
  await server?.stop();
});

const HOSTILE_STRINGS = [
  "",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00y",
  "😀",
  "../../etc/passwd",
  "' OR 1=1 --",
  "\r\nX-Injected: 1",
  "%00%0d%0a",
  "str_01ARZ3NDEKTSV4RRFFQ69G5FAV",
  "sub_01ARZ3NDEKTSV4RRFFQ69G5FAV",
  "ten_01ARZ3NDEKTSV4RRFFQ69G5FAV",
  "https://127.0.0.1:1/",
  "http://[::1]/x",
  "file:///etc/passwd",
  "1970-01-01T00:00:00Z",
  "9999-12-31T23:59:59Z",
  "0000-01-01T00:00:00Z",
  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
];
const hostileString = fc.oneof(
  { weight: 20, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 20, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 20, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.constant("x".repeat(70_000)) },
);
/** Raw JSON number texts, non-finite and out of range included (spliced in after JSON.stringify). */
const NUMBER_TEXTS = ["0", "-1", "1", "2147483647", "2147483648", "-2147483649", "9007199254740993", "18446744073709551616", "1e400", "-1e999", "1.5", "1e-400", "-0"];
const numberText = fc.oneof(fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.constantFrom(...NUMBER_TEXTS));
const RAW = "\u0001raw:";
const raw = (text: string) => `${RAW}${text}${RAW}`;
const render = (value: unknown) => JSON.stringify(value).replace(new RegExp(`"${RAW}(.*?)${RAW}"`, "g"), "$1");

/** JSON text nested `levels` deep, built as text (JSON.stringify would overflow the stack first). */
const deepText = (levels: number) => '{"a":['.repeat(levels) + "1" + "]}".repeat(levels);

function deep(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** A right-typed (but hostile) JSON value for a field, for binary encoding through fromJson. */
function typedValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const one = (): fc.Arbitrary<unknown> => {
    switch (kindOf(field)) {
      case "string":
        // The tenant's real stream half the time, so writes get past the lookup and partial writes can show.
        return field.name === "stream_id" ? fc.oneof(fc.constant(streamId), hostileString) : hostileString;
      case "bytes":
        return fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("base64"));
      case "bool":
        return fc.boolean();
      case "int32":
        return fc.integer({ min: -5, max: 600 });
      case "int64":
        return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String), fc.constantFrom("0", "1", "9007199254740993"));
      case "float":
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case "enum":
        return fc.integer({ min: 0, max: 12 });
      case "timestamp":
        return fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString());
      case "duration":
        return fc.integer({ min: 0, max: 10_000_000 }).map((s) => `${s}s`);
      case "json":
        return fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
      case "message":
        return depth > 2 ? fc.constant({}) : typedMessage(field.message!, depth + 1);
    }
  };
  if (field.fieldKind === "list") return fc.array(one(), { maxLength: 4 });
  if (field.fieldKind === "map") return fc.dictionary(hostileString, one(), { maxKeys: 3 });
  return one();
}

function typedMessage(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const entries = desc.fields.map((f) => [f.jsonName, fc.option(typedValue(f, depth), { nil: undefined, freq: 3 })] as const);
  return fc.record(Object.fromEntries(entries)) as fc.Arbitrary<Record<string, unknown>>;
}

/** Any JSON at all for a field: right type, wrong type, raw numbers, deep nesting, nulls. */
function wildValue(field: DescField, depth: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: typedValue(field, depth) },
    { weight: 1, arbitrary: numberText.map(raw) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, [], {}, true, "", deep(3000), { "\u0000": 1 }) },
  );
}

interface Case {
  body: Uint8Array | string;
  contentType: string;
  headers?: Record<string, string>;
}

function jsonCases(desc: DescMessage): fc.Arbitrary<Case> {
  const fields = fc.record(Object.fromEntries(desc.fields.map((f) => [f.jsonName, fc.option(wildValue(f, 0), { nil: undefined, freq: 2 })])));
  const body = fc.oneof(
    { weight: 8, arbitrary: fields.map((v) => render(v)) },
    { weight: 1, arbitrary: fields.map((v) => render({ ...v, nmae: "typo" })) },
    { weight: 1, arbitrary: fc.constantFrom("", "{", "[]", "null", '"x"', "{}".repeat(3), '{"a":'.repeat(5000), "\u0000", `{"payload":${deepText(100_000)}}`) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  );
  return fc
    .tuple(
      body,
      fc.constantFrom(
        "application/json",
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json;charset=latin1",
      ),
    )
    .map(([b, contentType]) => ({ body: b, contentType }));
}

function binaryCases(desc: DescMessage): fc.Arbitrary<Case> {
  const valid = typedMessage(desc).map((json) => {
    try {
      return toBinary(desc, fromJson(desc, json as never, { ignoreUnknownFields: true }));
    } catch {
      return toBinary(desc, create(desc));
    }
  });
  const mutated = fc.tuple(valid, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.constantFrom("truncate", "flip", "append", "as-is", "random")).map(([bytes, n, noise, how]) => {
    const b = Buffer.from(bytes);
    switch (how) {
      case "truncate":
        return b.subarray(0, b.length ? n % b.length : 0);
      case "flip":
        if (b.length) b[n % b.length] = b[n % b.length]! ^ noise[0]!;
        return b;
      case "append":
        return Buffer.concat([b, noise]);
      case "random":
        return Buffer.from(noise);
      default:
        return b;
    }
  });
  return fc
    .tuple(mutated, fc.constantFrom("application/proto", "application/proto", "application/proto", "application/grpc", "application/connect+proto"))
    .map(([body, contentType]) => ({ body, contentType }));
}

const headerCases = fc.record({
  authorization: fc.constantFrom("", "Bearer", "Bearer atk_", `Bearer atk_${"A".repeat(43)}`, "Basic Zm9vOmJhcg==", "Bearer " + "x".repeat(5000)),
  "x-request-id": fc.constantFrom("ok-1", "a b", "x".repeat(500), "\u00ff"),
  "connect-timeout-ms": fc.constantFrom("1", "abc", "-5", "99999999999999999999"),
  "connect-protocol-version": fc.constantFrom("1", "2", ""),
});

/** Sends cases with bounded concurrency; returns the status counts and the ones >= 500. */
async function fire(url: string, cases: Case[], auth: string) {
  const statuses = new Map<number, number>();
  const fivexx: string[] = [];
  const closed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let status: number;
      let text: string;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": c.contentType, authorization: auth, ...c.headers },
          body: c.body as BodyInit,
          signal: AbortSignal.timeout(30_000),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        status = 599;
        text = `${String(err)} ${String((err as { cause?: unknown }).cause)}`;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 400) keepOutput("answers-hostile", text.slice(0, 2000) + "\n");
      if (status === 599) closed.push(`${status} ${text.slice(0, 200)}`);
      else if (status >= 500 && status !== 501)
        fivexx.push(`${status} ${typeof c.body === "string" ? c.body.slice(0, 120) : Buffer.from(c.body).toString("hex").slice(0, 120)} → ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { statuses, fivexx, closed };
}

const HTTP_ROUTES: Array<{ method: string; path: () => string; auth: "tenant" | "none" | "admin" }> = [
  { method: "POST", path: () => "/v1/webhooks", auth: "tenant" },
  { method: "PATCH", path: () => "/v1/webhooks/sub_01ARZ3NDEKTSV4RRFFQ69G5FAV", auth: "tenant" },
  { method: "POST", path: () => "/v1/apple/verify", auth: "tenant" },
  { method: "POST", path: () => "/v1/apple/verify-signed", auth: "tenant" },
  // AppStoreService's REST forms, from the contract's table.
  ...Object.values(APP_STORE_METHODS).map((m) => ({ method: "POST", path: () => `/v1/apple/${m.route}`, auth: "tenant" as const })),
  { method: "POST", path: () => "/v1/google/verify", auth: "tenant" },
  // GooglePlayService's REST forms, likewise.
  ...Object.values(GOOGLE_PLAY_METHODS).map((m) => ({ method: "POST", path: () => `/v1/google/${m.route}`, auth: "tenant" as const })),
  { method: "POST", path: () => `/v1/webhooks/apple/${tenant.tenantId}`, auth: "none" },
  { method: "POST", path: () => `/v1/webhooks/google/${tenant.tenantId}`, auth: "none" },
  { method: "POST", path: () => "/v2/connectors/signed-webhooks/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events", auth: "none" },
  { method: "POST", path: () => "/v2/connectors/github/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events", auth: "none" },
  { method: "POST", path: () => "/v2/connectors/gitlab/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events", auth: "none" },
  { method: "POST", path: () => "/v2/tenant/connectors/s3-objects/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/commit", auth: "tenant" },
  { method: "POST", path: () => "/v2/verify", auth: "none" },
  { method: "POST", path: () => "/witness/add-checkpoint", auth: "none" },
  { method: "GET", path: () => `/proofstreams/${streamId}/checkpoint`, auth: "tenant" },
  { method: "GET", path: () => `/proofstreams/${streamId}/proof/1`, auth: "tenant" },
  { method: "GET", path: () => `/proofstreams/${streamId}/tile/0/000`, auth: "tenant" },
  { method: "GET", path: () => "/bundles/bun_01ARZ3NDEKTSV4RRFFQ69G5FAV/download", auth: "tenant" },
  { method: "GET", path: () => "/v1/webhooks", auth: "tenant" },
  { method: "GET", path: () => "/admin/queues", auth: "admin" },
];

/** Path and query mutations, signature headers and bodies for the plain HTTP routes. */
const httpCase = fc.record({
  suffix: fc.constantFrom(
    "",
    "/",
    "?page_size=-1",
    "?pageSize=99999999999",
    "?pageToken=%00",
    "/../../etc",
    "%2e%2e",
    "?x=" + "y".repeat(3000),
    "/%ff%fe",
    "?\u0000",
    "?witness_k=99999999999",
    "?tsa_roots=%00",
    "?witness_keys=a&witness_k=1",
    "?require_anchor=%ff",
  ),
  body: fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.constantFrom("", "{", '{"name":"a\\u0000"}', '{"n":1e400}', `{"payload":${deepText(50_000)}}`),
  ),
  contentType: fc.constantFrom("application/json", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x"),
  signature: fc.constantFrom("", "t=0,v1=00", `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`, "sha256=" + "0".repeat(64), "v1," + "A".repeat(44), "t=99999999999999999999,v1=zz"),
  timestamp: fc.constantFrom("", "0", "-1", "1e400", String(Math.floor(Date.now() / 1000) + 86_400), "NaN"),
});

describe("hostile input", () => {
  it("every RPC of the contract, JSON and binary: no answer >= 500", async () => {
    const services = await contractServices();
    const methods: DescMethod[] = services.flatMap((s) => s.methods);
    let total = 0;
    let unimplemented = 0;
    let closedCount = 0;
    const failures: string[] = [];
    const started = performance.now();
    for (const method of methods) {
      const half = Math.ceil(CASES / 2);
      const cases = [...fc.sample(jsonCases(method.input), half), ...fc.sample(binaryCases(method.input), CASES - half)];
      if (method.name === "AppendEvent") {
        // A fifth are well-formed appends to the real stream with hostile payloads and refs, so some
        // commit and the partial-write check below has events to check.
        const appends = fc
          .record({
            ref: fc.oneof(fc.stringMatching(/^[!-~]{1,40}$/), hostileString),
            payload: fc.dictionary(hostileString, fc.oneof(fc.jsonValue({ maxDepth: 3 }), numberText.map(raw)), { maxKeys: 4 }),
          })
          .map(({ ref, payload }) => ({ body: render({ streamId, sourceRef: ref, eventType: "hostile", occurredAt: "2026-06-07T12:00:00Z", payload }), contentType: "application/json" }));
        for (const [i, c] of fc.sample(appends, Math.ceil(cases.length / 5)).entries()) cases[i * 5] = c;
      }
      // A tenth carry hostile headers.
      for (const [i, h] of fc.sample(headerCases, Math.ceil(cases.length / 10)).entries()) cases[i * 10]!.headers = h as Record<string, string>;
      const auth = method.parent.typeName === "attesto.admin.v1.AdminService" ? `Bearer ${ADMIN_TOKEN}` : `Bearer ${tenant.key}`;
      const { fivexx, closed, statuses } = await fire(`${server.url}${rpcPath(method)}`, cases, auth);
      total += cases.length;
      unimplemented += statuses.get(501) ?? 0;
      closedCount += closed.length;
      failures.push(...fivexx.map((f) => `${method.name}: ${f}`));
      expect(server.alive, `server died during ${method.name}`).toBe(true);
    }
    const rate = total / ((performance.now() - started) / 1000);
    report({
      section: "hostile input",
      check: `${methods.length} RPCs × ${CASES} cases (half JSON, half binary; a tenth with hostile headers)`,
      measured: `${total} requests at ${rate.toFixed(0)}/s: ${failures.length} answers >= 500 (besides ${unimplemented} UNIMPLEMENTED of unimplemented services); ${closedCount} connections closed without an answer`,
      ok: failures.length === 0,
    });
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it("every HTTP route: no answer >= 500", async () => {
    let total = 0;
    let closedCount = 0;
    const closedSamples = new Set<string>();
    const failures: string[] = [];
    const started = performance.now();
    for (const route of HTTP_ROUTES) {
      const samples = fc.sample(httpCase, CASES);
      const statuses = new Map<number, number>();
      let next = 0;
      const worker = async () => {
        while (next < samples.length) {
          const s = samples[next++]!;
          const headers: Record<string, string> = {
            "content-type": s.contentType,
            "x-hub-signature-256": s.signature,
            "x-gitlab-token": s.signature,
            "x-attesto-connector-signature": s.signature,
            "webhook-signature": s.signature,
            "webhook-timestamp": s.timestamp,
            "webhook-id": "msg_1",
            "x-github-event": "push",
          };
          if (route.auth === "tenant") headers.authorization = `Bearer ${tenant.key}`;
          if (route.auth === "admin") headers.authorization = `Bearer ${ADMIN_TOKEN}`;
          let status: number;
          let text: string;
          try {
            const res = await fetch(`${server.url}${route.path()}${s.suffix}`, {
              method: route.method,
              headers,
              body: route.method === "GET" ? undefined : s.body,
              signal: AbortSignal.timeout(30_000),
            });
            status = res.status;
            text = await res.text();
          } catch (err) {
            status = 599;
            text = `${String(err)} ${String((err as { cause?: unknown }).cause)}`;
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 400) keepOutput("answers-hostile-http", text.slice(0, 2000) + "\n");
          if (status === 599) {
            closedCount++;
            if (closedSamples.size < 3)
              closedSamples.add(
                `${route.method} ${route.path().replace(/[A-Z0-9]{26}/g, "…")}${JSON.stringify(s.suffix)} [${JSON.stringify(s.contentType)}, ${s.body.length} chars, sig ${JSON.stringify(s.signature.slice(0, 20))}, ts ${JSON.stringify(s.timestamp)}]: ${text.slice(0, 90)}`,
              );
          } else if (status >= 500)
            failures.push(`${route.method} ${route.path()}${s.suffix} [${s.contentType}, ${s.body.length} chars, sig ${s.signature.slice(0, 12)}, ts ${s.timestamp}]: ${status} ${text.slice(0, 200)}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      total += samples.length;
      expect(server.alive).toBe(true);
    }
    const rate = total / ((performance.now() - started) / 1000);
    report({
      section: "hostile input",
      check: `${HTTP_ROUTES.length} HTTP routes × ${CASES} cases (paths, queries, bodies, signature and timestamp headers)`,
      measured: `${total} requests at ${rate.toFixed(0)}/s: ${failures.length} answers >= 500; ${closedCount} connections closed without an answer${closedSamples.size ? ` (e.g. ${[...closedSamples].join(" | ")})` : ""}`,
      ok: failures.length === 0,
    });
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it("no half-written event, and RSS bounded", async () => {
    const marker = `pm_${randomBytes(8).toString("hex")}`;
    remember("payload marker", marker);
    const db = postgres(sharedServices("x").DATABASE_URL!, { max: 1, onnotice: () => {} });
    try {
      const rows = await db<{ id: string; tree_size: string; events: string; max_seq: string | null }[]>`
        SELECT s.id, s.tree_size, count(e.seq_no) AS events, max(e.seq_no) AS max_seq
        FROM streams s LEFT JOIN events e ON e.stream_id = s.id WHERE s.tenant_id = ${tenant.tenantId} GROUP BY s.id, s.tree_size`;
      const torn = rows.filter((r) => Number(r.tree_size) !== Number(r.events) || Number(r.max_seq ?? 0) !== Number(r.events));
      const peak = Math.max(...rssSamples);
      const first = rssSamples[0] ?? 0;
      report({
        section: "hostile input",
        check: "no partial writes; server RSS bounded",
        measured: `${rows.length} streams, ${rows.reduce((n, r) => n + Number(r.events), 0)} events, ${torn.length} torn; RSS ${(first / 1e6).toFixed(0)} → peak ${(peak / 1e6).toFixed(0)} MB over ${rssSamples.length} samples`,
        ok: torn.length === 0 && peak < 1_500_000_000,
      });
      expect(torn).toEqual([]);
      expect(peak).toBeLessThan(1_500_000_000);
    } finally {
      await db.end();
    }
  });
});
