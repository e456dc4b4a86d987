import { createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { TestAppleChain } from "./apple-chain.js";

/** A key registered with the fake, as App Store Connect knows it. */
interface ApiKey {
  issuerId: string;
  bundleId: string;
  publicKey: KeyObject;
}

export type ForcedAnswer = { status: number; body?: unknown; headers?: Record<string, string> };
export type FakeEnvironment = "production" | "sandbox";

/** A request as the fake saw it, for asserting its documented shape. */
export interface SeenRequest {
  environment: string;
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  claims: Record<string, unknown> | undefined;
  header: Record<string, unknown> | undefined;
}

/** A notification Apple keeps in its history (whether or not it reached the server). */
export interface KeptNotification {
  payload: Record<string, unknown>;
  sendAttempts: Array<{ attemptDate: number; sendAttemptResult: string }>;
}

const PRODUCT_TYPES: Record<string, string> = {
  AUTO_RENEWABLE: "Auto-Renewable Subscription",
  NON_RENEWABLE: "Non-Renewing Subscription",
  CONSUMABLE: "Consumable",
  NON_CONSUMABLE: "Non-Consumable",
};
const DAY = 86_400_000;

/**
 * A loopback App Store Server API, each environment its own base URL
 * (`/production`, `/sandbox`). It checks the bearer JWT as Apple does
 * (ES256 with a registered key id, issuer, audience appstoreconnect-v1,
 * bid, exp at most 60 minutes after iat) and speaks the endpoints as
 * Apple documents them: Get Transaction Info and History (v2, filters,
 * revision paging, hasMore), All Subscription Statuses, Look Up Order ID,
 * Refund History, Notification History (window, paginationToken), test
 * notifications (sent to `notificationUrl`), Consumption, Extend and Mass
 * Extend, App Account Token, App Transaction; Apple's error bodies with
 * its numeric errorCodes. Signed items are signed by the local chain;
 * `tampered` ids are answered with a payload byte flipped.
 */
export class FakeAppStore {
  private server: Server | undefined;
  private readonly keys = new Map<string, ApiKey>();
  /** environment → transaction id → payload. */
  readonly transactions = { production: new Map<string, Record<string, unknown>>(), sandbox: new Map<string, Record<string, unknown>>() };
  /** environment → orderId → transaction ids. */
  readonly orders = { production: new Map<string, string[]>(), sandbox: new Map<string, string[]>() };
  /** environment → notifications Apple keeps, oldest first. */
  readonly notifications: Record<FakeEnvironment, KeptNotification[]> = { production: [], sandbox: [] };
  /** Where Apple sends notifications (test notifications and `push`), per environment. */
  notificationUrl: Partial<Record<FakeEnvironment, string>> = {};
  /** Subscription status by original transaction id (Apple's numbers; 1 when unset). */
  readonly subscriptionStatus = new Map<string, number>();
  /** Transaction ids whose signed data is answered tampered with. */
  readonly tampered = new Set<string>();
  /** What was sent by the write endpoints: consumption, extensions, account tokens. */
  readonly received: Array<{ kind: string; id: string; body: Record<string, unknown> }> = [];
  readonly massExtensions = new Map<string, { productId: string; body: Record<string, unknown> }>();
  private readonly testNotifications = new Map<string, { environment: FakeEnvironment; signedPayload: string; attempts: KeptNotification["sendAttempts"] }>();
  /** Page sizes (Apple's are 20 for history, 20 for notifications); smaller in tests to show paging. */
  pageSize = 20;
  /** Set to answer every request so (401, 429, 500 …). */
  forced: ForcedAnswer | undefined;
  /** Answers for the next requests, one each, before `forced`. */
  readonly queued: ForcedAnswer[] = [];
  /** Delay before each answer (latency of a real upstream). */
  delayMs = 0;
  readonly requests: SeenRequest[] = [];
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

  /** Apple sends a notification: kept in the history, and posted to the notification URL when one is set. */
  async push(environment: FakeEnvironment, payload: Record<string, unknown>, deliver = true): Promise<KeptNotification> {
    const kept: KeptNotification = { payload: { version: "2.0", signedDate: Date.now(), ...payload }, sendAttempts: [] };
    this.notifications[environment].push(kept);
    if (deliver) kept.sendAttempts.push({ attemptDate: Date.now(), sendAttemptResult: await this.deliver(environment, await this.chain.sign(kept.payload)) });
    return kept;
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
    const url = new URL(req.url ?? "/", "http://fake");
    const match = /^\/(production|sandbox)(\/inApps\/.*)$/.exec(url.pathname);
    if (!match) return send(res, 404, { errorCode: 4040000, errorMessage: "Not found." });
    const environment = match[1] as FakeEnvironment;
    const path = match[2]!;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return send(res, 400, { errorCode: 4000000, errorMessage: "Invalid request." });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    this.requests.push({
      environment,
      method: req.method ?? "",
      path,
      query: url.searchParams,
      body,
      claims: token ? safe(() => decodeJwt(token)) : undefined,
      header: token ? safe(() => decodeProtectedHeader(token)) : undefined,
    });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (!(await this.authorized(token))) {
      this.rejectedTokens++;
      return send(res, 401, undefined);
    }
    const forced = this.queued.shift() ?? this.forced;
    if (forced) return send(res, forced.status, forced.body, forced.headers);
    const answer = await this.route(environment, req.method ?? "", path, url.searchParams, (body ?? {}) as Record<string, unknown>);
    send(res, answer.status, answer.body);
  }

  private async route(env: FakeEnvironment, method: string, path: string, query: URLSearchParams, body: Record<string, unknown>): Promise<{ status: number; body?: unknown }> {
    let m: RegExpExecArray | null;
    const txs = this.transactions[env];
    const notFound = { status: 404, body: { errorCode: 4040010, errorMessage: "Transaction id not found." } };
    const badId = { status: 400, body: { errorCode: 4000006, errorMessage: "Invalid transaction id." } };
    if (method === "GET" && (m = /^\/inApps\/v1\/transactions\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (!/^[0-9]+$/.test(id)) return badId;
      const tx = txs.get(id);
      if (!tx) return notFound;
      return { status: 200, body: { signedTransactionInfo: await this.signTransaction(tx) } };
    }
    if (method === "GET" && (m = /^\/inApps\/v2\/history\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (!/^[0-9]+$/.test(id)) return badId;
      if (!txs.has(id)) return notFound;
      let list = [...txs.values()];
      const products = query.getAll("productId");
      if (products.length) list = list.filter((t) => products.includes(String(t.productId)));
      const types = query.getAll("productType");
      if (types.some((t) => !PRODUCT_TYPES[t])) return { status: 400, body: { errorCode: 4000022, errorMessage: "Invalid product type." } };
      if (types.length) list = list.filter((t) => types.some((type) => PRODUCT_TYPES[type] === t.type));
      const start = query.get("startDate");
      const end = query.get("endDate");
      if (start) list = list.filter((t) => Number(t.purchaseDate) >= Number(start));
      if (end) list = list.filter((t) => Number(t.purchaseDate) < Number(end));
      const groups = query.getAll("subscriptionGroupIdentifier");
      if (groups.length) list = list.filter((t) => groups.includes(String(t.subscriptionGroupIdentifier)));
      const ownership = query.get("inAppOwnershipType");
      if (ownership) list = list.filter((t) => t.inAppOwnershipType === ownership);
      const revoked = query.get("revoked");
      if (revoked !== null) list = list.filter((t) => (t.revocationDate !== undefined) === (revoked === "true"));
      list.sort((a, b) => Number(a.signedDate ?? a.purchaseDate) - Number(b.signedDate ?? b.purchaseDate) || String(a.transactionId).localeCompare(String(b.transactionId)));
      if (query.get("sort") === "DESCENDING") list.reverse();
      const page = this.page(list, query.get("revision"));
      if (!page) return { status: 400, body: { errorCode: 4000005, errorMessage: "Invalid revision." } };
      return {
        status: 200,
        body: {
          revision: page.next,
          hasMore: page.hasMore,
          bundleId: this.bundleOf(list),
          appAppleId: env === "production" ? 1234567890 : 0,
          environment: label(env),
          signedTransactions: await this.signAll(page.items),
        },
      };
    }
    if (method === "GET" && (m = /^\/inApps\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (!/^[0-9]+$/.test(id)) return badId;
      if (!txs.has(id)) return notFound;
      const wanted = query.getAll("status").map(Number);
      const latest = new Map<string, Record<string, unknown>>();
      for (const t of txs.values()) {
        if (t.type !== "Auto-Renewable Subscription") continue;
        const original = String(t.originalTransactionId);
        const seen = latest.get(original);
        if (!seen || Number(t.purchaseDate) > Number(seen.purchaseDate)) latest.set(original, t);
      }
      const groups = new Map<string, unknown[]>();
      for (const [original, t] of latest) {
        const status = this.subscriptionStatus.get(original) ?? 1;
        if (wanted.length && !wanted.includes(status)) continue;
        const renewal = { originalTransactionId: original, autoRenewProductId: t.productId, productId: t.productId, autoRenewStatus: 1, environment: label(env), signedDate: Date.now() };
        const group = String(t.subscriptionGroupIdentifier ?? "group-1");
        groups.set(group, [
          ...(groups.get(group) ?? []),
          { originalTransactionId: original, status, signedTransactionInfo: await this.signTransaction(t), signedRenewalInfo: await this.chain.sign(renewal) },
        ]);
      }
      return {
        status: 200,
        body: {
          environment: label(env),
          bundleId: this.bundleOf([...txs.values()]),
          appAppleId: env === "production" ? 1234567890 : 0,
          data: [...groups].map(([subscriptionGroupIdentifier, lastTransactions]) => ({ subscriptionGroupIdentifier, lastTransactions })),
        },
      };
    }
    if (method === "GET" && (m = /^\/inApps\/v1\/lookup\/([^/]+)$/.exec(path))) {
      const ids = this.orders[env].get(decodeURIComponent(m[1]!));
      if (!ids) return { status: 200, body: { status: 1 } };
      return { status: 200, body: { status: 0, signedTransactions: await this.signAll(ids.map((id) => txs.get(id)!).filter(Boolean)) } };
    }
    if (method === "GET" && (m = /^\/inApps\/v2\/refund\/lookup\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (!/^[0-9]+$/.test(id)) return badId;
      if (!txs.has(id)) return notFound;
      const page = this.page(
        [...txs.values()].filter((t) => t.revocationDate !== undefined),
        query.get("revision"),
      );
      if (!page) return { status: 400, body: { errorCode: 4000005, errorMessage: "Invalid revision." } };
      return { status: 200, body: { signedTransactions: await this.signAll(page.items), revision: page.next, hasMore: page.hasMore } };
    }
    if (method === "POST" && path === "/inApps/v1/notifications/history") {
      const { startDate, endDate } = body;
      if (typeof startDate !== "number") return { status: 400, body: { errorCode: 4000015, errorMessage: "Invalid start date." } };
      if (typeof endDate !== "number") return { status: 400, body: { errorCode: 4000016, errorMessage: "Invalid end date." } };
      if (startDate < Date.now() - 180 * DAY) return { status: 400, body: { errorCode: 4000018, errorMessage: "Start date too far in the past." } };
      if (startDate > endDate) return { status: 400, body: { errorCode: 4000019, errorMessage: "Start date after end date." } };
      let list = this.notifications[env].filter((n) => Number(n.payload.signedDate) >= startDate && Number(n.payload.signedDate) < endDate);
      if (typeof body.notificationType === "string") list = list.filter((n) => n.payload.notificationType === body.notificationType);
      if (typeof body.notificationSubtype === "string") list = list.filter((n) => n.payload.subtype === body.notificationSubtype);
      if (body.onlyFailures === true) list = list.filter((n) => !n.sendAttempts.some((a) => a.sendAttemptResult === "SUCCESS"));
      const page = this.page(list, query.get("paginationToken"));
      if (!page) return { status: 400, body: { errorCode: 4000020, errorMessage: "Invalid pagination token." } };
      const notificationHistory = [];
      for (const n of page.items) notificationHistory.push({ signedPayload: await this.chain.sign(n.payload), sendAttempts: n.sendAttempts });
      return { status: 200, body: { notificationHistory, hasMore: page.hasMore, ...(page.hasMore ? { paginationToken: page.next } : {}) } };
    }
    if (method === "POST" && path === "/inApps/v1/notifications/test") {
      const testNotificationToken = `${randomUUID()}_${Date.now()}`;
      const payload = {
        notificationType: "TEST",
        notificationUUID: randomUUID(),
        data: { bundleId: this.bundleOf([...txs.values()]), environment: label(env) },
        version: "2.0",
        signedDate: Date.now(),
      };
      const signedPayload = await this.chain.sign(payload);
      const attempts = [{ attemptDate: Date.now(), sendAttemptResult: await this.deliver(env, signedPayload) }];
      this.testNotifications.set(testNotificationToken, { environment: env, signedPayload, attempts });
      return { status: 200, body: { testNotificationToken } };
    }
    if (method === "GET" && (m = /^\/inApps\/v1\/notifications\/test\/([^/]+)$/.exec(path))) {
      const test = this.testNotifications.get(decodeURIComponent(m[1]!));
      if (!test || test.environment !== env) return { status: 404, body: { errorCode: 4040008, errorMessage: "Test notification not found." } };
      return { status: 200, body: { signedPayload: test.signedPayload, sendAttempts: test.attempts } };
    }
    if (method === "PUT" && (m = /^\/inApps\/v1\/transactions\/consumption\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      if (!txs.has(id)) return notFound;
      if (body.customerConsented !== true) return { status: 400, body: { errorCode: 4000027, errorMessage: "Invalid customer consented." } };
      this.received.push({ kind: "consumption", id, body });
      return { status: 202 };
    }
    if (method === "PUT" && (m = /^\/inApps\/v1\/subscriptions\/extend\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      const tx = txs.get(id);
      if (!tx) return { status: 404, body: { errorCode: 4040005, errorMessage: "Original transaction id not found." } };
      const days = body.extendByDays;
      if (typeof days !== "number" || days < 1 || days > 90) return { status: 400, body: { errorCode: 4000009, errorMessage: "Invalid extend by days value." } };
      this.received.push({ kind: "extend", id, body });
      const effectiveDate = Number(tx.expiresDate ?? Date.now()) + days * DAY;
      tx.expiresDate = effectiveDate;
      return { status: 200, body: { effectiveDate, originalTransactionId: id, webOrderLineItemId: String(tx.webOrderLineItemId ?? "1000000000000099"), success: true } };
    }
    if (method === "POST" && path === "/inApps/v1/subscriptions/extend/mass") {
      if (typeof body.requestIdentifier !== "string" || typeof body.productId !== "string") return { status: 400, body: { errorCode: 4000000, errorMessage: "Invalid request." } };
      this.massExtensions.set(`${body.productId}/${body.requestIdentifier}`, { productId: body.productId, body });
      return { status: 200, body: { requestIdentifier: body.requestIdentifier } };
    }
    if (method === "GET" && (m = /^\/inApps\/v1\/subscriptions\/extend\/mass\/([^/]+)\/([^/]+)$/.exec(path))) {
      const key = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
      if (!this.massExtensions.has(key)) return { status: 404, body: { errorCode: 4040009, errorMessage: "Subscription extension request not found." } };
      const extended = [...txs.values()].filter((t) => t.productId === decodeURIComponent(m![1]!)).length;
      return { status: 200, body: { requestIdentifier: decodeURIComponent(m[2]!), complete: true, completeDate: Date.now(), succeededCount: extended, failedCount: 0 } };
    }
    if (method === "PUT" && (m = /^\/inApps\/v1\/transactions\/([^/]+)\/appAccountToken$/.exec(path))) {
      const id = decodeURIComponent(m[1]!);
      const tx = txs.get(id);
      if (!tx) return { status: 404, body: { errorCode: 4040005, errorMessage: "Original transaction id not found." } };
      if (typeof body.appAccountToken !== "string") return { status: 400, body: { errorCode: 4000183, errorMessage: "Invalid app account token." } };
      tx.appAccountToken = body.appAccountToken;
      this.received.push({ kind: "appAccountToken", id, body });
      return { status: 200 };
    }
    if (method === "GET" && (m = /^\/inApps\/v1\/transactions\/appTransactions\/([^/]+)$/.exec(path))) {
      const tx = txs.get(decodeURIComponent(m[1]!));
      if (!tx) return notFound;
      const appTransaction = {
        bundleId: tx.bundleId,
        receiptType: label(env),
        appAppleId: 1234567890,
        applicationVersion: "1.0",
        originalApplicationVersion: "1.0",
        originalPurchaseDate: tx.originalPurchaseDate,
        environment: label(env),
        signedDate: Date.now(),
      };
      return { status: 200, body: { signedAppTransactionInfo: await this.chain.sign(appTransaction) } };
    }
    return { status: 404, body: { errorCode: 4040000, errorMessage: "Not found." } };
  }

  /** One page from an opaque token ("revision" / "paginationToken"); undefined for a token the fake did not give. */
  private page<T>(list: T[], token: string | null): { items: T[]; next: string; hasMore: boolean } | undefined {
    let offset = 0;
    if (token) {
      const decoded = /^rev:(\d+)$/.exec(Buffer.from(token, "base64url").toString());
      if (!decoded) return undefined;
      offset = Number(decoded[1]);
    }
    const items = list.slice(offset, offset + this.pageSize);
    const end = offset + items.length;
    return { items, next: Buffer.from(`rev:${end}`).toString("base64url"), hasMore: end < list.length };
  }

  private bundleOf(list: Array<Record<string, unknown>>): string {
    return String(list[0]?.bundleId ?? "com.example.app");
  }

  private async signAll(list: Array<Record<string, unknown>>): Promise<string[]> {
    return Promise.all(list.map((t) => this.signTransaction(t)));
  }

  private async signTransaction(tx: Record<string, unknown>): Promise<string> {
    const jws = await this.chain.sign({ ...tx, signedDate: tx.signedDate ?? Date.now() });
    if (!this.tampered.has(String(tx.transactionId))) return jws;
    const [h, p, s] = jws.split(".") as [string, string, string];
    const bytes = Buffer.from(p, "base64url");
    bytes[10] = bytes[10]! ^ 1;
    return `${h}.${bytes.toString("base64url")}.${s}`;
  }

  private async deliver(environment: FakeEnvironment, signedPayload: string): Promise<string> {
    const url = this.notificationUrl[environment];
    if (!url) return "NO_RESPONSE";
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ signedPayload }), signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.ok ? "SUCCESS" : "UNSUCCESSFUL_HTTP_RESPONSE_CODE";
    } catch {
      return "UNSUCCESSFUL_HTTP_RESPONSE_CODE";
    }
  }

  private async authorized(token: string | undefined): Promise<boolean> {
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

const label = (env: FakeEnvironment) => (env === "production" ? "Production" : "Sandbox");

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}
