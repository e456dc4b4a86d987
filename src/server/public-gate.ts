import type http from "node:http";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { AppError } from "../errors.js";
import { httpErrorBody } from "../http/errors.js";
import { toConnectError } from "../rpc/errors.js";
import type { RequestListener } from "./listener.js";

/**
 * The routes anyone may call without a key: public verification (the HTTP
 * route and the RPC), store notifications and connector ingress (their
 * callers authenticate by signature, which costs the server before it can
 * refuse), the tile read path and bundle downloads (public when tiles are).
 */
const PUBLIC_ROUTES = [
  /^\/v2\/verify$/,
  /^\/attesto\.v1\.VerifierService\//,
  /^\/v1\/webhooks\/(?:apple|google)\/[^/]+$/,
  /^\/v2\/connectors\/[^/]+\/[^/]+\/events$/,
  /^\/proofstreams\//,
  /^\/bundles\/[^/]+\/download$/,
];

export const isPublicRoute = (path: string) => PUBLIC_ROUTES.some((route) => route.test(path));

export interface PublicRouteLimits {
  /** Public requests in progress at once in this process. */
  concurrency: number;
  /** Public requests waiting for a place; more are refused at once. */
  queue: number;
  /** The longest a public request waits for a place before it is refused. */
  queueWaitMs: number;
}

const RETRY_AFTER_SECONDS = 1;

/**
 * The share of the process public routes may take: at most `concurrency`
 * in progress (so they hold at most that many database connections and
 * verifier slots), a bounded FIFO of waiting requests, and beyond that an
 * answer at once: 503 with Retry-After (the server's capacity is taken,
 * not the caller's quota, which would be 429), reason SERVER_BUSY, in the
 * route's own error format. Authenticated routes never wait here, so a
 * flood of public requests cannot starve tenants. A waiting request's body
 * is not read until it is let in.
 */
export function withPublicGate(next: RequestListener, limits: PublicRouteLimits): RequestListener {
  let inProgress = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    inProgress--;
    waiting.shift()?.();
  };
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "OPTIONS" || !isPublicRoute(path)) return next(req, res);
    const run = () => {
      inProgress++;
      res.once("close", release);
      next(req, res);
    };
    if (inProgress < limits.concurrency) return run();
    if (waiting.length >= limits.queue) return refuse(req, res, path);
    const admit = () => {
      clearTimeout(timer);
      run();
    };
    const leave = () => {
      const at = waiting.indexOf(admit);
      if (at >= 0) waiting.splice(at, 1);
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      leave();
      refuse(req, res, path);
    }, limits.queueWaitMs);
    waiting.push(admit);
    // A client that gives up while waiting leaves the queue.
    res.once("close", leave);
  };
}

function refuse(req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1], path: string): void {
  if (res.headersSent || res.writableEnded) return;
  const error = new AppError("unavailable", "the server is serving as many public requests as it takes; retry shortly", { retryAfterSeconds: RETRY_AFTER_SECONDS, reason: "SERVER_BUSY" });
  const body = path.startsWith("/attesto.") ? Buffer.from(errorToJsonBytes(toConnectError(error), {})) : Buffer.from(JSON.stringify(httpErrorBody(error)));
  const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": body.length, "Retry-After": RETRY_AFTER_SECONDS };
  // HTTP/1.1: the unread body would otherwise be read and thrown away, or taken for the next request.
  if (!("stream" in req)) headers.Connection = "close";
  (res as http.ServerResponse).writeHead(503, headers);
  res.end(body);
}
