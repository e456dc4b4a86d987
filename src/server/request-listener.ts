import { randomUUID } from "node:crypto";
import { cors as connectCors } from "@connectrpc/connect";
import { codeToHttpStatus, contentTypeUnaryRegExp, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { AppError } from "../errors.js";
import { toConnectError } from "../rpc/errors.js";
import cors from "cors";
import type { Logger } from "../logger.js";
import type { Metrics } from "../http/metrics.js";
import type { RequestListener } from "./listener.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const RPC_PATH = /^\/attesto\.(?:admin\.)?v1\.[A-Za-z]+\/[A-Za-z]+$/;
const KNOWN_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export interface Tracker {
  /** Requests that started and have not finished. */
  inFlight: number;
}

/**
 * What every request goes through before routing: a request id (taken from
 * X-Request-Id when sane), CORS for browser Connect clients, one access log
 * line and one latency observation. Never logs headers or bodies.
 */
export function withEdge(next: RequestListener, opts: { logger: Logger; metrics: Metrics; corsOrigins: string[] | "*"; tracker: Tracker; rpcBodyLimitBytes?: number }): RequestListener {
  const corsHandler = cors({
    origin: opts.corsOrigins === "*" ? true : opts.corsOrigins,
    methods: [...connectCors.allowedMethods],
    allowedHeaders: [...connectCors.allowedHeaders, "Authorization", "X-Request-Id"],
    exposedHeaders: [...connectCors.exposedHeaders, "X-Request-Id"],
    maxAge: 7200,
  });
  return (req, res) => {
    const started = process.hrtime.bigint();
    const header = req.headers["x-request-id"];
    const requestId = typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID();
    res.setHeader("X-Request-Id", requestId);
    opts.tracker.inFlight++;
    res.once("close", () => {
      opts.tracker.inFlight--;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const path = (req.url ?? "/").split("?")[0]!;
      const route = RPC_PATH.test(path) || KNOWN_PATHS.has(path) ? path : "other";
      opts.metrics.httpDuration.observe({ route, method: req.method ?? "", status: String(res.statusCode) }, seconds);
      if (res.statusCode === 401) opts.metrics.authFailures.inc();
      opts.logger.debug({ requestId, method: req.method, path, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, "request");
    });
    const proceed = () => {
      if (opts.rpcBodyLimitBytes !== undefined && refuseOversizedRpc(req, res, opts.rpcBodyLimitBytes)) return;
      next(req, res);
    };
    // CORS concerns browsers, which always send Origin on cross-origin calls and
    // preflights; the rest skip the cors package. Vary: Origin stays on every
    // answer so a cache never hands a browser an answer made without its Origin.
    if (req.headers.origin !== undefined || req.method === "OPTIONS") {
      corsHandler(req as never, res as never, proceed);
    } else {
      res.setHeader("Vary", "Origin");
      proceed();
    }
  };
}

/**
 * A Connect unary request whose declared length is over the limit is refused
 * here, before a byte of it is read: RESOURCE_EXHAUSTED (the protocol's code)
 * with reason PAYLOAD_TOO_LARGE and the limit in the message, so clients do
 * not retry it, and `Connection: close`, since the unread body would
 * otherwise be taken for the next request on the connection.
 */
function refuseOversizedRpc(req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1], limit: number): boolean {
  const length = Number(req.headers["content-length"]);
  if (!(length > limit) || req.method !== "POST") return false;
  const path = (req.url ?? "/").split("?")[0]!;
  if (!RPC_PATH.test(path) || !contentTypeUnaryRegExp.test(String(req.headers["content-type"] ?? ""))) return false;
  const error = toConnectError(new AppError("payload_too_large", `request body of ${length} bytes exceeds the limit of ${limit} bytes`, { reason: "PAYLOAD_TOO_LARGE" }));
  const body = errorToJsonBytes(error, {});
  const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": body.length, Connection: "close" };
  if ("stream" in req) {
    // HTTP/2 has no Connection header; the stream is reset once answered.
    delete headers.Connection;
  }
  (res as import("node:http").ServerResponse).writeHead(codeToHttpStatus(error.code), headers);
  res.end(body);
  return true;
}
