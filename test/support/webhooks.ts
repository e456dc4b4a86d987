import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import postgres from "postgres";
import { inject } from "vitest";
import { WebhookService } from "../../gen/ts/attesto/v1/webhook_pb.js";
import type { Config } from "../../src/config.js";
import type { Attesto } from "../../src/server/app.js";
import type { WebhookEventType } from "../../src/webhooks/event-types.js";
import { clientFor, startTestServer } from "./server.js";

/**
 * Webhook tests run their servers on a database and queue prefix of their
 * own: the delivery engine listens for new deliveries on the database and
 * works the queue, so servers of other test files (with other settings and
 * other master keys) must not see these deliveries.
 */
export async function isolatedStore(label: string) {
  const adminUrl = new URL(inject("databaseUrl"));
  const name = `attesto_wh_${label}_${process.pid}_${randomBytes(3).toString("hex")}`;
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const queuePrefix = `${inject("queuePrefix")}_${name}`;
  return {
    databaseUrl: url.toString(),
    queuePrefix,
    encryptionKey: randomBytes(32).toString("base64"),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await deleteRedisKeys(inject("redisUrl"), queuePrefix);
    },
  };
}

export type Store = Awaited<ReturnType<typeof isolatedStore>>;

/** Removes a queue prefix's keys (queues, jobs, schedulers) from a Redis. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** A server on the store; loopback receivers allowed, as in development. */
export function startWebhookServer(store: Store, overrides: Partial<Config> = {}): Promise<Attesto> {
  return startTestServer({
    databaseUrl: store.databaseUrl,
    queuePrefix: store.queuePrefix,
    encryptionKey: store.encryptionKey,
    webhookAllowLoopback: true,
    ...overrides,
  });
}

/** The environment of a spawned `attesto serve` on the same store. */
export function storeEnv(store: Store, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _d, REDIS_URL: _r, ATTESTO_ENCRYPTION_KEY: _k, ATTESTO_ADMIN_TOKEN: _a, ...rest } = process.env;
  return {
    ...rest,
    DATABASE_URL: store.databaseUrl,
    REDIS_URL: inject("redisUrl"),
    ATTESTO_QUEUE_PREFIX: store.queuePrefix,
    ATTESTO_ENCRYPTION_KEY: store.encryptionKey,
    ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true",
    ATTESTO_DEV_TENANT: "false",
    LOG_LEVEL: "warn",
    ...extra,
  };
}

export const webhookClient = (app: Attesto, key: string) => clientFor(WebhookService, app.url, key);

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string } | "hang";

/**
 * A webhook endpoint on loopback that records every request and answers
 * as `respond` says (204 by default; "hang" never answers).
 */
export class Receiver {
  readonly received: Received[] = [];
  respond: (req: Received, index: number) => Answer = () => ({ status: 204 });
  connections = 0;
  #server: http.Server;
  #hanging = new Set<http.ServerResponse>();

  private constructor(server: http.Server) {
    this.#server = server;
  }

  static async start(port = 0): Promise<Receiver> {
    const server = http.createServer();
    const receiver = new Receiver(server);
    server.on("connection", () => receiver.connections++);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: Received = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
        receiver.received.push(rec);
        const answer = receiver.respond(rec, receiver.received.length - 1);
        if (answer === "hang") {
          receiver.#hanging.add(res);
          res.on("close", () => receiver.#hanging.delete(res));
          return;
        }
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? "");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests of one delivery, in arrival order. */
  of(deliveryId: string): Received[] {
    return this.received.filter((r) => r.headers["x-attesto-delivery-id"] === deliveryId);
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** Polls `check` until it returns something truthy. */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Emits webhook events as a producer does: in one transaction, then tells
 * the outbox it committed. `data` is taken as given, so tests can send
 * shapes the typed producers never would.
 */
export async function emitEvents(app: Attesto, tenantId: string, events: Array<[WebhookEventType, Record<string, unknown>]>): Promise<void> {
  await app.database.db.transaction(async (tx) => {
    for (const [type, data] of events) await app.webhooks.events.emit(tx, tenantId, type, data as never);
  });
  app.webhooks.events.committed();
}
