// /healthz behind the project's edge, answered either by the Hono route (through
// connect-node's fallback, as before issue 10 item 5) or by the plain node handler.
import http from "node:http";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import { createHttpApp } from "../../src/http/app.js";
import { Metrics } from "../../src/http/metrics.js";
import { createLogger } from "../../src/logger.js";
import { withEdge } from "../../src/server/request-listener.js";
import { withOpsRoutes } from "../../src/server/ops-routes.js";
import type { RequestListener } from "../../src/server/listener.js";

const logger = createLogger("silent");
const metrics = new Metrics();
const readiness = { database: async () => {}, redis: async () => {} };
const app = createHttpApp({ logger, metrics, bodyLimitBytes: 1 << 20, readiness });
const connect = connectNodeAdapter({ routes: () => {}, fallback: getRequestListener(app.fetch) as never }) as RequestListener;
const inner = process.env.HEALTH_MODE === "plain" ? withOpsRoutes(connect, { metrics, logger, readiness }) : connect;
const server = http.createServer({ keepAliveTimeout: 65_000 }, withEdge(inner, { logger, metrics, corsOrigins: "*", tracker: { inFlight: 0 } }) as http.RequestListener);
server.listen(0, "127.0.0.1", () => console.log(`listening ${(server.address() as { port: number }).port}`));
