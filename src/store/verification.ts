import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { Logger } from "../logger.js";
import { AppleJwsVerifier, type AppleEnvironmentName, type AppleExpectation, type VerifiedAppleJws } from "./apple/jws-verifier.js";
import { AppleJwsRejection } from "./apple/rejection.js";
import { OcspChecker } from "./apple/ocsp.js";
import { AppStoreServerApi, type AppleApiEnvironment, type AppleApiSettings } from "./apple/server-api.js";
import type { X509Certificate } from "node:crypto";
import type { GooglePlaySettings } from "./google/play-api.js";
import { AppError } from "../errors.js";
import { isObject } from "../json.js";
import { GooglePlayApi } from "./google/play-api.js";
import { StoreCredentialCache, STORE_CREDENTIALS_EVICT_CHANNEL } from "./credential-cache.js";
import {
  deleteStoreCredentials,
  getStoreCredentialsInfo,
  putAppleCredentials,
  putGoogleCredentials,
  type AppleCredentialsInfo,
  type GoogleCredentialsInfo,
  type PutAppleCredentials,
  type PutGoogleCredentials,
} from "./credentials.js";
import {
  appleEnvironmentName,
  applePurchaseFromRenewalInfo,
  applePurchaseFromTransaction,
  googlePurchaseFromProduct,
  googlePurchaseFromSubscription,
  invalidPurchase,
  storeEnvironmentOfApple,
  type StoreEnvironment,
  type VerifiedPurchase,
} from "./purchase.js";

export interface StoreVerificationSettings {
  /** Trust anchors of Apple-signed data (Apple Root CA G3 by default). */
  applePinnedRoots: X509Certificate[];
  /** Judge certificates at now with OCSP instead of at the payload's signedDate. */
  appleOnlineChecks: boolean;
  /** Budget of one OCSP request. */
  ocspTimeoutMs: number;
  /** How long decrypted credentials stay cached. */
  credentialCacheMs: number;
  /** App Store Server API hosts and upstream timeout. */
  appleApi: AppleApiSettings;
  /** Google OAuth token endpoint, Play Developer API and upstream timeout. */
  googlePlay: GooglePlaySettings;
}

export interface StoreVerificationDeps {
  db: Db;
  keyring: Keyring;
  /** Credential evictions to and from the other instances (none: a CLI without Redis). */
  broadcast?: Broadcast;
  logger: Logger;
  /** Receives a record of each verification after its answer (the validation audit). */
  verificationObserver?: VerificationObserver;
}

/** What the validation audit (issue 8 item 9) records of one verification. */
export interface VerificationRecord {
  tenantId: string;
  source: "apple" | "google";
  /** The looked-up identifier (transaction id, purchase token); the audit stores only a keyed hash of it. */
  identifier: string;
  valid: boolean;
  errorCode: string;
  latencyMs: number;
}

export interface VerificationObserver {
  record(record: VerificationRecord): void;
}

export interface AppleTransactionResult {
  purchase: VerifiedPurchase;
  /** The decoded signedTransactionInfo, Apple's field names; unset when there was none. */
  raw: Record<string, unknown> | undefined;
}

export interface GooglePurchaseResult {
  purchase: VerifiedPurchase;
  /** The androidpublisher answer, Google's field names; unset when there was none. */
  raw: Record<string, unknown> | undefined;
}

export type AppleSignedDataKind = "transaction" | "renewal_info" | "notification";

export interface AppleSignedDataResult {
  purchase: VerifiedPurchase;
  kind: AppleSignedDataKind | undefined;
  /** The decoded payload (a notification's nested JWS decoded in place); unset when not valid. */
  payload: Record<string, unknown> | undefined;
  signedAt: Date | undefined;
  notificationType: string;
  notificationSubtype: string;
  notificationUuid: string;
}

/**
 * Store verification: App Store and Google Play purchases checked with the
 * tenant's own credentials, and Apple-signed data verified offline. Owns the
 * credential cache and its cross-instance eviction.
 */
