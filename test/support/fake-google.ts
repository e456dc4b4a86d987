import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, SignJWT } from "jose";

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
  async pushToken(
    claims: { aud: string; email: string; email_verified?: boolean; iss?: string; expiresIn?: number },
    opts: { kid?: string; unpublishedKey?: boolean } = {},
  ): Promise<string> {
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
