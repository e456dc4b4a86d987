import { readiness } from "../http/health.js";
import type { Metrics } from "../http/metrics.js";
import type { Logger } from "../logger.js";
import type { RequestListener } from "./listener.js";

/**
 * GET /healthz, /readyz and /metrics answered on the Node request directly,
 * with the answers the Hono routes give (src/http/app.ts, which still serves
 * every other method on them): probes and scrapes come often, and Hono's
 * Node adapter builds a Fetch Request and an abort signal for each.
 */
export function withOpsRoutes(next: RequestListener, deps: { metrics: Metrics; logger: Logger; readiness: Record<string, () => Promise<void>> }): RequestListener {
  const json = (res: Parameters<RequestListener>[1], status: number, body: unknown) => {
    const text = JSON.stringify(body);
    (res as import("node:http").ServerResponse).writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  return (req, res) => {
    if (req.method !== "GET") return next(req, res);
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path === "/readyz") {
      void readiness(deps.readiness, deps.logger).then(
        (state) => json(res, state.status === "ready" ? 200 : 503, state),
        () => json(res, 503, { status: "unavailable", checks: {} }),
      );
      return;
    }
    if (path === "/metrics") {
      void deps.metrics.registry.metrics().then(
        (text) => {
          (res as import("node:http").ServerResponse).writeHead(200, { "content-type": deps.metrics.registry.contentType, "content-length": Buffer.byteLength(text) });
          res.end(text);
        },
        () => next(req, res),
      );
      return;
    }
    next(req, res);
  };
}
