import type { Config } from "../config.js";
import { loadPinnedRoots } from "./apple/certificates.js";
import type { StoreSettings } from "./module.js";
import type { StoreVerificationSettings } from "./verification.js";

/** The store module's settings from the configuration. */
export function storeVerificationSettings(config: Config): StoreVerificationSettings {
  return {
    applePinnedRoots: loadPinnedRoots(config.appleRootCertFiles),
    appleOnlineChecks: config.appleOnlineChecks,
    ocspTimeoutMs: config.appleOcspTimeoutMs,
    credentialCacheMs: config.storeCredentialCacheMs,
    appleApi: { productionUrl: config.appleApiProductionUrl, sandboxUrl: config.appleApiSandboxUrl, timeoutMs: config.storeUpstreamTimeoutMs },
    googlePlay: { tokenUrl: config.googleTokenUrl, apiBaseUrl: config.googlePlayApiUrl, timeoutMs: config.storeUpstreamTimeoutMs },
  };
}

/** The whole store module's settings: verification, inbound notifications (Google's OIDC keys and issuers) and the audit log. */
export function storeSettings(config: Config): StoreSettings {
  return {
    verification: storeVerificationSettings(config),
    notifications: { googleJwksUrl: config.googleOidcJwksUrl, googleIssuers: config.googleOidcIssuers },
    reconcile: { intervalMs: config.storeReconcileIntervalMs, firstWindowMs: config.storeReconcileFirstWindowMs, overlapMs: 5 * 60_000 },
    audit: { ...config.validationAudit },
  };
}
