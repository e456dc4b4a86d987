import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, exportJWK, jwtVerify, SignJWT } from "jose";

export const GOOGLE_ISSUER = "https://accounts.google.com";

/**
 * Loopback stand-ins for Google's public endpoints: the OIDC JWKS that
 * Pub/Sub push tokens are signed with (`/oauth2/v3/certs`), and a signer of
 * such tokens with the keys it publishes.
 */
export class FakeGoogle {
  private server: Server | undefined;
  private readonly keys: Array<{ kid: string; privateKey: KeyObject; publicKey: KeyObject }> = [];
  jwksRequests = 0;
  url = "";

  /** Extra routes of the fakes that build on this one (OAuth token endpoint, androidpublisher). */
  protected route(_req: IncomingMessage, _body: string, _res: ServerResponse): boolean {
    return false;
  }

  async start(): Promise<this> {
    this.addKey("google-key-1");
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void this.handle(req, Buffer.concat(chunks).toString("utf8"), res).catch(() => res.writeHead(500).end());
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get jwksUrl(): string {
    return `${this.url}/oauth2/v3/certs`;
  }

  addKey(kid: string): void {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.keys.push({ kid, privateKey, publicKey });
  }

  private async handle(req: IncomingMessage, body: string, res: ServerResponse): Promise<void> {
    if (req.method === "GET" && req.url === "/oauth2/v3/certs") {
      this.jwksRequests++;
      const keys = await Promise.all(this.keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: "RS256", use: "sig" })));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
      return;
    }
    if (this.route(req, body, res)) return;
    res.writeHead(404).end();
  }

  /** A Pub/Sub push OIDC token as Google mints it; every claim can be overridden (or a foreign key used). */
  async pushToken(claims: { aud: string; email: string; email_verified?: boolean; iss?: string; expiresIn?: number }, opts: { kid?: string; unpublishedKey?: boolean } = {}): Promise<string> {
    const key = opts.unpublishedKey ? { kid: opts.kid ?? "google-key-1", privateKey: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey } : this.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: claims.email, email_verified: claims.email_verified ?? true, sub: "112233445566778899000" })
      .setProtectedHeader({ alg: "RS256", kid: opts.kid ?? key.kid, typ: "JWT" })
      .setIssuer(claims.iss ?? GOOGLE_ISSUER)
      .setAudience(claims.aud)
      .setIssuedAt(now - 10)
      .setExpirationTime(now + (claims.expiresIn ?? 3600))
      .sign(key.privateKey);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A Pub/Sub push body around a DeveloperNotification. */
export function pubsubPush(messageId: string, notification: Record<string, unknown>): string {
  return JSON.stringify({
    message: {
      attributes: {},
      data: Buffer.from(JSON.stringify(notification)).toString("base64"),
      messageId,
      message_id: messageId,
      publishTime: new Date().toISOString(),
      publish_time: new Date().toISOString(),
    },
    subscription: "projects/attesto-test/subscriptions/rtdn",
  });
}

/**
 * Google's OAuth token endpoint (`POST /token`, JWT-bearer grant) and the
 * Play Developer API (`/androidpublisher/v3/…`: products get, acknowledge
 * and consume; subscriptionsv2 get, cancel and revoke; subscriptions
 * acknowledge and defer; orders refund; voidedpurchases list with token
 * paging) on loopback, every request kept in `calls`. The token endpoint checks the assertion
 * against the registered service account keys (iss, aud = its own URL,
 * scope, lifetime ≤ 1 h); the API accepts only the tokens it issued.
 */
export class FakeGooglePlay extends FakeGoogle {
  private readonly accounts = new Map<string, KeyObject>();
  private readonly issued = new Map<string, { email: string; expiresAt: number }>();
  readonly products = new Map<string, Record<string, unknown>>();
  readonly subscriptions = new Map<string, Record<string, unknown>>();
  tokenRequests = 0;
  apiRequests = 0;
  /** Lifetime of issued tokens, seconds. */
  tokenLifetime = 3600;
  forced: { status: number; body?: unknown; headers?: Record<string, string> } | undefined;
  delayMs = 0;
  /** Every androidpublisher request, as sent: method, path, query, JSON body, Authorization header. */
  readonly calls: Array<{ method: string; path: string; query: Record<string, string>; body: Record<string, unknown> | undefined; authorization: string; account?: string }> = [];
  /** Requests whose path matches are answered so (after the token check), before `forced`. */
  refused: { path: RegExp; status: number } | undefined;
  /** Order ids orders.refund knows. */
  readonly orders = new Set<string>();
  /** package name → voided purchases, with the time Google saw each voided. */
  private readonly voided = new Map<string, Array<{ resource: Record<string, unknown>; seenAt: number; subscription: boolean }>>();
  private readonly voidedTokens = new Map<string, { offset: number; start: number; end: number; type: number }>();
  /** Google's page size of voidedpurchases.list (1000); smaller in tests to show paging. */
  voidedPageSize = 1000;

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  registerAccount(email: string, privateKeyPem: string): void {
    this.accounts.set(email, createPublicKey(privateKeyPem));
  }

