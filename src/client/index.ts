import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { AnchorService } from "../../gen/ts/attesto/v1/anchor_pb.js";
import { ConnectorService } from "../../gen/ts/attesto/v1/connector_pb.js";
import { ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { StoreNotificationService, StoreVerificationService } from "../../gen/ts/attesto/v1/store_pb.js";
import { AppStoreService } from "../../gen/ts/attesto/v1/appstore_pb.js";
import { GooglePlayService } from "../../gen/ts/attesto/v1/googleplay_pb.js";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { VerifierService } from "../../gen/ts/attesto/v1/verifier_pb.js";
import { WebhookService } from "../../gen/ts/attesto/v1/webhook_pb.js";

export interface AttestoClientOptions {
  /** Where the server is, e.g. `https://attesto.example.com` (the RPCs are served at its root). */
  baseUrl: string;
  /** A tenant API key (`atk_…`) or, for `admin`, the operator token; sent as `Authorization: Bearer`. Unset for the public services (verifier). */
  apiKey?: string;
  /**
   * Another transport: e.g. `createGrpcTransport` or `createConnectTransport`
   * from `@connectrpc/connect-node` for HTTP/2 or gRPC in Node. Default: the
   * Connect protocol over `fetch` (`@connectrpc/connect-web`), which works in
   * browsers and in Node. The API key is added to whichever is used.
   */
  transport?: Transport;
  /** More interceptors, run after the one that adds the key (default transport only). */
  interceptors?: Interceptor[];
}

/** Typed clients of every Attesto service over one transport. */
export interface AttestoClient {
  readonly tenant: Client<typeof TenantService>;
  readonly proofstreams: Client<typeof ProofstreamService>;
  readonly webhooks: Client<typeof WebhookService>;
  readonly connectors: Client<typeof ConnectorService>;
  readonly store: Client<typeof StoreVerificationService>;
  readonly storeNotifications: Client<typeof StoreNotificationService>;
  /** The App Store Server API with the tenant's key, every signed item verified. */
  readonly appStore: Client<typeof AppStoreService>;
  /** The Google Play Developer API with the tenant's service account. */
  readonly googlePlay: Client<typeof GooglePlayService>;
  readonly anchors: Client<typeof AnchorService>;
  readonly verifier: Client<typeof VerifierService>;
  /** The operator API (the key must be the operator token). */
  readonly admin: Client<typeof AdminService>;
  readonly transport: Transport;
}

/** Adds `Authorization: Bearer <key>` to every call. */
export const bearer =
  (key: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("Authorization", `Bearer ${key}`);
    return next(req);
  };

/**
 * A client of an Attesto server, usable from Node (≥ 18) and browsers.
 *
 * @example
 * const attesto = createAttestoClient({ baseUrl: "http://127.0.0.1:8080", apiKey: process.env.ATTESTO_API_KEY });
 * const { stream } = await attesto.proofstreams.createStream({ name: "orders" });
 */
export function createAttestoClient(options: AttestoClientOptions): AttestoClient {
  const { apiKey } = options;
  const transport = options.transport
    ? apiKey
      ? withBearer(options.transport, apiKey)
      : options.transport
    : createConnectTransport({ baseUrl: options.baseUrl.replace(/\/+$/, ""), interceptors: [...(apiKey ? [bearer(apiKey)] : []), ...(options.interceptors ?? [])] });
  return {
    tenant: createClient(TenantService, transport),
    proofstreams: createClient(ProofstreamService, transport),
    webhooks: createClient(WebhookService, transport),
    connectors: createClient(ConnectorService, transport),
    store: createClient(StoreVerificationService, transport),
    storeNotifications: createClient(StoreNotificationService, transport),
    appStore: createClient(AppStoreService, transport),
    googlePlay: createClient(GooglePlayService, transport),
    anchors: createClient(AnchorService, transport),
    verifier: createClient(VerifierService, transport),
    admin: createClient(AdminService, transport),
    transport,
  };
}

/** The given transport with `Authorization: Bearer <key>` on every call. */
function withBearer(inner: Transport, key: string): Transport {
  const headers = (init: HeadersInit | undefined) => {
    const h = new Headers(init);
    h.set("Authorization", `Bearer ${key}`);
    return h;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => inner.unary(method, signal, timeoutMs, headers(header), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) => inner.stream(method, signal, timeoutMs, headers(header), input, contextValues),
  };
}
