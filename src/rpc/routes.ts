import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { WebhookService } from "../../gen/ts/attesto/v1/webhook_pb.js";
import { StoreNotificationService, StoreVerificationService } from "../../gen/ts/attesto/v1/store_pb.js";
import type { AppStoreCalls, GooglePlayCalls, StoreNotifications, StoreReconciler } from "../store/module.js";
import { AppStoreService } from "../../gen/ts/attesto/v1/appstore_pb.js";
import { appStoreService } from "./appstore-service.js";
import { GooglePlayService } from "../../gen/ts/attesto/v1/googleplay_pb.js";
import { googlePlayService } from "./googleplay-service.js";
import { storeNotificationService } from "./store-notification-service.js";
import type { StoreVerification } from "../store/module.js";
import { storeVerificationService } from "./store-service.js";
import { ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { ConnectorService } from "../../gen/ts/attesto/v1/connector_pb.js";
import type { Connectors } from "../connectors/module.js";
import { connectorService } from "./connector-service.js";
import type { Bundles, Proofstreams } from "../proofstream/module.js";
import { proofstreamService } from "./proofstream-service.js";
import { VerifierService } from "../../gen/ts/attesto/v1/verifier_pb.js";
import { bundleHandlers } from "./bundle-handlers.js";
import { verifierService } from "./verifier-service.js";
import { adminService, type AdminDeps } from "./admin-service.js";
import { AnchorService } from "../../gen/ts/attesto/v1/anchor_pb.js";
import type { Anchoring } from "../anchoring/module.js";
import type { Verifier } from "../verifier/module.js";
import { anchorService } from "./anchor-service.js";
import { authInterceptor, deadlineInterceptor, errorInterceptor, tracingInterceptor, validationInterceptor } from "./interceptors.js";
import { tracingEnabled } from "../infra/tracing.js";
import type { Logger } from "../logger.js";
import { tenantService } from "./tenant-service.js";
import { webhookService } from "./webhook-service.js";
import type { Webhooks } from "../webhooks/module.js";
import type { RateLimits } from "../ratelimit/module.js";
import { rateLimitInterceptor } from "./ratelimit.js";

export interface RpcDeps extends AdminDeps {
  logger: Logger;
  webhooks: Webhooks;
  proofstreams: Proofstreams;
  rateLimits: RateLimits;
  store: StoreVerification;
  storeNotifications: StoreNotifications;
  appStore: AppStoreCalls;
  googlePlay: GooglePlayCalls;
  reconciler: StoreReconciler;
  connectors: Connectors;
  bundles: Bundles;
  anchoring: Anchoring;
  verifier: Verifier;
  /** Server-side deadline of a unary call (0: none). */
  requestDeadlineMs: number;
}

/** Interceptors, outermost first: errors are mapped last, the deadline covers everything else, auth runs before the rate limit, the rate limit before validation. */
export const rpcInterceptors = (deps: RpcDeps): Interceptor[] => [
  // Outermost, so the span covers the whole call and its mapped error; only while tracing is on.
  ...(tracingEnabled() ? [tracingInterceptor] : []),
  errorInterceptor(deps.logger),
  deadlineInterceptor(deps.requestDeadlineMs),
  authInterceptor(deps.tenancy.authenticator),
  rateLimitInterceptor(deps.rateLimits),
  validationInterceptor,
];

export function rpcRoutes(deps: RpcDeps) {
  return (router: ConnectRouter) => {
    router.service(AdminService, adminService(deps));
    router.service(TenantService, tenantService(deps));
    router.service(WebhookService, webhookService(deps));
    router.service(ProofstreamService, { ...proofstreamService(deps), ...bundleHandlers(deps) });
    router.service(VerifierService, verifierService(deps.verifier));
    router.service(StoreVerificationService, storeVerificationService(deps));
    router.service(StoreNotificationService, storeNotificationService(deps));
    router.service(AppStoreService, appStoreService(deps));
    router.service(GooglePlayService, googlePlayService(deps));
    router.service(ConnectorService, connectorService(deps));
    router.service(AnchorService, anchorService(deps));
  };
}
