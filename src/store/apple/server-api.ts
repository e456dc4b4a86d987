import type { KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { Pool } from "undici";
import { AppError } from "../../errors.js";
import { jsonObjectOrUndefined } from "../../json.js";
import type { AppleCredentials } from "../credential-cache.js";

/** The App Store Server API hosts (configurable so tests can run a local one). */
export interface AppleApiSettings {
  productionUrl: string;
  sandboxUrl: string;
  /** Budget of one call (connect, headers, body), retries of 5xx answers included. */
  timeoutMs: number;
  /** Keep-alive connections per host. */
  connections?: number;
  /** Attempts of a call Apple answers 5xx (or drops the connection of); default 3. */
  attempts?: number;
}

export type AppleApiEnvironment = "production" | "sandbox";

/** What Apple answered for a transaction id. */
export type TransactionLookup = { found: true; signedTransactionInfo: string } | { found: false; errorCode: "transaction_not_found" | "invalid_transaction_id" };

/** One call of the App Store Server API: the path below the host, the query, and the JSON body of a POST or PUT. */
export interface AppleApiRequest {
  method: "GET" | "POST" | "PUT";
  path: string;
  query?: Array<[string, string]>;
  body?: Record<string, unknown>;
}

/** Apple's error codes that mean "no such transaction" rather than a failure. */
const NOT_FOUND_CODES = new Set([4040010]);
const INVALID_ID_CODES = new Set([4000006]);
/** How long a token is valid: Apple accepts at most 60 minutes; it is reused until a minute before it ends. */
const TOKEN_TTL_SECONDS = 1200;
const TOKEN_REFRESH_MARGIN_SECONDS = 60;
const DEFAULT_RETRY_AFTER_SECONDS = 60;

/**
 * A client of the App Store Server API, one keep-alive pool per host.
 * Every request carries an ES256 JWT made from the tenant's key (iss, iat,
 * exp, aud appstoreconnect-v1, bid), reused for its lifetime per key.
 * Apple's failures become AppErrors: 401 and 403 → failed_precondition
 * saying what Apple refuses, 404 → not_found, 400 → invalid_argument with
 * Apple's errorCode, 429 → resource_exhausted with Apple's Retry-After,
 * 5xx → retried within the call's budget, then unavailable.
 */
export class AppStoreServerApi {
  private readonly pools: Record<AppleApiEnvironment, { pool: Pool; prefix: string }>;
  /** Per decrypted key (a credential change makes a new key object): the token and when to make a new one. */
  private readonly tokens = new WeakMap<KeyObject, { token: Promise<string>; refreshAt: number; claims: string }>();

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

  /** Get Transaction Info; an unknown or malformed id is an answer, not an error. */
  async getTransactionInfo(credentials: AppleCredentials, environment: AppleApiEnvironment, transactionId: string): Promise<TransactionLookup> {
    const answer = await this.send(credentials, environment, { method: "GET", path: `/inApps/v1/transactions/${encodeURIComponent(transactionId)}` });
    if (answer.status === 200) return { found: true, signedTransactionInfo: requireString(answer.json, "signedTransactionInfo", environment) };
    const errorCode = appleErrorCode(answer.json);
    if (answer.status === 404 && (errorCode === undefined || NOT_FOUND_CODES.has(errorCode))) return { found: false, errorCode: "transaction_not_found" };
    if (answer.status === 400 && errorCode !== undefined && INVALID_ID_CODES.has(errorCode)) return { found: false, errorCode: "invalid_transaction_id" };
    throw failure(answer, environment);
  }

  /** Any call: Apple's JSON answer of a 2xx (an empty object for an empty body), or the AppError of its failure. */
  async call(credentials: AppleCredentials, environment: AppleApiEnvironment, request: AppleApiRequest): Promise<Record<string, unknown>> {
    const answer = await this.send(credentials, environment, request);
    if (answer.status >= 200 && answer.status < 300) {
      if (answer.text === "") return {};
      if (!answer.json)
        throw new AppError("unavailable", `the App Store Server API (${environment}) answered ${answer.status} without a JSON object`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" });
      return answer.json;
    }
    throw failure(answer, environment);
  }

  /** Sends a request, retrying 5xx answers and dropped connections while the budget lasts. */
  private async send(credentials: AppleCredentials, environment: AppleApiEnvironment, request: AppleApiRequest): Promise<Answer> {
    const { pool, prefix } = this.pools[environment];
    const deadline = AbortSignal.timeout(this.settings.timeoutMs);
    const attempts = this.settings.attempts ?? 3;
    const query = request.query?.length ? `?${new URLSearchParams(request.query).toString()}` : "";
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    let last: Answer | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const token = await this.token(credentials);
      try {
        const res = await pool.request({
          method: request.method,
          path: `${prefix}${request.path}${query}`,
          headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body,
          signal: deadline,
        });
        const header = res.headers["retry-after"];
        const text = await res.body.text();
        last = { status: res.statusCode, text, json: jsonObjectOrUndefined(text), retryAfter: Array.isArray(header) ? header[0] : header };
        if (last.status < 500) return last;
      } catch (err) {
        if (deadline.aborted || attempt === attempts) {
          throw new AppError("unavailable", `the App Store Server API (${environment}) could not be reached`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" }, { cause: err });
        }
      }
      if (attempt < attempts && !(await backoff(attempt, deadline))) break;
    }
    if (last) return last;
    throw new AppError("unavailable", `the App Store Server API (${environment}) could not be reached`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" });
  }

  /** The tenant key's bearer token, signed once per lifetime (signing is most of a call's CPU). */
  private token(credentials: AppleCredentials): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims = `${credentials.keyId}|${credentials.issuerId}|${credentials.bundleId}`;
    const cached = this.tokens.get(credentials.privateKey);
    if (cached && cached.refreshAt > now && cached.claims === claims) return cached.token;
    const token = appleApiToken(credentials, now);
    this.tokens.set(credentials.privateKey, { token, refreshAt: now + TOKEN_TTL_SECONDS - TOKEN_REFRESH_MARGIN_SECONDS, claims });
    token.catch(() => this.tokens.delete(credentials.privateKey));
    return token;
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.pools).map(({ pool }) => pool.close()));
  }
}

interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown> | undefined;
  retryAfter: string | undefined;
}

/** Waits before the next attempt (100 ms, 200 ms, … with jitter); false when the budget ends first. */
function backoff(attempt: number, deadline: AbortSignal): Promise<boolean> {
  const ms = 100 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(!deadline.aborted), ms);
    deadline.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

const appleErrorCode = (json: Record<string, unknown> | undefined): number | undefined => (typeof json?.errorCode === "number" ? json.errorCode : undefined);

function requireString(json: Record<string, unknown> | undefined, name: string, environment: AppleApiEnvironment): string {
  const value = json?.[name];
  if (typeof value !== "string") throw new AppError("unavailable", `the App Store Server API (${environment}) answered without ${name}`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" });
  return value;
}

/** Apple's failure answers as the caller's errors, with Apple's numeric errorCode where it sent one. */
function failure(answer: Answer, environment: AppleApiEnvironment): AppError {
  const errorCode = appleErrorCode(answer.json);
  const apple = errorCode === undefined ? "" : ` (Apple errorCode ${errorCode}${typeof answer.json?.errorMessage === "string" ? `: ${answer.json.errorMessage.slice(0, 200)}` : ""})`;
  switch (answer.status) {
    case 401:
      return new AppError(
        "failed_precondition",
        "Apple rejected the tenant's App Store Connect credentials (401): the key may be revoked in App Store Connect, or the key id, issuer id or bundle id does not match it",
        { reason: "STORE_CREDENTIALS_REJECTED" },
      );
    case 403:
      return new AppError("failed_precondition", `Apple refused this app's request (403)${apple}: the app may not be approved on the App Store yet, or the key lacks In-App Purchase access`, {
        reason: "STORE_CREDENTIALS_REJECTED",
      });
    case 404:
      return new AppError("not_found", `the App Store Server API (${environment}) does not know it${apple}`);
    case 400:
    case 409:
    case 422:
      return new AppError("invalid_argument", `the App Store Server API (${environment}) refused the request${apple}`);
    case 429: {
      const seconds = Number(answer.retryAfter);
      return new AppError("resource_exhausted", "the App Store Server API rate limit was reached", {
        retryAfterSeconds: Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : DEFAULT_RETRY_AFTER_SECONDS,
        reason: "STORE_RATE_LIMITED",
      });
    }
    default:
      return new AppError("unavailable", `the App Store Server API (${environment}) answered ${answer.status}${apple}`, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" });
  }
}

/** The bearer token of the App Store Server API. */
export function appleApiToken(credentials: Pick<AppleCredentials, "bundleId" | "keyId" | "issuerId" | "privateKey">, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ bid: credentials.bundleId })
    .setProtectedHeader({ alg: "ES256", kid: credentials.keyId, typ: "JWT" })
    .setIssuer(credentials.issuerId)
    .setIssuedAt(now)
    .setExpirationTime(now + TOKEN_TTL_SECONDS)
    .setAudience("appstoreconnect-v1")
    .sign(credentials.privateKey);
}
