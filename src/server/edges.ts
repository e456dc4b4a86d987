import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import type { Config } from "../config.js";
import { createHttpApp } from "../http/app.js";
import { mountBundleShareRoutes } from "../http/bundle-shares.js";
import { mountConnectorRoutes } from "../http/connectors.js";
import { mountLandingPage } from "../http/landing.js";
import type { Metrics } from "../http/metrics.js";
import { mountOpenApi } from "../http/openapi.js";
import { BOARD_PATH, mountQueueBoard } from "../http/queue-board.js";
import { mountRateLimit } from "../http/ratelimit.js";
import { mountStoreRoutes } from "../http/store.js";
import { mountTileRoutes } from "../http/tiles.js";
import { mountVerifyRoutes, VERIFY_PATH } from "../http/verify.js";
import { mountWebhookRoutes } from "../http/webhooks.js";
import { mountWitnessRoutes } from "../http/witness.js";
import type { Witnesses } from "../witness/module.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { COMPRESS_MIN_BYTES, RPC_COMPRESSION } from "../rpc/compression.js";
import { clientAddressKey } from "../rpc/context.js";
import { fastUnary, withFastUnary } from "../rpc/fast-unary.js";
import { recordRoutes } from "../rpc/fast-unary-methods.js";
import { rpcInterceptors, rpcRoutes, type RpcDeps } from "../rpc/routes.js";
import { describeInputError } from "../rpc/errors.js";
import { utf8Encoder } from "../rpc/utf8-encoder.js";
import { rpcMethodIndex, unknownRpcRoute, withMediaTypeCheck } from "../rpc/edge-answers.js";
import { grpcOpsRoutes } from "../rpc/grpc-ops.js";
import { readiness } from "../http/health.js";
import type { RequestListener } from "./listener.js";
import { isPublicRoute } from "./public-gate.js";
import { PUBLIC_JSON_LIMITS } from "../json.js";

/**
 * Connect's JSON options, with the patched-in hook that gives parse errors their details (src/rpc/errors.ts)
 * and Buffer's UTF-8 encoder for the answers (src/rpc/utf8-encoder.ts).
 */
const jsonOptions = { ignoreUnknownFields: false, describeInputError, textEncoder: utf8Encoder } as NonNullable<ConnectNodeAdapterOptions["jsonOptions"]>;

/** The facades both edges hand requests to: the RPC services' and the queue board's job runtime. */
export type EdgeModules = Omit<RpcDeps, "logger" | "requestDeadlineMs" | "witnesses"> & { jobs: JobRuntime; witnesses: Witnesses };

/** The plain HTTP routes (Hono). A worker-role instance mounts no tenant routes. */
export function httpRoutes(config: Config, logger: Logger, metrics: Metrics, readinessChecks: Record<string, () => Promise<void>>, modules: EdgeModules): Hono {
  const { jobs, tenancy, webhooks, proofstreams, rateLimits, store, storeNotifications, appStore, googlePlay, connectors, bundles, verifier, witnesses } = modules;
  const http = createHttpApp({
    logger,
    metrics,
    bodyLimitBytes: config.bodyLimitBytes,
    requestDeadlineMs: config.requestDeadlineMs,
    // POST /v2/verify takes whole bundles and enforces its own limit (ATTESTO_VERIFY_MAX_BYTES).
    ownBodyLimit: [VERIFY_PATH],
    readiness: readinessChecks,
  });
  const { authenticator } = tenancy;
  // Before the routes it guards: Hono runs middleware in the order it was added.
  mountRateLimit(http, { limits: rateLimits, authenticator });
  if (config.role !== "worker") mountWebhookRoutes(http, { authenticator, webhooks });
  if (config.role !== "worker") mountStoreRoutes(http, { store, storeNotifications, appStore, googlePlay, authenticator });
  if (config.role !== "worker") mountConnectorRoutes(http, { connectors, authenticator, proofstreams });
  if (config.role !== "worker") mountBundleShareRoutes(http, { bundles, authenticator });
  mountQueueBoard(http, { jobs, authenticator, viewerToken: config.boardViewerToken });
  mountOpenApi(http);
  mountLandingPage(http, {
    links: [
      { href: "/verify", title: "Verify", about: "check a verifier bundle or a tlog-proof in the browser (nothing is uploaded)" },
      { href: "/openapi.json", title: "REST API (OpenAPI 3.1)", about: "the REST routes; the RPCs are described by the protos under proto/" },
      { href: BOARD_PATH, title: "Queue board", about: "BullMQ jobs (operator token)" },
      { href: "/healthz", title: "Health", about: "liveness; /readyz checks the database and Redis" },
      { href: "/metrics", title: "Metrics", about: "Prometheus" },
    ],
  });
  mountTileRoutes(http, { proofstreams, authenticator, public: config.tilesPublic });
  if (config.role !== "worker") mountWitnessRoutes(http, { witnesses });
  mountVerifyRoutes(http, { bundles, authenticator, verifier, publicDownloads: config.tilesPublic, verifyMaxBytes: config.verifyMaxBytes });
  return http;
}

