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
 * Play Developer API (`/androidpublisher/v3/…` products and
 * subscriptionsv2) on loopback. The token endpoint checks the assertion
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
    const product = /^\/androidpublisher\/v3\/applications\/([^/]+)\/purchases\/products\/([^/]+)\/tokens\/([^/]+)$/.exec(req.url ?? "");
    const subscription = /^\/androidpublisher\/v3\/applications\/([^/]+)\/purchases\/subscriptionsv2\/tokens\/([^/]+)$/.exec(req.url ?? "");
    if (req.method !== "GET" || (!product && !subscription)) return false;
    this.apiRequests++;
    void (async () => {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const grant = bearer ? this.issued.get(bearer) : undefined;
      if (!grant || grant.expiresAt < Date.now()) return json(res, 401, { error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } });
      if (this.forced) return json(res, this.forced.status, this.forced.body ?? {}, this.forced.headers);
      const key = product
        ? `${decodeURIComponent(product[1]!)}/${decodeURIComponent(product[2]!)}/${decodeURIComponent(product[3]!)}`
        : `${decodeURIComponent(subscription![1]!)}/${decodeURIComponent(subscription![2]!)}`;
      const found = (product ? this.products : this.subscriptions).get(key);
      if (!found) return json(res, 404, { error: { code: 404, message: "The purchase token was not found.", status: "NOT_FOUND" } });
      json(res, 200, found);
    })();
    return true;
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

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}
