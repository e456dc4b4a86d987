import type http from "node:http";
import { performance } from "node:perf_hooks";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { holdPublicPlace } from "../contract/public-share.js";
import { AppError } from "../errors.js";
import { httpErrorBody } from "../http/errors.js";
import { toConnectError } from "../rpc/errors.js";
import type { RequestListener } from "./listener.js";

/**
 * Connector ingress: refused or let through by a signature over the raw
 * body (an HMAC or a token compare, a few ms per MB at worst), and a
 * delivery that verifies gives its place and charge back at once
 * (leavePublicShare). Such requests are not held back while the event loop
 * is busy: under load that would hold back the tenants' own providers,
 * whose verified deliveries are most of the load. Their unauthenticated
 * part stays within the concurrency and the CPU budget like every public
 * request's.
 */
const SIGNED_INGRESS = /^\/v2\/connectors\/[^/]+\/[^/]+\/events$/;

/**
 * The routes anyone may call without a key: public verification (the HTTP
 * route and the RPC), store notifications and connector ingress (their
 * callers authenticate by signature, which costs the server before it can
 * refuse), the tile read path and bundle downloads (public when tiles are),
 * and shared bundles (the token in a header is the only credential).
 */
const PUBLIC_ROUTES = [
  /^\/v2\/verify$/,
  /^\/attesto\.v1\.VerifierService\//,
  /^\/v1\/(?:store-notifications|webhooks)\/(?:apple|google)\/[^/]+$/,
  SIGNED_INGRESS,
  /^\/proofstreams\//,
  /^\/bundles\/[^/]+\/download$/,
  /^\/v1\/shared-bundle$/,
];

// One alternation: every request of the process is tested against it.
const PUBLIC_ROUTE = new RegExp(PUBLIC_ROUTES.map((route) => `(?:${route.source})`).join("|"));

export const isPublicRoute = (path: string) => PUBLIC_ROUTE.test(path);

/** The read paths a tenant's key may also use: with a key, the request is the tenant's (its rate limits apply), not the public's. */
const KEYED_READS = /^\/(?:proofstreams|bundles)\//;

export interface PublicRouteLimits {
  /** Public requests in progress at once in this process. */
  concurrency: number;
  /** Public requests waiting for a place; more are refused at once. */
  queue: number;
  /** The longest a public request waits for a place before it is refused. */
  queueWaitMs: number;
  /**
   * The estimated CPU the public routes may take, in ms per second of this
   * process (0: no such budget). Each request is charged before it runs:
   * 1 ms plus COST_MS_PER_MB per MB of declared body (what reading, scanning
   * and parsing a body costs at most, measured by the public-abuse section
   * of the reliability suite). A concurrency cap alone bounds requests in
   * flight, not their rate: a flood of cheap-to-send bodies would still
   * take the event loop from tenants.
   */
  cpuMsPerSecond: number;
  /**
   * Event-loop utilization (0 to 1, over the last 100 ms) above which no
   * public request starts: when tenants' work keeps the loop busy, public
   * requests wait (and past queueWaitMs are refused). 1: never.
   */
  maxLoopUtilization: number;
}

/** Whether the event loop was busier than `threshold` over the last window; stop() ends the sampling. */
export function loopUtilizationAbove(threshold: number, windowMs = 100): { busy: () => boolean; stop: () => void } {
  let last = performance.eventLoopUtilization();
  let busy = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    busy = performance.eventLoopUtilization(now, last).utilization > threshold;
    last = now;
  }, windowMs).unref();
  return { busy: () => busy, stop: () => clearInterval(timer) };
}

const RETRY_AFTER_SECONDS = 1;
const COST_MS_PER_MB = 20;
const LOOP_RECHECK_MS = 50;

/** What a request is charged against the CPU budget. */
export function publicRequestCostMs(req: Parameters<RequestListener>[0]): number {
  const length = Number(req.headers["content-length"] ?? 0);
  // A chunked body's size is unknown until read: it is charged as 1 MB (the body limit of most routes).
  const bytes = req.headers["transfer-encoding"] !== undefined ? 1024 * 1024 : Number.isFinite(length) && length > 0 ? length : 0;
  return 1 + (COST_MS_PER_MB * bytes) / (1024 * 1024);
}

/**
 * The share of the process public routes may take: at most `concurrency`
 * in progress (so they hold at most that many database connections and
 * verifier slots), within a CPU budget per second, a bounded FIFO of
 * waiting requests, and beyond that an answer at once: 503 with
 * Retry-After (the server's capacity is taken, not the caller's quota,
 * which would be 429), reason SERVER_BUSY, in the route's own error
 * format. Authenticated routes never wait here, so a flood of public
 * requests cannot starve tenants. A waiting request's body is not read
 * until it is let in.
 */
