import type { X509Certificate } from "node:crypto";
import type { Config } from "../config.js";
import type { AppleApiSettings } from "./apple/server-api.js";
import { loadPinnedRoots } from "./apple/certificates.js";
import type { ValidationAuditSettings } from "./audit.js";
import type { GooglePlaySettings } from "./google/play-api.js";
import type { StoreNotificationSettings } from "./notifications.js";

export interface StoreSettings {
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

/** The store module's settings from the configuration. */
export function storeSettings(config: Config): StoreSettings {
  return {
    applePinnedRoots: loadPinnedRoots(config.appleRootCertFiles),
    appleOnlineChecks: config.appleOnlineChecks,
    ocspTimeoutMs: config.appleOcspTimeoutMs,
    credentialCacheMs: config.storeCredentialCacheMs,
    appleApi: { productionUrl: config.appleApiProductionUrl, sandboxUrl: config.appleApiSandboxUrl, timeoutMs: config.storeUpstreamTimeoutMs },
    googlePlay: { tokenUrl: config.googleTokenUrl, apiBaseUrl: config.googlePlayApiUrl, timeoutMs: config.storeUpstreamTimeoutMs },
  };
}

/** The validation audit log's settings (ENABLE_VALIDATION_AUDIT_LOG, ATTESTO_VALIDATION_AUDIT_*). */
export function validationAuditSettings(config: Config): ValidationAuditSettings {
  return { ...config.validationAudit };
}

/** Inbound notifications: Google's OIDC keys and issuers for Pub/Sub push tokens. */
export function storeNotificationSettings(config: Config): StoreNotificationSettings {
  return { googleJwksUrl: config.googleOidcJwksUrl, googleIssuers: config.googleOidcIssuers };
}