export class StoreVerification {
  readonly credentials: StoreCredentialCache;
  readonly appleJws: AppleJwsVerifier;
  /** The App Store Server API client (its token cache and keep-alive pools), shared with the App Store calls. */
  readonly appleApi: AppStoreServerApi;
  /** The Google Play Developer API client, with its per-tenant OAuth token cache. */
  readonly googlePlay: GooglePlayApi;

  constructor(
    private readonly deps: StoreVerificationDeps,
    settings: StoreVerificationSettings,
  ) {
    this.credentials = new StoreCredentialCache(deps.db, deps.keyring, { ttlMs: settings.credentialCacheMs });
    this.appleJws = new AppleJwsVerifier({
      pinnedRoots: settings.applePinnedRoots,
      ocsp: settings.appleOnlineChecks ? new OcspChecker({ timeoutMs: settings.ocspTimeoutMs }) : undefined,
    });
    this.appleApi = new AppStoreServerApi(settings.appleApi);
    this.googlePlay = new GooglePlayApi(settings.googlePlay);
  }

  /** Listens for credential changes made by any instance or the CLI. */
  async start(): Promise<void> {
    await this.deps.broadcast?.subscribe(STORE_CREDENTIALS_EVICT_CHANNEL, (tenantId) => this.evict(tenantId || undefined));
  }

  async close(): Promise<void> {
    await this.appleApi.close();
    await this.googlePlay.close();
  }

  /** Seals and stores a tenant's App Store Server API credentials; every instance drops its cached copy at once. */
  async putAppleCredentials(tenantId: string, input: PutAppleCredentials): Promise<AppleCredentialsInfo> {
    const info = await putAppleCredentials(this.deps.db, this.deps.keyring, tenantId, input);
    this.#credentialsChanged(tenantId);
    return info;
  }

  /** Seals and stores a tenant's Google Play service account; every instance drops its cached copy at once. */
  async putGoogleCredentials(tenantId: string, input: PutGoogleCredentials): Promise<GoogleCredentialsInfo> {
    const info = await putGoogleCredentials(this.deps.db, this.deps.keyring, tenantId, input);
    this.#credentialsChanged(tenantId);
    return info;
  }

  /** What is stored of a tenant's credentials (never the secrets). */
  credentialsInfo(tenantId: string): Promise<{ apple?: AppleCredentialsInfo; google?: GoogleCredentialsInfo }> {
    return getStoreCredentialsInfo(this.deps.db, tenantId);
  }

  async deleteCredentials(tenantId: string, store: "apple" | "google"): Promise<void> {
    await deleteStoreCredentials(this.deps.db, tenantId, store);
    this.#credentialsChanged(tenantId);
  }

