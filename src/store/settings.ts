import type { X509Certificate } from "node:crypto";
import type { Config } from "../config.js";
import type { AppleApiSettings } from "./apple/server-api.js";
import { loadPinnedRoots } from "./apple/certificates.js";
import type { GooglePlaySettings } from "./google/play-api.js";
import type { StoreSettings } from "./module.js";

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
    audit: { ...config.validationAudit },
  };
}
