import type { JsonObject } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { AppleEnvironment, StoreEnvironment as StoreEnvironmentEnum } from "../../gen/ts/attesto/v1/common_pb.js";
import {
  AppleSignedDataKind,
  PurchaseKind as PurchaseKindEnum,
  PurchaseStatus as PurchaseStatusEnum,
  VerifiedPurchaseSchema,
  type VerifiedPurchase as VerifiedPurchaseMsg,
  type VerifyGooglePurchaseRequest,
} from "../../gen/ts/attesto/v1/store_pb.js";
import { AppError } from "../errors.js";
import type { AppleSignedDataResult } from "../store/module.js";
import type { PurchaseKind, PurchaseStatus, StoreEnvironment, VerifiedPurchase } from "../store/module.js";
import { ts } from "./timestamps.js";

// The store contract's messages from and to the store module's values: one
// mapping for both edges (StoreVerificationService and /v1/apple, /v1/google).

/** The request as the domain's input. */
export function googleInput(req: VerifyGooglePurchaseRequest) {
  if (req.kind !== PurchaseKindEnum.PRODUCT && req.kind !== PurchaseKindEnum.SUBSCRIPTION) {
    throw new AppError("invalid_argument", "kind: must be PURCHASE_KIND_PRODUCT or PURCHASE_KIND_SUBSCRIPTION", { field: "kind" });
  }
  return {
    packageName: req.packageName,
    productId: req.productId,
    purchaseToken: req.purchaseToken,
    kind: req.kind === PurchaseKindEnum.PRODUCT ? ("product" as const) : ("subscription" as const),
  };
}

/** The contract's environment as the domain's; UNSPECIFIED is "not said". */
export function environmentOf(env: AppleEnvironment): StoreEnvironment | undefined {
  switch (env) {
    case AppleEnvironment.PRODUCTION:
      return "production";
    case AppleEnvironment.SANDBOX:
      return "sandbox";
    case AppleEnvironment.XCODE:
      return "xcode";
    case AppleEnvironment.LOCAL_TESTING:
      return "local_testing";
    case AppleEnvironment.UNSPECIFIED:
      return undefined;
    default:
      throw new AppError("invalid_argument", "environment: unknown value", { field: "environment" });
  }
}

/** The App Store Server API host a lookup asks; UNSPECIFIED is "Production, then Sandbox". */
export function apiEnvironmentOf(env: AppleEnvironment): "production" | "sandbox" | undefined {
  const environment = environmentOf(env);
  if (environment === "xcode" || environment === "local_testing") {
    throw new AppError("invalid_argument", "environment: must be PRODUCTION, SANDBOX or unset (Xcode and local testing have no App Store Server API)", { field: "environment" });
  }
  return environment;
}

const KINDS: Record<PurchaseKind, PurchaseKindEnum> = { product: PurchaseKindEnum.PRODUCT, subscription: PurchaseKindEnum.SUBSCRIPTION };
const STATUSES: Record<PurchaseStatus, PurchaseStatusEnum> = {
  active: PurchaseStatusEnum.ACTIVE,
  expired: PurchaseStatusEnum.EXPIRED,
  in_grace_period: PurchaseStatusEnum.IN_GRACE_PERIOD,
  on_hold: PurchaseStatusEnum.ON_HOLD,
  paused: PurchaseStatusEnum.PAUSED,
  pending: PurchaseStatusEnum.PENDING,
  revoked: PurchaseStatusEnum.REVOKED,
};
const ENVIRONMENTS: Record<StoreEnvironment, StoreEnvironmentEnum> = {
  production: StoreEnvironmentEnum.PRODUCTION,
  sandbox: StoreEnvironmentEnum.SANDBOX,
  xcode: StoreEnvironmentEnum.XCODE,
  local_testing: StoreEnvironmentEnum.LOCAL_TESTING,
};
const SIGNED_KINDS = {
  transaction: AppleSignedDataKind.TRANSACTION,
  renewal_info: AppleSignedDataKind.RENEWAL_INFO,
  notification: AppleSignedDataKind.NOTIFICATION,
} as const;

export function purchaseMsg(p: VerifiedPurchase): VerifiedPurchaseMsg {
  return create(VerifiedPurchaseSchema, {
    valid: p.valid,
    errorCode: p.errorCode,
    status: p.status ? STATUSES[p.status] : PurchaseStatusEnum.UNSPECIFIED,
    kind: p.kind ? KINDS[p.kind] : PurchaseKindEnum.UNSPECIFIED,
    productId: p.productId,
    transactionId: p.transactionId,
    originalTransactionId: p.originalTransactionId,
    appId: p.appId,
    purchasedAt: ts(p.purchasedAt),
    expiresAt: ts(p.expiresAt),
    revokedAt: ts(p.revokedAt),
    autoRenewing: p.autoRenewing,
    quantity: p.quantity,
    environment: p.environment ? ENVIRONMENTS[p.environment] : StoreEnvironmentEnum.UNSPECIFIED,
    appAccountToken: p.appAccountToken,
    obfuscatedAccountId: p.obfuscatedAccountId,
    purchaseToken: p.purchaseToken,
    acknowledged: p.acknowledged,
  });
}

export function appleSignedDataMsg(r: AppleSignedDataResult) {
  return {
    purchase: purchaseMsg(r.purchase),
    kind: r.kind ? SIGNED_KINDS[r.kind] : AppleSignedDataKind.UNSPECIFIED,
    payload: r.payload as JsonObject | undefined,
    signedAt: ts(r.signedAt),
    notificationType: r.notificationType,
    notificationSubtype: r.notificationSubtype,
    notificationUuid: r.notificationUuid,
  };
}
