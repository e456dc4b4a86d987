import type { IncomingHttpHeaders } from "node:http";
import type { Compression } from "@connectrpc/connect/protocol";
import { compressionNegotiate } from "@connectrpc/connect/protocol";
import { contentTypeUnaryRegExp, headerTimeout, headerUnaryAcceptEncoding, headerUnaryEncoding, parseContentType, parseTimeout, protocolVersion } from "@connectrpc/connect/protocol-connect";

/** What the fast path needs of a request it takes. */
export interface FastUnaryShape {
  /** application/proto (else JSON). */
  binary: boolean;
  /** From a valid `Connect-Timeout-Ms`. */
  timeoutMs: number | undefined;
  /** The response encoding negotiated from `Accept-Encoding` (applied from compressMinBytes on), or null. */
  responseCompression: Compression | null;
}

export interface ShapeOptions {
  acceptCompression: Compression[];
  maxTimeoutMs: number;
  requireConnectProtocolHeader: boolean;
}

const header = (headers: IncomingHttpHeaders, name: string): string | null => {
  const value = headers[name];
  return typeof value === "string" ? value.trim() : null;
};

/**
 * Whether a request to a unary method is one the fast path answers exactly as
 * connect-node would, decided from the head alone (the body is not read yet,
 * so anything else can still go to connect-node): a Connect POST with a unary
 * content type, an uncompressed body, a valid or absent `Connect-Timeout-Ms`
 * and, when the server requires it, `Connect-Protocol-Version: 1`. Anything
 * that would be answered by an early protocol error (415, 405, unknown
 * compression, a bad timeout, a missing version header) or that needs
 * decompression returns undefined and stays on connect-node, which makes
 * those answers itself.
 */
export function fastUnaryShape(method: string | undefined, headers: IncomingHttpHeaders, opts: ShapeOptions): FastUnaryShape | undefined {
  if (method !== "POST") return undefined;
  // connect-node cannot build the request URL without an authority.
  if (headers.host === undefined && headers[":authority"] === undefined) return undefined;
  const contentType = header(headers, "content-type");
  if (contentType === null || !contentTypeUnaryRegExp.test(contentType)) return undefined;
  const type = parseContentType(contentType);
  if (type === undefined || type.stream) return undefined;
  if (opts.requireConnectProtocolHeader && header(headers, "connect-protocol-version") !== protocolVersion) return undefined;
  const compression = compressionNegotiate(
    opts.acceptCompression,
    header(headers, headerUnaryEncoding.toLowerCase()),
    header(headers, headerUnaryAcceptEncoding.toLowerCase()),
    headerUnaryAcceptEncoding,
  );
  if (compression.error !== undefined || compression.request !== null) return undefined;
  const timeout = parseTimeout(header(headers, headerTimeout.toLowerCase()), opts.maxTimeoutMs);
  if (timeout.error !== undefined) return undefined;
  return { binary: type.binary, timeoutMs: timeout.timeoutMs, responseCompression: compression.response };
}
