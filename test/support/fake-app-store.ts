import { createPublicKey, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeProtectedHeader, jwtVerify } from "jose";
import type { TestAppleChain } from "./apple-chain.js";

/** A key registered with the fake, as App Store Connect knows it. */
interface ApiKey {
  issuerId: string;
  bundleId: string;
  publicKey: KeyObject;
}

export type ForcedAnswer = { status: number; body?: unknown; headers?: Record<string, string> };

/**
 * A loopback App Store Server API: Get Transaction Info on
 * `/production/inApps/v1/transactions/{id}` and `/sandbox/…`, each
 * environment its own base URL. It checks the bearer JWT as Apple does
 * (ES256 with a registered key id, issuer, audience appstoreconnect-v1,
 * bid, exp at most 60 minutes after iat) and answers with
 * signedTransactionInfo signed by the local chain, or Apple's error bodies.
 */
export class FakeAppStore {
  private server: Server | undefined;
  private readonly keys = new Map<string, ApiKey>();
  /** environment → transaction id → payload. */
  readonly transactions = { production: new Map<string, Record<string, unknown>>(), sandbox: new Map<string, Record<string, unknown>>() };
  /** Set to answer every request so (401, 429, 500 …). */
  forced: ForcedAnswer | undefined;
  /** Delay before each answer (latency of a real upstream). */
  delayMs = 0;
  readonly requests: Array<{ environment: string; path: string }> = [];
  /** Time spent inside the fake per request, for the benchmark's baseline. */
  readonly serviceMs: number[] = [];
  rejectedTokens = 0;
  url = "";

  constructor(private readonly chain: TestAppleChain) {}

  get productionUrl(): string {
    return `${this.url}/production`;
  }

  get sandboxUrl(): string {
    return `${this.url}/sandbox`;
  }

  registerKey(keyId: string, key: ApiKey): void {
    this.keys.set(keyId, key);
  }

  /** Registers an App Store Connect .p8 (PEM) so the fake accepts tokens it signs. */
  registerPem(keyId: string, issuerId: string, bundleId: string, privateKeyPem: string): void {
    this.registerKey(keyId, { issuerId, bundleId, publicKey: createPublicKey(privateKeyPem) });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const started = performance.now();
      this.handle(req, res)
        .catch(() => send(res, 500, { errorCode: 5000000, errorMessage: "An unknown error occurred." }))
        .finally(() => this.serviceMs.push(performance.now() - started));
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/(production|sandbox)\/inApps\/v1\/transactions\/([^/?]+)$/.exec(req.url ?? "");
    if (req.method !== "GET" || !match) return send(res, 404, { errorCode: 4040000, errorMessage: "Not found." });
    const environment = match[1] as "production" | "sandbox";
    this.requests.push({ environment, path: req.url! });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (!(await this.authorized(req.headers.authorization))) {
      this.rejectedTokens++;
      return send(res, 401, undefined);
    }
    if (this.forced) return send(res, this.forced.status, this.forced.body, this.forced.headers);
    const id = decodeURIComponent(match[2]!);
    if (!/^[0-9]+$/.test(id)) return send(res, 400, { errorCode: 4000006, errorMessage: "Invalid transaction id." });
    const tx = this.transactions[environment].get(id);
    if (!tx) return send(res, 404, { errorCode: 4040010, errorMessage: "Transaction id not found." });
    send(res, 200, { signedTransactionInfo: await this.chain.sign({ ...tx, signedDate: Date.now() }) });
  }

  private async authorized(header: string | undefined): Promise<boolean> {
    const token = /^Bearer (.+)$/.exec(header ?? "")?.[1];
    if (!token) return false;
    try {
      const { kid, alg, typ } = decodeProtectedHeader(token);
      const key = kid ? this.keys.get(kid) : undefined;
      if (!key || alg !== "ES256" || typ !== "JWT") return false;
      const { payload } = await jwtVerify(token, key.publicKey, { algorithms: ["ES256"], issuer: key.issuerId, audience: "appstoreconnect-v1" });
      return payload.bid === key.bundleId && typeof payload.iat === "number" && typeof payload.exp === "number" && payload.exp - payload.iat <= 3600;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}
