import { describe, expect, it } from "vitest";
import { compressionGzip } from "@connectrpc/connect-node";
import { fastUnaryShape } from "./fast-unary-shape.js";

const opts = { acceptCompression: [compressionGzip], maxTimeoutMs: Number.MAX_SAFE_INTEGER, requireConnectProtocolHeader: false };
const head = (h: Record<string, string>) => ({ host: "x", ...h });

describe("fastUnaryShape", () => {
  it("takes Connect unary POSTs, JSON (any charset spelling) or binary", () => {
    expect(fastUnaryShape("POST", head({ "content-type": "application/json" }), opts)).toEqual({ binary: false, timeoutMs: undefined, responseCompression: null });
    expect(fastUnaryShape("POST", head({ "content-type": "application/json;charset=UTF-8" }), opts)?.binary).toBe(false);
    expect(fastUnaryShape("POST", head({ "content-type": "application/proto" }), opts)?.binary).toBe(true);
  });

  it("leaves other methods, content types and missing authorities to connect-node", () => {
    expect(fastUnaryShape("GET", head({ "content-type": "application/json" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/connect+json" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/grpc" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({}), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", { "content-type": "application/json" }, opts)).toBeUndefined();
  });

  it("leaves compressed bodies and unknown encodings, takes identity and negotiates the answer's", () => {
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "content-encoding": "gzip" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "content-encoding": "zz" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "content-encoding": "identity" }), opts)).toBeDefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "accept-encoding": "br, gzip" }), opts)?.responseCompression?.name).toBe("gzip");
  });

  it("takes a valid Connect-Timeout-Ms and leaves an invalid or too long one", () => {
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-timeout-ms": "250" }), opts)?.timeoutMs).toBe(250);
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-timeout-ms": "soon" }), opts)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-timeout-ms": "100" }), { ...opts, maxTimeoutMs: 50 })).toBeUndefined();
  });

  it("requires Connect-Protocol-Version: 1 only when the server does", () => {
    const strict = { ...opts, requireConnectProtocolHeader: true };
    expect(fastUnaryShape("POST", head({ "content-type": "application/json" }), strict)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-protocol-version": "2" }), strict)).toBeUndefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-protocol-version": "1" }), strict)).toBeDefined();
    expect(fastUnaryShape("POST", head({ "content-type": "application/json", "connect-protocol-version": "2" }), opts)).toBeDefined();
  });
});
