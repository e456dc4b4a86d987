import type http from "node:http";
import type http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { invokeUnaryImplementation, mergeNonProtocolHeaders, readAllBytes, validateUniversalHandlerOptions } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, contentTypeUnaryJson, contentTypeUnaryProto, errorToJsonBytes, trailerMux } from "@connectrpc/connect/protocol-connect";
import { fastUnaryMethods, type FastUnaryMethod, type ServiceRegistration } from "./fast-unary-methods.js";
import { fastUnaryShape, type FastUnaryShape } from "./fast-unary-shape.js";
import { unaryCallContext } from "./fast-unary-context.js";
import { answerBytes } from "./serialized-answers.js";
import { invalidArgument } from "../errors.js";
import { jsonShapeProblem, type JsonLimits } from "../verify/json.js";
import { toConnectError } from "./errors.js";
import { nodeHeadersOf, webHeadersOf } from "./node-headers.js";

/**
 * A JSON request's shape is checked before connect parses it (JSON.parse
 * has no depth limit): depth 128 for every method (payloads are held to 64
 * by validation; this only refuses sooner what it would refuse), and
 * whatever the caller's jsonLimitsOf asks for a path (the public methods:
 * PUBLIC_JSON_LIMITS).
 */
const RPC_JSON_LIMITS: JsonLimits = { maxDepth: 128 };

/**
 * The reason the handler signal carries once a call has ended. connect-node
 * aborts with no reason, which makes a DOMException (and its stack) per call:
 * 4.4 % of the server's CPU on GetCurrentTenant in a profile. One shared
 * reason ends the signal, its deadline timer and linked listeners the same way.
 */
const CALL_ENDED = new ConnectError("the call ended", Code.Canceled);

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Takes a request and answers it (true), or leaves it untouched for connect-node (false). */
export interface FastUnaryHandler {
  (req: NodeRequest, res: NodeResponse): boolean;
  /** Calls the fast path took since start (exported as a metric: which path serves the traffic). */
  stats(): { served: number };
}

/**
 * The Connect unary fast path: a POST in the Connect protocol to a unary
 * method, uncompressed, JSON or binary, over HTTP/1.1 or h2c, served directly
 * on the Node request and response. It is connect's own unary handler
 * (`protocol-connect/handler-factory.js`) without the universal request and
 * response (URL parsing, async-iterable bodies, per-request abort wiring,
 * the protocol negotiation): the same options (`connectNodeAdapter`'s, with
 * its defaults), the same service implementations and interceptors
 * (`invokeUnaryImplementation`, so auth, rate limits, validation, the
 * deadline and the error mapping run as they do there), the same
 * serializers and error JSON (`errorToJsonBytes`), trailers as `trailer-`
 * headers (`trailerMux`) and response compression. What the head alone
 * cannot show to be such a call (fastUnaryShape) goes to connect-node
 * before a byte of the body is read: gRPC, gRPC-Web, streams, GET,
 * compressed bodies, protocol errors. The request's abort signal is not
 * wired (no handler reads `ctx.signal`); the `Connect-Timeout-Ms` deadline
 * signal is (unaryCallContext, fast-unary-context.ts).
 */
export function fastUnary(options: ConnectNodeAdapterOptions, registrations: ServiceRegistration[], jsonLimitsOf: (path: string) => JsonLimits | undefined = () => undefined): FastUnaryHandler {
  const opt = validateUniversalHandlerOptions({ ...options, acceptCompression: options.acceptCompression ?? [compressionGzip, compressionBrotli] });
  // A request gate runs before the body is read; with one configured, connect-node serves every call.
  const methods = opt.requestGate === undefined ? fastUnaryMethods(registrations, opt, options.requestPathPrefix ?? "") : new Map<string, FastUnaryMethod>();
  // The methods are fixed: each one's JSON limits are looked up once, not on every call.
  const jsonLimits = new Map([...methods.keys()].map((path) => [path, jsonLimitsOf(path) ?? RPC_JSON_LIMITS]));
  let served = 0;
  const handler = (req: NodeRequest, res: NodeResponse): boolean => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    const method = methods.get(path);
    if (method === undefined) return false;
    const shape = fastUnaryShape(req.method, req.headers, opt);
    if (shape === undefined) return false;
    served++;
    serve(req, res, method, shape, jsonLimits.get(path)!).catch(() => {
      // Only writing can fail here (the peer went away): there is nobody left to answer.
      if (!res.headersSent) res.destroy();
    });
    return true;
  };
  return Object.assign(handler, { stats: () => ({ served }) });

  async function serve(req: NodeRequest, res: NodeResponse, { spec, serialization }: FastUnaryMethod, shape: FastUnaryShape, jsonLimits: JsonLimits): Promise<void> {
    const requestHeader = webHeadersOf(req.headers);
    const encrypted = "encrypted" in req.socket && (req.socket as { encrypted?: boolean }).encrypted;
    const authority = "authority" in req ? req.authority : req.headers.host;
    const context = unaryCallContext({
      service: spec.method.parent,
      method: spec.method,
      // The path is a method's (the lookup matched it exactly): no URL parser needed to make the string.
      url: `${encrypted ? "https" : "http"}://${authority}${req.url ?? ""}`,
      timeoutMs: shape.timeoutMs,
      shutdownSignal: opt.shutdownSignal,
      requestHeader,
      contentType: shape.binary ? contentTypeUnaryProto : contentTypeUnaryJson,
      contextValues: options.contextValues?.(req),
    });
    let status = 200;
    let body: Uint8Array;
    try {
      const bytes = await readAllBytes(req as AsyncIterable<Uint8Array>, opt.readMaxBytes, requestHeader.get("Content-Length"));
      const problem = shape.binary ? undefined : jsonShapeProblem(bytes, jsonLimits);
      if (problem !== undefined) throw toConnectError(invalidArgument("body", problem));
      const input = serialization.getI(shape.binary).parse(bytes);
      const output = await invokeUnaryImplementation(spec, context, input, opt.interceptors);
      body = answerBytes(output, shape.binary, (message) => serialization.getO(shape.binary).serialize(message));
    } catch (e) {
      context.abort(e);
      const error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
      status = codeToHttpStatus(error.code);
      context.responseHeader.set("Content-Type", contentTypeUnaryJson);
      if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
      body = errorToJsonBytes(error, opt.jsonOptions);
    } finally {
      context.abort(CALL_ENDED);
    }
    if (shape.responseCompression && body.byteLength >= opt.compressMinBytes) {
      body = await shape.responseCompression.compress(body);
      context.responseHeader.set("Content-Encoding", shape.responseCompression.name);
    }
    const header = trailerMux(context.responseHeader, context.responseTrailer);
    header.set("Content-Length", body.byteLength.toString(10));
    (res as http.ServerResponse).writeHead(status, nodeHeadersOf(header));
    res.end(body);
  }
}

/** The fast path in front of connect-node: what it does not take, connect-node serves. */
export function withFastUnary(fast: FastUnaryHandler, next: (req: NodeRequest, res: NodeResponse) => void): (req: NodeRequest, res: NodeResponse) => void {
  return (req, res) => {
    if (!fast(req, res)) next(req, res);
  };
}
