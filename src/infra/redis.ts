import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Redis, type RedisOptions } from "ioredis";
import type { RedisSentinelSettings } from "../config-types.js";
import type { Logger } from "../logger.js";
import { AppError } from "../errors.js";
import { traceRedisCommands } from "./redis-spans.js";
import { withoutCredentials, withTimeout } from "./safe-url.js";

/** How long start-up waits for a configured Redis before it gives up, naming it. */
export const DEPENDENCY_PROBE_MS = 2_500;

export const NO_REDIS_MESSAGE = "no Redis available: set REDIS_URL, or install redis-server (apt install redis-server | brew install redis), or run `docker compose up -d redis`";

export interface RedisHandle {
  readonly url: string;
  /** A new connection; BullMQ wants its own, with maxRetriesPerRequest null. */
  connect(opts?: RedisOptions): Redis;
  /** The shared command connection (rate limits, caches, readiness). */
  readonly client: Redis;
  close(): Promise<void>;
}

/**
 * Finds a Redis: through Sentinel when sentinels are configured; else
 * REDIS_URL when set; else 127.0.0.1:6379 when it answers; else a
 * redis-server from PATH started on a free port with its own data folder.
 * None of these: a one-line error saying how to get one.
 */
export async function openRedis(opts: { url: string | undefined; sentinel?: RedisSentinelSettings; dataDir: string; logger: Logger }): Promise<RedisHandle> {
  if (opts.sentinel) return openSentinelRedis(opts.sentinel, opts.url, opts.logger);
  let url = opts.url;
  let child: ChildProcess | undefined;
  if (url) {
    await probeRedis(url);
  } else {
    if (await answersPing("127.0.0.1", 6379)) {
      url = "redis://127.0.0.1:6379";
    } else {
      const started = await startRedisServer(path.join(opts.dataDir, "redis"));
      child = started.child;
      url = started.url;
      opts.logger.info({ port: started.port }, "started an embedded redis-server");
    }
  }
  const resolved = url;
  return redisHandle(
    resolved,
    (extra) => new Redis(resolved, { lazyConnect: false, ...extra }),
    opts.logger,
    async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  );
}

/** The handle over one way of making connections: each one tracked (closed with the handle), its errors logged at debug. */
function redisHandle(url: string, make: (extra: RedisOptions) => Redis, logger: Logger, afterClose: () => Promise<void> = async () => {}): RedisHandle {
  traceRedisCommands();
  const connections = new Set<Redis>();
  const connect = (extra: RedisOptions = {}) => {
    const conn = make(extra);
    conn.on("error", (err) => logger.debug({ err: err.message }, "redis connection error"));
    connections.add(conn);
    conn.once("end", () => connections.delete(conn));
    return conn;
  };
  const client = connect({ maxRetriesPerRequest: 3 });
  return {
    url,
    client,
    connect,
    async close() {
      await Promise.allSettled([...connections].map((c) => c.quit().catch(() => c.disconnect())));
      await afterClose();
    },
  };
}

/**
 * Redis through Sentinel: every connection asks the sentinels for the
 * master (ioredis's sentinel mode), and asks again whenever its connection
 * drops, so after a failover each one reconnects to the promoted replica. A
 * connection that reaches a master demoted since (a write answered READONLY)
 * reconnects and resends. REDIS_URL, when set, gives the master's password
 * and database number only. Start-up fails within DEPENDENCY_PROBE_MS,
 * naming the sentinels, when no sentinel names a master that answers.
 */
export async function openSentinelRedis(sentinel: RedisSentinelSettings, url: string | undefined, logger: Logger): Promise<RedisHandle> {
  const credentials = url ? new URL(url) : undefined;
  const base: RedisOptions = {
    sentinels: sentinel.sentinels,
    name: sentinel.masterName,
    sentinelPassword: sentinel.sentinelPassword,
    username: credentials?.username ? decodeURIComponent(credentials.username) : undefined,
    password: credentials?.password ? decodeURIComponent(credentials.password) : undefined,
    db: credentials && credentials.pathname.length > 1 ? Number(credentials.pathname.slice(1)) : 0,
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
  };
  const described = `redis-sentinel://${sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}/${sentinel.masterName}`;
  await pingOnce(
    new Redis({ ...base, lazyConnect: true, connectTimeout: DEPENDENCY_PROBE_MS, maxRetriesPerRequest: 0, enableOfflineQueue: false, sentinelRetryStrategy: () => null }),
    DEPENDENCY_PROBE_MS,
    `Redis through the sentinels ${described} (ATTESTO_REDIS_SENTINELS)`,
  );
  return redisHandle(described, (extra) => new Redis({ ...base, lazyConnect: false, ...extra }), logger);
}

/**
 * One connection that pings once, without retries: a wrong REDIS_URL fails
 * start-up within DEPENDENCY_PROBE_MS with an error naming Redis and the URL
 * (without credentials), instead of later through BullMQ's retry limit.
 */
export async function probeRedis(url: string, timeoutMs = DEPENDENCY_PROBE_MS): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  await pingOnce(probe, timeoutMs, `Redis at ${withoutCredentials(url)} (REDIS_URL)`);
}

/** Connects a lazy, non-retrying connection and pings once; throws naming `what` (never a credential) with the cause. */
async function pingOnce(probe: Redis, timeoutMs: number, what: string): Promise<void> {
  // ioredis reports the cause (refused, DNS, TLS) as an event; the promise only says the connection closed.
  let cause: Error | undefined;
  probe.on("error", (err: Error) => (cause ??= err));
  try {
    await withTimeout(
      probe.connect().then(() => probe.ping()),
      timeoutMs,
      `no answer within ${timeoutMs} ms`,
    );
  } catch (err) {
    throw new Error(`${what} is not usable: ${(cause ?? (err as Error)).message}`);
  } finally {
    probe.disconnect();
  }
}

/** True when something on host:port answers a RESP PING with PONG. */
export function answersPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(dir: string): Promise<{ child: ChildProcess; url: string; port: number }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", "", "--daemonize", "no"], { stdio: "ignore" });
  const failed = new Promise<never>((_, reject) => {
    child.once("error", () => reject(new Error(NO_REDIS_MESSAGE)));
    child.once("exit", (code) => reject(new Error(`redis-server exited with code ${code}; ${NO_REDIS_MESSAGE}`)));
  });
  failed.catch(() => {});
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ready = await Promise.race([answersPing("127.0.0.1", port), failed]);
    if (ready) return { child, url: `redis://127.0.0.1:${port}`, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`redis-server did not answer on port ${port}; ${NO_REDIS_MESSAGE}`);
}

/**
 * A Redis that cannot be reached, as the retryable domain error, or
 * undefined: ioredis rejects commands with these when the connection is
 * down and its retries or offline queue gave up.
 */
export function redisOutage(err: unknown): AppError | undefined {
  if (!(err instanceof Error) || err instanceof AppError) return undefined;
  const unreachable = err.name === "MaxRetriesPerRequestError" || err.message === "Connection is closed." || err.message.startsWith("Stream isn't writeable");
  if (!unreachable) return undefined;
  return new AppError("unavailable", "the queue is unavailable", { reason: "QUEUE_UNAVAILABLE", retryAfterSeconds: 1 }, { cause: err });
}
