/**
 * A browser Connect client against the real server, from headless Chromium.
 *
 * test/browser/client.ts is bundled in memory (esbuild, IIFE) and served with
 * a one-page HTML document by a separate node:http server on another loopback
 * port, so every call from the page is cross-origin: the browser does the CORS
 * preflight and enforces the answer, exactly as for a web application. The
 * page calls TenantService.GetCurrentTenant with @connectrpc/connect-web over
 * the Connect protocol (JSON and binary) and gRPC-Web (binary and JSON).
 *
 * Chromium is the system one (/usr/bin/chromium); nothing is downloaded. When
 * it is missing the suite fails: CI installs it.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Code } from "@connectrpc/connect";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import type { Attesto } from "../src/server/app.js";
import type { BrowserCallResult, BrowserProtocol, CallGetCurrentTenant } from "./browser/client.js";
import { clientFor, newTenant, startTestServer } from "./support/server.js";
import { CHROMIUM, CHROMIUM_ARGS } from "./support/chromium.js";

const ENTRY = fileURLToPath(new URL("./browser/client.ts", import.meta.url));

let app: Attesto | undefined;
/** A second server that allows one origin only, never the page's. */
let strictApp: Attesto | undefined;
let pageServer: http.Server | undefined;
let browser: Browser | undefined;
let page: Page;
let pageOrigin: string;
let tenant: Awaited<ReturnType<typeof newTenant>>;

/** The bundle, as an IIFE string that defines globalThis.callGetCurrentTenant. */
async function bundleClient(): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const js = result.outputFiles[0]?.text;
  if (!js) throw new Error("esbuild produced no output for test/browser/client.ts");
  return js;
}

/** Serves the page and the bundle on a free loopback port. */
async function servePage(bundle: string): Promise<http.Server> {
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>attesto browser client</title></head>
<body><script src="/client.js"></script></body></html>`;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html);
    } else if (path === "/client.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return server;
}

/**
 * Fails with the step's name instead of hanging until the hook timeout; what
 * the step makes after it has timed out is disposed of, not leaked.
 */
async function within<T>(what: string, ms: number, work: () => Promise<T>, dispose?: (late: T) => unknown): Promise<T> {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`browser test setup: ${what} did not finish in ${ms / 1000}s`));
    }, ms);
  });
  const running = work().then((value) => {
    if (timedOut && dispose) void Promise.resolve(dispose(value)).catch(() => {});
    return value;
  });
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function closeServer(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Runs the bundled function in the page. */
function callFromPage(baseUrl: string, apiKey: string, useBinary: boolean, protocol: BrowserProtocol, requestId?: string): Promise<BrowserCallResult> {
  return page.evaluate(
    ([baseUrl, apiKey, useBinary, protocol, requestId]) =>
      (globalThis as unknown as { callGetCurrentTenant: CallGetCurrentTenant }).callGetCurrentTenant(baseUrl, apiKey, useBinary, protocol, requestId),
    [baseUrl, apiKey, useBinary, protocol, requestId] as const,
  );
}

/** The same well-formed key with its last character changed: unknown to the server. */
function wrongKeyFor(key: string): string {
  return key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser test needs the system Chromium ` + `(e.g. apt-get install chromium). It is never downloaded, and the test does not skip.`);
  }
  const bundle = await within("bundling test/browser/client.ts", 20_000, bundleClient);
  const stop = (late: Attesto) => late.stop();
  app = await within("starting the server", 20_000, () => startTestServer(), stop);
  tenant = await within("creating a tenant", 10_000, () => newTenant(app!.url));
  strictApp = await within("starting the strict-CORS server", 20_000, () => startTestServer({ corsOrigins: ["http://allowed.invalid"] }), stop);
  pageServer = await within("starting the page server", 5_000, () => servePage(bundle), closeServer);
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  browser = await within(
    "launching Chromium",
    30_000,
    () => chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 }),
    (late) => late.close(),
  );
  page = await within("opening a page", 10_000, () => browser!.newPage());
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  await within("loading the page", 15_000, () => page.goto(`${pageOrigin}/`, { timeout: 15_000 }));
  const loaded = await page.evaluate(() => typeof (globalThis as { callGetCurrentTenant?: unknown }).callGetCurrentTenant);
  if (loaded !== "function") {
    throw new Error(`the bundle did not define callGetCurrentTenant in the page: ${pageErrors.join("; ") || "no page error"}`);
  }
}, 150_000);

afterAll(async () => {
  // Every step runs even when an earlier one, or beforeAll, failed.
  const steps: Array<() => Promise<unknown> | undefined> = [() => browser?.close(), () => (pageServer ? closeServer(pageServer) : undefined), () => strictApp?.stop(), () => app?.stop()];
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "browser test cleanup failed");
}, 60_000);

const cases: Array<{ name: string; protocol: BrowserProtocol; useBinary: boolean }> = [
  { name: "Connect, JSON", protocol: "connect", useBinary: false },
  { name: "Connect, binary", protocol: "connect", useBinary: true },
  { name: "gRPC-Web, binary", protocol: "grpc-web", useBinary: true },
  { name: "gRPC-Web, JSON", protocol: "grpc-web", useBinary: false },
];

describe("a browser client (headless Chromium, cross-origin)", () => {
  it("runs on another origin than the server", () => {
    expect(pageOrigin).not.toBe(new URL(app!.url).origin);
  });

  describe.each(cases)("$name", ({ protocol, useBinary }) => {
    it("gets the key's tenant, sending and reading X-Request-Id through CORS", async () => {
      const requestId = `browser-${randomBytes(6).toString("hex")}`;
      const result = await callFromPage(app!.url, tenant.key, useBinary, protocol, requestId);
      expect(result).toEqual({
        ok: true,
        tenantId: tenant.tenantId,
        apiKeyId: tenant.apiKeyId,
        requestId,
        pageOrigin,
      });
    });

    it("answers unauthenticated to a wrong key", async () => {
      const result = await callFromPage(app!.url, wrongKeyFor(tenant.key), useBinary, protocol);
      expect(result).toMatchObject({ ok: false, code: Code.Unauthenticated, codeName: "unauthenticated" });
    });

    it("is refused by the browser when the server does not allow the page's origin", async () => {
      // The server itself answers (outside a browser, CORS does not apply)…
      const direct = await clientFor(TenantService, strictApp!.url, tenant.key).getCurrentTenant({});
      expect(direct.tenant?.id).toBe(tenant.tenantId);
      // …but the browser enforces its CORS answer: fetch fails in the page.
      const result = await callFromPage(strictApp!.url, tenant.key, useBinary, protocol);
      expect(result).toMatchObject({ ok: false, message: expect.stringMatching(/failed to fetch/i) });
    });
  });
});
