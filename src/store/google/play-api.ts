import { SignJWT } from "jose";
import { Pool } from "undici";
import { AppError } from "../../errors.js";
import { jsonObjectOrUndefined } from "../../json.js";
import type { GoogleCredentials } from "../credential-cache.js";

export interface GooglePlaySettings {
  /** Google's OAuth 2.0 token endpoint (https://oauth2.googleapis.com/token). */
  tokenUrl: string;
  /** The Google Play Developer API (https://androidpublisher.googleapis.com). */
  apiBaseUrl: string;
  timeoutMs: number;
  connections?: number;
}

const SCOPE = "https://www.googleapis.com/auth/androidpublisher";
/** A token is renewed this long before Google says it expires. */
const EXPIRY_MARGIN_MS = 60_000;
const DEFAULT_RETRY_AFTER_SECONDS = 60;

/** One call of the Play Developer API: the path below the host, the query, and the JSON body of a POST. */
export interface PlayApiRequest {
  method: "GET" | "POST";
  path: string;
  query?: Array<[string, string]>;
  body?: Record<string, unknown>;
}

export type PlayLookup = { found: true; resource: Record<string, unknown> } | { found: false; errorCode: "purchase_not_found" | "purchase_gone" | "invalid_purchase_token" };

interface CachedToken {
  accessToken: string;
  expiresAt: number;
  /** Which credentials it was made from: a credentials change makes it unusable. */
  identity: string;
}

/**
 * A client of the Google Play Developer API (androidpublisher v3) with
 * service-account OAuth: a JWT assertion signed with the tenant's service
 * account key (jose) is exchanged at the token endpoint; the access token
 * is cached per tenant until shortly before it expires, with one refresh in
 * flight per tenant. The token endpoint is the configured one, never the
 * key file's token_uri (a tenant-supplied URL the service would call).
 */
export class GooglePlayApi {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly refreshing = new Map<string, Promise<CachedToken>>();
  private readonly tokenPool: { pool: Pool; path: string };
  private readonly apiPool: { pool: Pool; prefix: string };
  /** Token exchanges done. */
  tokenExchanges = 0;

  constructor(private readonly settings: GooglePlaySettings) {
    const token = new URL(settings.tokenUrl);
    const api = new URL(settings.apiBaseUrl);
    const poolOptions = { connections: settings.connections ?? 128, keepAliveTimeout: 30_000, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs };
    this.tokenPool = { pool: new Pool(token.origin, poolOptions), path: `${token.pathname}${token.search}` };
    this.apiPool = { pool: new Pool(api.origin, poolOptions), prefix: api.pathname.replace(/\/$/, "") };
  }

  /** purchases.products.get */
  getProduct(tenantId: string, credentials: GoogleCredentials, packageName: string, productId: string, token: string): Promise<PlayLookup> {
    const path = `/androidpublisher/v3/applications/${enc(packageName)}/purchases/products/${enc(productId)}/tokens/${enc(token)}`;
    return this.get(tenantId, credentials, path);
  }

  /** purchases.subscriptionsv2.get */
  getSubscription(tenantId: string, credentials: GoogleCredentials, packageName: string, token: string): Promise<PlayLookup> {
    const path = `/androidpublisher/v3/applications/${enc(packageName)}/purchases/subscriptionsv2/tokens/${enc(token)}`;
    return this.get(tenantId, credentials, path);
  }

  /** Drops a tenant's access token (its credentials changed). */
  forget(tenantId: string): void {
    this.tokens.delete(tenantId);
  }

  async close(): Promise<void> {
    await Promise.all([this.tokenPool.pool.close(), this.apiPool.pool.close()]);
  }

  /**
   * Any other call of the API: Google's JSON answer of a 2xx (an empty
   * object for an empty body), or the AppError of its failure (400 →
   * invalid_argument, 404/410 → not_found, 401/403 → failed_precondition,
   * 409 → failed_precondition, 429 → resource_exhausted with Retry-After,
   * else unavailable). Google's own message is never passed on (it may
   * echo the request); its status name is.
   */
  async call(tenantId: string, credentials: GoogleCredentials, request: PlayApiRequest): Promise<Record<string, unknown>> {
    const { status, body, retryAfter } = await this.request(tenantId, credentials, request);
    if (status >= 200 && status < 300) {
      if (body.trim() === "") return {};
      const json = jsonObjectOrUndefined(body);
      if (!json) throw unavailable(`the Google Play Developer API answered ${status} without a JSON object`);
      return json;
    }
    const googleStatus = googleErrorStatus(body);
    const named = googleStatus ? ` (${googleStatus})` : "";
    switch (status) {
      case 400:
        throw new AppError("invalid_argument", `the Google Play Developer API refused the request${named}`);
      case 404:
      case 410:
        throw new AppError("not_found", `the Google Play Developer API does not know it (${status}${googleStatus ? `, ${googleStatus}` : ""})`);
      case 409:
        throw new AppError("failed_precondition", `the Google Play Developer API refused it in the purchase's current state${named}`);
      case 401:
      case 403:
        throw rejectedAccount();
      case 429:
        throw rateLimited(retryAfter);
      default:
        throw unavailable(`the Google Play Developer API answered ${status}`);
    }
  }

