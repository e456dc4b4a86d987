import { SignJWT } from "jose";
import { Pool } from "undici";
import { AppError } from "../../errors.js";
import { jsonObjectOrUndefined } from "../../json.js";
import type { AppleCredentials } from "../credential-cache.js";

/** The App Store Server API hosts (configurable so tests can run a local one). */
export interface AppleApiSettings {
  productionUrl: string;
  sandboxUrl: string;
  /** Budget of one upstream request (connect, headers, body). */
  timeoutMs: number;
  /** Keep-alive connections per host. */
  connections?: number;
}

export type AppleApiEnvironment = "production" | "sandbox";

/** What Apple answered for a transaction id. */
export type TransactionLookup = { found: true; signedTransactionInfo: string } | { found: false; errorCode: "transaction_not_found" | "invalid_transaction_id" };

/** Apple's error codes that mean "no such transaction" rather than a failure. */
const NOT_FOUND_CODES = new Set([4040010]);
const INVALID_ID_CODES = new Set([4000006]);
/** How long a token is valid: Apple accepts at most 60 minutes; a lookup needs seconds. */
const TOKEN_TTL_SECONDS = 300;
const DEFAULT_RETRY_AFTER_SECONDS = 60;

/**
 * A client of the App Store Server API (Get Transaction Info), one
 * keep-alive pool per host. Every request carries a fresh ES256 JWT made
 * from the tenant's key (iss, iat, exp, aud appstoreconnect-v1, bid).
 * Apple's failures become AppErrors: 401 → failed_precondition naming the
 * credentials, 429 → resource_exhausted with retry info, 5xx and timeouts →
 * unavailable.
 */
export class AppStoreServerApi {
  private readonly pools: Record<AppleApiEnvironment, { pool: Pool; prefix: string }>;

  constructor(private readonly settings: AppleApiSettings) {
    const poolFor = (base: string) => {
      const url = new URL(base);
      return {
        pool: new Pool(url.origin, { connections: settings.connections ?? 128, keepAliveTimeout: 30_000, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs }),
        prefix: url.pathname.replace(/\/$/, ""),
      };
    };
    this.pools = { production: poolFor(settings.productionUrl), sandbox: poolFor(settings.sandboxUrl) };
  }

  async getTransactionInfo(credentials: AppleCredentials, environment: AppleApiEnvironment, transactionId: string): Promise<TransactionLookup> {
    const { pool, prefix } = this.pools[environment];
    const token = await appleApiToken(credentials);
    let status: number;
    let body: string;
    let retryAfter: string | undefined;
    try {
      const res = await pool.request({
        method: "GET",
        path: `${prefix}/inApps/v1/transactions/${encodeURIComponent(transactionId)}`,
        headers: { authorization: `Bearer ${token}`, accept: "application/json" },
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      status = res.statusCode;
      const header = res.headers["retry-after"];
      retryAfter = Array.isArray(header) ? header[0] : header;
      body = await res.body.text();
    } catch (err) {
      throw new AppError("unavailable", `the App Store Server API (${environment}) could not be reached`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" }, { cause: err });
    }
    if (status === 200) {
      const parsed = jsonObjectOrUndefined(body);
      if (typeof parsed?.signedTransactionInfo !== "string") {
        throw new AppError("unavailable", `the App Store Server API (${environment}) answered without signedTransactionInfo`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" });
      }
      return { found: true, signedTransactionInfo: parsed.signedTransactionInfo };
    }
    const reported = jsonObjectOrUndefined(body)?.errorCode;
    const errorCode = typeof reported === "number" ? reported : undefined;
    if (status === 404 && (errorCode === undefined || NOT_FOUND_CODES.has(errorCode))) return { found: false, errorCode: "transaction_not_found" };
    if (status === 400 && errorCode !== undefined && INVALID_ID_CODES.has(errorCode)) return { found: false, errorCode: "invalid_transaction_id" };
    if (status === 401) {
      throw new AppError("failed_precondition", "Apple rejected the tenant's App Store Connect credentials (key id, issuer id or private key)", {
        reason: "STORE_CREDENTIALS_REJECTED",
      });
    }
    if (status === 429) {
      const seconds = Number(retryAfter);
      throw new AppError("resource_exhausted", "the App Store Server API rate limit was reached", {
        retryAfterSeconds: Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : DEFAULT_RETRY_AFTER_SECONDS,
        reason: "STORE_RATE_LIMITED",
      });
    }
    throw new AppError("unavailable", `the App Store Server API (${environment}) answered ${status}${errorCode ? ` (errorCode ${errorCode})` : ""}`, {
      retryAfterSeconds: 5,
      reason: "STORE_UNAVAILABLE",
    });
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.pools).map(({ pool }) => pool.close()));
  }
}

/** The per-request bearer token of the App Store Server API. */
export function appleApiToken(credentials: AppleCredentials, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ bid: credentials.bundleId })
    .setProtectedHeader({ alg: "ES256", kid: credentials.keyId, typ: "JWT" })
    .setIssuer(credentials.issuerId)
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_TTL_SECONDS)
    .setAudience("appstoreconnect-v1")
    .sign(credentials.privateKey);
}
