import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError, toAppError } from "../errors.js";
import { errorResponse } from "./errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "./metrics.js";

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** Paths that enforce a body limit of their own instead of bodyLimitBytes. */
  ownBodyLimit?: string[];
  /** Named readiness checks; each throws when its dependency is unusable. */
  readiness: Record<string, () => Promise<void>>;
}

/**
 * The plain HTTP surface (DESIGN section 4): everything that is not an RPC.
 * Provider adapters mount their routes here; they stay thin and hand
 * normalized input to the domain modules.
 */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: deps.bodyLimitBytes,
    onError: (c) => errorResponse(c, new AppError("payload_too_large", `request body exceeds ${deps.bodyLimitBytes} bytes`)),
  });
  app.use((c, next) => (deps.ownBodyLimit?.includes(c.req.path) ? next() : limit(c, next)));

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const results = await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2_000);
          return [name, "ok"] as const;
        } catch (err) {
          deps.logger.warn({ check: name, err: (err as Error).message }, "readiness check failed");
          return [name, "unavailable"] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === "ok");
    return c.json({ status: ready ? "ready" : "unavailable", checks: Object.fromEntries(results) }, ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    c.header("Content-Type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  app.notFound((c) => errorResponse(c, new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`, { reason: "ROUTE_NOT_FOUND" })));
  app.onError((err, c) => {
    const appError = toAppError(err);
    if (appError.code === "internal") deps.logger.error({ err, path: c.req.path }, "request failed");
    return errorResponse(c, appError);
  });
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
