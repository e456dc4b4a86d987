/**
 * Browser entry for test/browser.test.ts: bundled by esbuild into an IIFE and
 * loaded by a page in headless Chromium. It exposes one global function that
 * calls TenantService.GetCurrentTenant through the browser transports of
 * @connectrpc/connect-web, so the call goes through the browser's fetch and
 * CORS exactly as an application's would.
 */
import { ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";

export type BrowserProtocol = "connect" | "grpc-web";

export type BrowserCallResult =
  | {
      ok: true;
      tenantId: string;
      apiKeyId: string;
      /** X-Request-Id as the page could read it (only if CORS exposes it). */
      requestId: string | null;
      pageOrigin: string;
    }
  | {
      ok: false;
      /** Numeric Code, e.g. 16 for Code.Unauthenticated. */
      code: number;
      /** The code's protocol name, e.g. "unauthenticated". */
      codeName: string;
      message: string;
      pageOrigin: string;
    };

export type CallGetCurrentTenant = (baseUrl: string, apiKey: string, useBinary: boolean, protocol?: BrowserProtocol, requestId?: string) => Promise<BrowserCallResult>;

const callGetCurrentTenant: CallGetCurrentTenant = async (baseUrl, apiKey, useBinary, protocol = "connect", requestId) => {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("Authorization", `Bearer ${apiKey}`);
    if (requestId) req.header.set("X-Request-Id", requestId);
    return next(req);
  };
  const options = { baseUrl, useBinaryFormat: useBinary, interceptors: [auth] };
  const transport: Transport = protocol === "grpc-web" ? createGrpcWebTransport(options) : createConnectTransport(options);
  const client = createClient(TenantService, transport);
  let responseRequestId: string | null = null;
  try {
    const res = await client.getCurrentTenant(
      {},
      {
        timeoutMs: 10_000,
        onHeader: (headers) => {
          responseRequestId = headers.get("X-Request-Id");
        },
      },
    );
    return {
      ok: true,
      tenantId: res.tenant?.id ?? "",
      apiKeyId: res.apiKey?.id ?? "",
      requestId: responseRequestId,
      pageOrigin: location.origin,
    };
  } catch (err) {
    const e = ConnectError.from(err);
    return { ok: false, code: e.code, codeName: codeToString(e.code), message: e.rawMessage, pageOrigin: location.origin };
  }
};

(globalThis as unknown as { callGetCurrentTenant: CallGetCurrentTenant }).callGetCurrentTenant = callGetCurrentTenant;