  private async get(tenantId: string, credentials: GoogleCredentials, path: string): Promise<PlayLookup> {
    const { status, body, retryAfter } = await this.request(tenantId, credentials, { method: "GET", path });
    if (status === 200) {
      const resource = jsonObjectOrUndefined(body);
      if (!resource) throw unavailable("the Google Play Developer API answered without a resource");
      return { found: true, resource };
    }
    if (status === 404) return { found: false, errorCode: "purchase_not_found" };
    if (status === 410) return { found: false, errorCode: "purchase_gone" };
    if (status === 400) return { found: false, errorCode: "invalid_purchase_token" };
    if (status === 401 || status === 403) throw rejectedAccount();
    if (status === 429) throw rateLimited(retryAfter);
    throw unavailable(`the Google Play Developer API answered ${status}`);
  }

  /** One request with the tenant's access token; a 401 gets one fresh token exchange and one more try. */
  private async request(tenantId: string, credentials: GoogleCredentials, request: PlayApiRequest, retried = false): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
    const token = await this.accessToken(tenantId, credentials);
    const query = request.query?.length ? `?${new URLSearchParams(request.query).toString()}` : "";
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const answer = await this.send(this.apiPool.pool, {
      method: request.method,
      path: `${this.apiPool.prefix}${request.path}${query}`,
      headers: { authorization: `Bearer ${token.accessToken}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body,
    });
    if (answer.status === 401 && !retried) {
      // A token Google no longer honours (revoked, clock skew): one fresh exchange, then give up.
      if (this.tokens.get(tenantId) === token) this.tokens.delete(tenantId);
      return this.request(tenantId, credentials, request, true);
    }
    return answer;
  }

  private async accessToken(tenantId: string, credentials: GoogleCredentials): Promise<CachedToken> {
    const identity = `${credentials.clientEmail}/${credentials.privateKeyId ?? ""}`;
    const cached = this.tokens.get(tenantId);
    if (cached && cached.identity === identity && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return cached;
    let pending = this.refreshing.get(tenantId);
    if (!pending) {
      pending = this.exchange(credentials, identity)
        .then((token) => {
          this.tokens.set(tenantId, token);
          return token;
        })
        .finally(() => this.refreshing.delete(tenantId));
      this.refreshing.set(tenantId, pending);
    }
    return pending;
  }

  private async exchange(credentials: GoogleCredentials, identity: string): Promise<CachedToken> {
    this.tokenExchanges++;
    const now = Math.floor(Date.now() / 1000);
    let assertion: string;
    try {
      assertion = await new SignJWT({ scope: SCOPE })
        .setProtectedHeader({ alg: "RS256", typ: "JWT", ...(credentials.privateKeyId ? { kid: credentials.privateKeyId } : {}) })
        .setIssuer(credentials.clientEmail)
        .setAudience(this.settings.tokenUrl)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(credentials.privateKey);
    } catch (err) {
      throw new AppError("failed_precondition", "the tenant's Google service account key cannot sign (it must be an RSA key)", { reason: "STORE_CREDENTIALS_REJECTED" }, { cause: err });
    }
    const { status, body, retryAfter } = await this.send(this.tokenPool.pool, {
      method: "POST",
      path: this.tokenPool.path,
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
    });
    if (status === 200) {
      const parsed = jsonObjectOrUndefined(body);
      const accessToken = parsed?.access_token;
      const expiresIn = Number(parsed?.expires_in);
      if (typeof accessToken !== "string" || !Number.isFinite(expiresIn)) throw unavailable("Google's token endpoint answered without a token");
      return { accessToken, expiresAt: Date.now() + expiresIn * 1000, identity };
    }
    if (status === 400 || status === 401 || status === 403) {
      throw new AppError("failed_precondition", "Google refused the tenant's service account (invalid_grant: unknown, disabled or deleted key)", { reason: "STORE_CREDENTIALS_REJECTED" });
    }
    if (status === 429) throw rateLimited(retryAfter);
    throw unavailable(`Google's token endpoint answered ${status}`);
  }

  private async send(pool: Pool, request: { method: "GET" | "POST"; path: string; headers: Record<string, string>; body?: string }) {
    try {
      const res = await pool.request({ ...request, signal: AbortSignal.timeout(this.settings.timeoutMs) });
      const header = res.headers["retry-after"];
      return { status: res.statusCode, body: await res.body.text(), retryAfter: Array.isArray(header) ? header[0] : header };
    } catch (err) {
      throw unavailable("Google could not be reached", err);
    }
  }
}

const enc = encodeURIComponent;

/** Google's error body names a status (INVALID_ARGUMENT, FAILED_PRECONDITION, …); only that is passed on. */
function googleErrorStatus(body: string): string | undefined {
  const error = jsonObjectOrUndefined(body)?.error;
  const status = typeof error === "object" && error !== null ? (error as Record<string, unknown>).status : undefined;
  return typeof status === "string" && /^[A-Z_]{1,64}$/.test(status) ? status : undefined;
}

function rejectedAccount(): AppError {
  return new AppError("failed_precondition", "Google rejected the tenant's service account (no access to the app, or the key was revoked)", { reason: "STORE_CREDENTIALS_REJECTED" });
}

function unavailable(message: string, cause?: unknown): AppError {
  return new AppError("unavailable", message, { retryAfterSeconds: 5, reason: "STORE_UNAVAILABLE" }, { cause });
}

function rateLimited(retryAfter: string | undefined): AppError {
  const seconds = Number(retryAfter);
  return new AppError("resource_exhausted", "the Google Play Developer API rate limit was reached", {
    retryAfterSeconds: Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : DEFAULT_RETRY_AFTER_SECONDS,
    reason: "STORE_RATE_LIMITED",
  });
}