  /** Makes every issued token unusable (as a revoked key would). */
  revokeTokens(): void {
    this.issued.clear();
  }

  protected override route(req: IncomingMessage, body: string, res: ServerResponse): boolean {
    if (req.method === "POST" && req.url === "/token") {
      this.tokenRequests++;
      void this.token(body).then((answer) => json(res, answer.status, answer.body));
      return true;
    }
    const url = new URL(req.url ?? "/", "http://fake");
    if (!url.pathname.startsWith("/androidpublisher/v3/applications/")) return false;
    this.apiRequests++;
    void (async () => {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const authorization = req.headers.authorization ?? "";
      this.calls.push({
        method: req.method ?? "",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: body === "" ? undefined : (JSON.parse(body) as Record<string, unknown>),
        authorization,
      });
      const bearer = /^Bearer (.+)$/.exec(authorization)?.[1];
      const grant = bearer ? this.issued.get(bearer) : undefined;
      if (!grant || grant.expiresAt < Date.now()) return json(res, 401, googleError(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"));
      this.calls[this.calls.length - 1]!.account = grant.email;
      if (this.refused?.path.test(url.pathname)) return json(res, this.refused.status, googleError(this.refused.status, "Backend Error", "UNAVAILABLE"));
      if (this.forced) return json(res, this.forced.status, this.forced.body ?? {}, this.forced.headers);
      const answer = this.api(req.method ?? "", url);
      if (answer.body === undefined) return res.writeHead(answer.status, { "content-length": 0 }).end();
      json(res, answer.status, answer.body);
    })();
    return true;
  }

  /** The androidpublisher v3 endpoints, as Google documents them (paths, verbs, bodies, tokenPagination). */
  private api(method: string, url: URL): { status: number; body?: unknown } {
    const m = /^\/androidpublisher\/v3\/applications\/([^/]+)\/(.*)$/.exec(url.pathname)!;
    const app = decodeURIComponent(m[1]!);
    const rest = m[2]!;
    const last = this.calls[this.calls.length - 1]!;
    const body = last.body ?? {};
    const notFound = { status: 404, body: googleError(404, "The purchase token was not found.", "NOT_FOUND") };
    const invalid = (message: string) => ({ status: 400, body: googleError(400, message, "INVALID_ARGUMENT") });
    let p: RegExpExecArray | null;
    if ((p = /^purchases\/products\/([^/]+)\/tokens\/([^/:]+)(?::(acknowledge|consume))?$/.exec(rest))) {
      const product = this.products.get(`${app}/${decodeURIComponent(p[1]!)}/${decodeURIComponent(p[2]!)}`);
      if (!product) return notFound;
      if (!p[3] && method === "GET") return { status: 200, body: product };
      if (method !== "POST" || !p[3]) return { status: 405 };
      if (p[3] === "acknowledge") product.acknowledgementState = 1;
      else product.consumptionState = 1;
      return { status: 200 };
    }
    if ((p = /^purchases\/subscriptionsv2\/tokens\/([^/:]+)(?::(cancel|revoke))?$/.exec(rest))) {
      const subscription = this.subscriptions.get(`${app}/${decodeURIComponent(p[1]!)}`);
      if (!subscription) return notFound;
      if (!p[2] && method === "GET") return { status: 200, body: subscription };
      if (method !== "POST" || !p[2]) return { status: 405 };
      if (p[2] === "cancel") {
        subscription.subscriptionState = "SUBSCRIPTION_STATE_CANCELED";
        return { status: 200, body: {} };
      }
      const context = body.revocationContext as Record<string, unknown> | undefined;
      const kinds = Object.keys(context ?? {});
      if (kinds.length !== 1 || !["fullRefund", "proratedRefund"].includes(kinds[0]!)) return invalid("revocationContext must name one of fullRefund, proratedRefund.");
      subscription.subscriptionState = "SUBSCRIPTION_STATE_EXPIRED";
      return { status: 200, body: {} };
    }
    if ((p = /^purchases\/subscriptions\/([^/]+)\/tokens\/([^/:]+):(acknowledge|defer)$/.exec(rest)) && method === "POST") {
      const subscription = this.subscriptions.get(`${app}/${decodeURIComponent(p[2]!)}`);
      if (!subscription) return notFound;
      if (p[3] === "acknowledge") {
        subscription.acknowledgementState = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED";
        return { status: 200 };
      }
      const info = body.deferralInfo as Record<string, unknown> | undefined;
      const item = (subscription.lineItems as Array<Record<string, unknown>> | undefined)?.[0];
      const current = item && typeof item.expiryTime === "string" ? Date.parse(item.expiryTime) : NaN;
      if (!info || Number(info.expectedExpiryTimeMillis) !== current) return invalid("The expected expiry time does not match the subscription's.");
      item!.expiryTime = new Date(Number(info.desiredExpiryTimeMillis)).toISOString();
      return { status: 200, body: { newExpiryTimeMillis: String(info.desiredExpiryTimeMillis) } };
    }
    if ((p = /^orders\/([^/:]+):refund$/.exec(rest)) && method === "POST") {
      if (!this.orders.has(decodeURIComponent(p[1]!))) return { status: 404, body: googleError(404, "Order not found.", "NOT_FOUND") };
      return { status: 200 };
    }
    if (rest === "purchases/voidedpurchases" && method === "GET") return this.voidedPage(app, url.searchParams);
    return { status: 404, body: googleError(404, "Not found.", "NOT_FOUND") };
  }

  /** voidedpurchases.list: startTime/endTime on the time Google saw each voided (at most 30 days back), type, maxResults, token paging. */
  private voidedPage(app: string, q: URLSearchParams): { status: number; body?: unknown } {
    const now = Date.now();
    let offset = 0;
    let start = now - 30 * 86_400_000;
    let end = now;
    let type = 0;
    const token = q.get("token");
    if (token) {
      const page = this.voidedTokens.get(token);
      if (!page) return { status: 400, body: googleError(400, "Invalid pagination token.", "INVALID_ARGUMENT") };
      ({ offset, start, end, type } = page);
    } else {
      if (q.has("startTime")) start = Number(q.get("startTime"));
      if (q.has("endTime")) end = Number(q.get("endTime"));
      type = Number(q.get("type") ?? "0");
      if (!(start >= now - 30 * 86_400_000 - 1000)) return { status: 400, body: googleError(400, "startTime is older than 30 days.", "INVALID_ARGUMENT") };
    }
    const max = Math.min(Number(q.get("maxResults") ?? this.voidedPageSize) || this.voidedPageSize, this.voidedPageSize);
    const matching = (this.voided.get(app) ?? []).filter((v) => v.seenAt >= start && v.seenAt <= end && (type === 1 || !v.subscription));
    const items = matching.slice(offset, offset + max);
    const more = offset + max < matching.length;
    const next = more ? randomBytes(12).toString("base64url") : "";
    if (more) this.voidedTokens.set(next, { offset: offset + max, start, end, type });
    return {
      status: 200,
      body: {
        pageInfo: { totalResults: matching.length, resultPerPage: max, startIndex: offset },
        ...(more ? { tokenPagination: { nextPageToken: next } } : {}),
        voidedPurchases: items.map((v) => v.resource),
      },
    };
  }

  /** Google voids a purchase (a refund, chargeback, cancellation): kept for voidedpurchases.list. */
  addVoided(packageName: string, v: { purchaseToken: string; orderId: string; voidedTimeMillis?: number; subscription?: boolean; voidedReason?: number }): Record<string, unknown> {
    const at = v.voidedTimeMillis ?? Date.now();
    const resource = {
      kind: "androidpublisher#voidedPurchase",
      purchaseToken: v.purchaseToken,
      purchaseTimeMillis: String(at - 3_600_000),
      voidedTimeMillis: String(at),
      orderId: v.orderId,
      voidedSource: 0,
      voidedReason: v.voidedReason ?? 1,
    };
    const list = this.voided.get(packageName) ?? [];
    list.push({ resource, seenAt: at, subscription: v.subscription ?? false });
    this.voided.set(packageName, list);
    return resource;
  }

  private async token(body: string): Promise<{ status: number; body: unknown }> {
    const form = new URLSearchParams(body);
    const assertion = form.get("assertion");
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer" || !assertion) return { status: 400, body: { error: "unsupported_grant_type" } };
    try {
      const { iss } = decodeJwt(assertion);
      const key = typeof iss === "string" ? this.accounts.get(iss) : undefined;
      if (!key) return { status: 400, body: { error: "invalid_grant", error_description: "Invalid JWT Signature." } };
      const { payload } = await jwtVerify(assertion, key, { algorithms: ["RS256"], audience: this.tokenUrl, issuer: iss });
      if (payload.scope !== "https://www.googleapis.com/auth/androidpublisher" || (payload.exp ?? 0) - (payload.iat ?? 0) > 3600) {
        return { status: 400, body: { error: "invalid_scope" } };
      }
      const accessToken = `ya29.${randomBytes(24).toString("base64url")}`;
      this.issued.set(accessToken, { email: iss as string, expiresAt: Date.now() + this.tokenLifetime * 1000 });
      return { status: 200, body: { access_token: accessToken, expires_in: this.tokenLifetime, token_type: "Bearer" } };
    } catch {
      return { status: 400, body: { error: "invalid_grant", error_description: "Invalid JWT Signature." } };
    }
  }
}

const googleError = (code: number, message: string, status: string) => ({ error: { code, message, status } });

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}