/**
 * The Connect services (Connect, gRPC, gRPC-Web) in front of the HTTP
 * routes, which get every request that is not an RPC.
 */
export function rpcListener(config: Config, logger: Logger, metrics: Metrics, http: Hono, modules: EdgeModules, readinessChecks: Record<string, () => Promise<void>>): RequestListener {
  const rpcDeps = { ...modules, logger, requestDeadlineMs: config.requestDeadlineMs };
  // The services are built once: connect-node and the fast path get the same implementations.
  // A worker-role instance serves only the operational routes (health, readiness, metrics, gRPC health and reflection).
  const served = recordRoutes(config.role === "worker" ? () => {} : rpcRoutes(rpcDeps));
  const ready = async () => (await readiness(readinessChecks, logger)).status === "ready";
  const routes = recordRoutes((router) => {
    served.replay(router);
    grpcOpsRoutes(
      served.registrations.map((r) => r.service),
      ready,
    )(router);
  });
  const index = rpcMethodIndex(routes.registrations.map((r) => r.service));
  const unknownRpc = unknownRpcRoute(index);
  const httpListener = getRequestListener(http.fetch) as unknown as RequestListener;
  const connectOptions: ConnectNodeAdapterOptions = {
    routes: routes.replay,
    interceptors: rpcInterceptors(rpcDeps),
    contextValues: (req) => createContextValues().set(clientAddressKey, req.socket.remoteAddress ?? ""),
    readMaxBytes: config.bodyLimitBytes,
    acceptCompression: RPC_COMPRESSION,
    // Answers under 4 KiB go uncompressed (connect's default is 1 KiB): gzip saves a few hundred bytes
    // there, less than a packet, and costs 30 µs of CPU each (a receipt-carrying append answer is
    // 1.5–2.5 KiB; measured in bench:receipts' profile).
    compressMinBytes: COMPRESS_MIN_BYTES,
    // One rule for unknown fields on both surfaces: JSON names the unknown field
    // in a 400 (it catches client typos); binary keeps unknown fields (protobuf).
    // What connect cannot parse is answered with ErrorInfo like every other refusal.
    jsonOptions,
    // An RPC-shaped path nothing serves is answered as an RPC error saying why; the rest are plain HTTP routes.
    fallback: ((req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1]) => unknownRpc(req, res) || httpListener(req, res)) as unknown as ConnectNodeAdapterOptions["fallback"],
  };
  const connectNode = connectNodeAdapter(connectOptions);
  // Connect unary POSTs skip connect-node's universal handler; everything else goes through it,
  // and what it would refuse with an empty 415 or 405 is answered with what the method takes.
  let connect: RequestListener = withMediaTypeCheck(index, connectNode as RequestListener);
  if (config.rpcFastPath) {
    const fast = fastUnary(connectOptions, routes.registrations, (path) => (isPublicRoute(path) ? PUBLIC_JSON_LIMITS : undefined));
    metrics.trackFastPath(fast);
    connect = withFastUnary(fast, connect);
  }
  return connect;
}
