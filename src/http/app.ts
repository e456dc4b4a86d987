import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import { contextFromHeaders, inSpan, SpanKind, SpanStatusCode, tracingEnabled } from "../infra/tracing.js";
import { AppError, toAppError } from "../errors.js";
import { outageOr, withDeadline } from "../contract/outages.js";
import { errorResponse } from "./errors.js";
import { readiness } from "./health.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "./metrics.js";

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** Paths that enforce a body limit of their own instead of bodyLimitBytes. */
  ownBodyLimit?: string[];
  /** Server-side deadline of one request (0: none); past it, 503 with Retry-After. */
  requestDeadlineMs?: number;
  /** Named readiness checks; each throws when its dependency is unusable. */
  readiness: Record<string, () => Promise<void>>;
}

/**
 * A server span per request (a child of the caller's `traceparent`), named
 * by the route that answered (`POST /v2/connectors/signed-webhooks/:id/events`),
 * never by the path, whose ids and tokens are input. A 5xx answer marks it failed.
 */
const requestSpan: MiddlewareHandler = (c, next) =>
  inSpan(
    c.req.method,
    { kind: SpanKind.SERVER, attributes: { "http.request.method": c.req.method } },
    async (span) => {
      await next();
      const route = routePath(c);
      // No route answered (404): the last one matched is a middleware's wildcard.
      if (!route.includes("*")) {
        span?.updateName(`${c.req.method} ${route}`);
        span?.setAttribute("http.route", route);
      }
      span?.setAttribute("http.response.status_code", c.res.status);
      if (c.res.status >= 500) span?.setStatus({ code: SpanStatusCode.ERROR });
    },
    contextFromHeaders((name) => c.req.header(name)),
  );

/**
 * The plain HTTP surface: everything that is not an RPC.
 * Provider adapters mount their routes here; they stay thin and hand
 * normalized input to the domain modules.
 */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  const tooLarge = (c: Context) => {
    // The unread rest of the body would be taken for the next request on an HTTP/1.1 connection.
    if ((c.env as { incoming?: { httpVersionMajor?: number } } | undefined)?.incoming?.httpVersionMajor === 1) c.header("Connection", "close");
    return errorResponse(c, new AppError("payload_too_large", `request body exceeds the limit of ${deps.bodyLimitBytes} bytes`, { reason: "PAYLOAD_TOO_LARGE" }));
  };
  // Outermost, so the span covers the whole request and its mapped error; only while tracing is on.
  if (tracingEnabled()) app.use(requestSpan);
  const countingLimit = bodyLimit({ maxSize: deps.bodyLimitBytes, onError: tooLarge });
  app.use(async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD" || deps.ownBodyLimit?.includes(c.req.path)) return next();
    // A declared length is checked from the header alone. Hono's bodyLimit would read
    // `c.req.raw.body` for that, which wraps the Node request in a web stream; a route that
    // answers without reading the body (404, 401, a bad query) then leaves that stream paused,
    // the adapter cannot drain the rest, and it closes the keep-alive connection under the
    // client's next request. Only chunked bodies, which have no declared length, are counted.
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      if (Number(length) > deps.bodyLimitBytes) return tooLarge(c);
      return next();
    }
    return countingLimit(c, next);
  });
  app.use((_c, next) => withDeadline(deps.requestDeadlineMs ?? 0, next));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const state = await readiness(deps.readiness, deps.logger);
    return c.json(state, state.status === "ready" ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    c.header("Content-Type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  app.notFound((c) => errorResponse(c, new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`, { reason: "ROUTE_NOT_FOUND" })));
  app.onError((err, c) => {
    const appError = toAppError(outageOr(err));
    if (appError.code === "internal") deps.logger.error({ err, path: c.req.path }, "request failed");
    return errorResponse(c, appError);
  });
  return app;
}