export function withPublicGate(next: RequestListener, limits: PublicRouteLimits, loopBusy: () => boolean = () => false, now: () => number = () => performance.now()): RequestListener {
  let inProgress = 0;
  // The CPU budget, as a token bucket holding at most one second's worth; it may go negative by one request.
  let tokens = limits.cpuMsPerSecond;
  let refilledAt = now();
  let wake: NodeJS.Timeout | undefined;
  const waiting: Array<{ admit: () => void; signedIngress: boolean }> = [];
  const refill = () => {
    const at = now();
    tokens = Math.min(limits.cpuMsPerSecond, tokens + ((at - refilledAt) / 1000) * limits.cpuMsPerSecond);
    refilledAt = at;
  };
  const mayRun = (signedIngress: boolean) => {
    if (inProgress >= limits.concurrency || (!signedIngress && loopBusy())) return false;
    if (limits.cpuMsPerSecond <= 0) return true;
    refill();
    return tokens > 0;
  };
  const admitWaiting = () => {
    while (waiting.length > 0 && mayRun(waiting[0]!.signedIngress)) waiting.shift()!.admit();
    // Out of budget with requests waiting: look again when it has refilled (a release looks too).
    if (waiting.length > 0 && inProgress < limits.concurrency && wake === undefined) {
      const refillMs = limits.cpuMsPerSecond > 0 && tokens <= 0 ? Math.ceil((-tokens / limits.cpuMsPerSecond) * 1000) + 1 : 0;
      wake = setTimeout(
        () => {
          wake = undefined;
          admitWaiting();
        },
        Math.max(refillMs, loopBusy() ? LOOP_RECHECK_MS : 1),
      );
    }
  };
  const release = () => {
    inProgress--;
    admitWaiting();
  };
  return (req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    if (req.method === "OPTIONS" || !isPublicRoute(path) || (req.headers.authorization !== undefined && KEYED_READS.test(path))) return next(req, res);
    const cost = publicRequestCostMs(req);
    const signedIngress = SIGNED_INGRESS.test(path);
    const run = () => {
      inProgress++;
      tokens -= cost;
      // The place is given back when the answer is done, or earlier by the edge once the caller has
      // authenticated (leavePublicShare: a connector delivery whose signature verified).
      let held = true;
      const leave = () => {
        if (!held) return;
        held = false;
        release();
      };
      res.once("close", leave);
      // Authenticated, the request is no longer the public's: its place and its charge go back
      // (what it cost so far, reading the body and checking a signature, is what a tenant's costs).
      // Only connector ingress authenticates midway: no other public request is registered.
      if (signedIngress)
        holdPublicPlace(req, () => {
          if (limits.cpuMsPerSecond > 0) tokens = Math.min(limits.cpuMsPerSecond, tokens + cost);
          leave();
        });
      next(req, res);
    };
    if (waiting.length === 0 && mayRun(signedIngress)) return run();
    if (waiting.length >= limits.queue) return refuse(req, res, path);
    const entry = {
      signedIngress,
      admit: () => {
        clearTimeout(timer);
        res.off("close", leave);
        run();
      },
    };
    const leave = () => {
      const at = waiting.indexOf(entry);
      if (at >= 0) waiting.splice(at, 1);
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      leave();
      refuse(req, res, path);
    }, limits.queueWaitMs);
    waiting.push(entry);
    // A client that gives up while waiting leaves the queue.
    res.once("close", leave);
    admitWaiting();
  };
}

function refuse(req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1], path: string): void {
  if (res.headersSent || res.writableEnded) return;
  const error = new AppError("unavailable", "the server is serving as many public requests as it takes; retry shortly", { retryAfterSeconds: RETRY_AFTER_SECONDS, reason: "SERVER_BUSY" });
  const body = path.startsWith("/attesto.") ? Buffer.from(errorToJsonBytes(toConnectError(error), {})) : Buffer.from(JSON.stringify(httpErrorBody(error)));
  const headers: Record<string, string | number> = { "Content-Type": "application/json", "Content-Length": body.length, "Retry-After": RETRY_AFTER_SECONDS };
  // The unread body is read and dropped by Node (a client still sending gets its answer, not a
  // reset); bodies still arriving slowly are bounded by the listener's pending-body cap.
  req.resume();
  (res as http.ServerResponse).writeHead(503, headers);
  res.end(body);
}