  /** After a put or delete: drops the tenant's credentials here at once and everywhere else by broadcast. */
  #credentialsChanged(tenantId: string): void {
    this.evict(tenantId);
    this.deps.broadcast?.publish(STORE_CREDENTIALS_EVICT_CHANNEL, tenantId);
  }

  /**
   * Verifies an Apple-signed JWS without calling Apple. `environment`
   * unset: the environment of the tenant's Apple credentials when it has
   * them, else any. The bundle id must be the credentials' when it has them.
   */
  async verifyAppleSignedData(tenantId: string, input: { signedData: string; environment?: StoreEnvironment }): Promise<AppleSignedDataResult> {
    const started = performance.now();
    const expect = await this.appleExpectation(tenantId, input.environment);
    const result = await this.decodeAppleSignedData(input.signedData, expect);
    const identifier = result.purchase.transactionId || result.purchase.originalTransactionId || result.notificationUuid;
    this.#afterAnswer(tenantId, "apple", identifier, result.purchase, started);
    return result;
  }

  /**
   * Looks a transaction up with the App Store Server API and verifies the
   * signedTransactionInfo it answers. `environment` unset: Production first,
   * Sandbox when Production does not know the id.
   */
  async verifyAppleTransaction(tenantId: string, input: { transactionId: string; environment?: AppleApiEnvironment }): Promise<AppleTransactionResult> {
    const started = performance.now();
    const credentials = await this.credentials.apple(tenantId);
    if (!credentials) {
      throw new AppError("failed_precondition", "the tenant has no Apple credentials (AdminService.PutAppleCredentials)", { reason: "STORE_CREDENTIALS_MISSING" });
    }
    // Unnamed: the hosts of the environments the tenant accepts, Production first.
    const hosts: AppleApiEnvironment[] = input.environment ? [input.environment] : (["production", "sandbox"] as const).filter((e) => credentials.acceptedEnvironments.includes(e));
    let result: AppleTransactionResult = { purchase: invalidPurchase("transaction_not_found"), raw: undefined };
    for (const environment of hosts) {
      const lookup = await this.appleApi.getTransactionInfo(credentials, environment, input.transactionId);
      if (!lookup.found) {
        result = { purchase: invalidPurchase(lookup.errorCode), raw: undefined };
        if (lookup.errorCode === "transaction_not_found") continue;
        break;
      }
      // Apple's own answer is checked like any signed data; a malformed one is a bad signature, not the caller's fault.
      const decoded = await this.decodeAppleSignedData(lookup.signedTransactionInfo, {
        bundleId: credentials.bundleId,
        environment: appleEnvironmentName(environment),
      }).catch((err: unknown) => {
        if (err instanceof AppError && err.code === "invalid_argument") return rejected(new AppleJwsRejection("signature_invalid", "Apple's answer is not a JWS"));
        throw err;
      });
      result = { purchase: decoded.purchase, raw: decoded.payload };
      break;
    }
    this.#afterAnswer(tenantId, "apple", input.transactionId, result.purchase, started);
    return result;
  }

  /**
   * Looks a Google Play purchase up: purchases.products.get for a one-time
   * product, purchases.subscriptionsv2.get for a subscription. The package
   * name defaults to the credentials'.
   */
  async verifyGooglePurchase(tenantId: string, input: { packageName?: string; productId?: string; purchaseToken: string; kind: "product" | "subscription" }): Promise<GooglePurchaseResult> {
    const started = performance.now();
    if (input.kind === "product" && !input.productId) throw new AppError("invalid_argument", "product_id: is required for PRODUCT", { field: "product_id" });
    const credentials = await this.credentials.google(tenantId);
    if (!credentials) {
      throw new AppError("failed_precondition", "the tenant has no Google credentials (AdminService.PutGoogleCredentials)", { reason: "STORE_CREDENTIALS_MISSING" });
    }
    const packageName = input.packageName ?? credentials.packageName;
    const ids = { packageName, purchaseToken: input.purchaseToken };
    const lookup =
      input.kind === "product"
        ? await this.googlePlay.getProduct(tenantId, credentials, packageName, input.productId!, input.purchaseToken)
        : await this.googlePlay.getSubscription(tenantId, credentials, packageName, input.purchaseToken);
    const result: GooglePurchaseResult = !lookup.found
      ? { purchase: invalidPurchase(lookup.errorCode, { purchaseToken: input.purchaseToken, appId: packageName }), raw: undefined }
      : {
          purchase:
            input.kind === "product"
              ? googlePurchaseFromProduct(lookup.resource, { ...ids, productId: input.productId! })
              : googlePurchaseFromSubscription(lookup.resource, { ...ids, productId: input.productId }),
          raw: lookup.resource,
        };
    this.#afterAnswer(tenantId, "google", input.purchaseToken, result.purchase, started);
    return result;
  }

  /** Drops what is cached from a tenant's credentials (or everyone's): decrypted keys and Google access tokens. */
  private evict(tenantId?: string): void {
    this.credentials.evict(tenantId);
    if (tenantId) this.googlePlay.forget(tenantId);
  }

  /**
   * What a tenant's Apple-signed data must match: its credentials' bundle id,
   * and the environment the caller names, else one of those the tenant
   * accepts (both by default; any without credentials).
   */
  async appleExpectation(tenantId: string, environment: StoreEnvironment | undefined): Promise<AppleExpectation> {
    const credentials = await this.credentials.apple(tenantId);
    const accepted = credentials?.acceptedEnvironments.map((e) => appleEnvironmentName(e)!);
    return { bundleId: credentials?.bundleId, environment: environment ? appleEnvironmentName(environment) : accepted };
  }

  /** Verifies a JWS and, for a notification, its nested signedTransactionInfo and signedRenewalInfo. */
  async decodeAppleSignedData(signedData: string, expect: AppleExpectation, field = "signed_data"): Promise<AppleSignedDataResult> {
    let top: VerifiedAppleJws;
    try {
      top = await this.appleJws.verify(signedData, expect, field);
    } catch (err) {
      if (err instanceof AppleJwsRejection) return rejected(err);
      throw err;
    }
    const payload = top.payload;
    if (typeof payload.notificationType === "string") {
      const data = isObject(payload.data) ? { ...payload.data } : undefined;
      let purchase = invalidPurchase("", { valid: true, appId: stringOf(data?.bundleId), environment: storeEnvironmentOfApple(data?.environment) });
      if (data) {
        // The nested payloads must come from the notification's own app and environment.
        const nestedExpect: AppleExpectation = { bundleId: expect.bundleId ?? top.bundleId, environment: (top.environment as AppleEnvironmentName | undefined) ?? expect.environment };
        for (const [name, normalize] of [
          ["signedRenewalInfo", applePurchaseFromRenewalInfo],
          ["signedTransactionInfo", applePurchaseFromTransaction],
        ] as const) {
          const nested = data[name];
          if (nested === undefined) continue;
          if (typeof nested !== "string") return rejected(new AppleJwsRejection("signature_invalid", `${name} is not a JWS`));
          try {
            const verified = await this.appleJws.verify(nested, nestedExpect, field);
            data[name] = verified.payload;
            purchase = normalize(verified.payload);
          } catch (err) {
            if (err instanceof AppleJwsRejection) return rejected(err);
            throw err;
          }
        }
      }
      return {
        purchase,
        kind: "notification",
        payload: data ? { ...payload, data } : payload,
        signedAt: top.signedAt,
        notificationType: payload.notificationType,
        notificationSubtype: stringOf(payload.subtype),
        notificationUuid: stringOf(payload.notificationUUID),
      };
    }
    const kind: AppleSignedDataKind | undefined =
      payload.transactionId !== undefined ? "transaction" : payload.autoRenewProductId !== undefined || payload.autoRenewStatus !== undefined ? "renewal_info" : undefined;
    const purchase =
      kind === "transaction"
        ? applePurchaseFromTransaction(payload)
        : kind === "renewal_info"
          ? applePurchaseFromRenewalInfo(payload)
          : invalidPurchase("", { valid: true, appId: top.bundleId ?? "", environment: storeEnvironmentOfApple(top.environment) });
    return { purchase, kind, payload, signedAt: top.signedAt, notificationType: "", notificationSubtype: "", notificationUuid: "" };
  }

  /**
   * The one place a verification is recorded, after its answer is computed;
   * the observer runs on a later tick so it can neither fail nor slow the
   * answer.
   */
  #afterAnswer(tenantId: string, source: VerificationRecord["source"], identifier: string, purchase: VerifiedPurchase, started: number): void {
    const observer = this.deps.verificationObserver;
    if (!observer) return;
    const record: VerificationRecord = { tenantId, source, identifier, valid: purchase.valid, errorCode: purchase.errorCode, latencyMs: performance.now() - started };
    setImmediate(() => {
      try {
        observer.record(record);
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, "verification observer failed");
      }
    });
  }
}

function rejected(err: AppleJwsRejection): AppleSignedDataResult {
  return { purchase: invalidPurchase(err.reason), kind: undefined, payload: undefined, signedAt: undefined, notificationType: "", notificationSubtype: "", notificationUuid: "" };
}

const stringOf = (v: unknown): string => (typeof v === "string" ? v : "");
