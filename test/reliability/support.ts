import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { promisify } from "node:util";
import { inject } from "vitest";
import { ADMIN_TOKEN } from "../support/server.js";
import { CLI, ROOT } from "../support/process.js";
import { freePort } from "../../scripts/topology/process.js";

const run = promisify(execFile);

/** CI runs the short form; `npm run test:reliability -- --long` sets this. */
export const LONG = process.env.ATTESTO_RELIABILITY_LONG === "1";

/** One row of the table printed at the end of the run. */
export interface Row {
  section: string;
  check: string;
  measured: string;
  ok: boolean;
}

/** Adds a row to the run's table (a file the global teardown prints). */
export function report(row: Row): void {
  appendFileSync(inject("reliabilityTable"), JSON.stringify(row) + "\n");
}

/** Every secret, key, hash and payload marker the suite used: the secrets check scans for each. */
export function remember(kind: string, value: string): void {
  appendFileSync(inject("reliabilitySecrets"), JSON.stringify({ kind, value }) + "\n");
}

/** Everything produced that a user or operator can see: logs and answers, scanned by the secrets check. */
export function keepOutput(name: string, text: string): void {
  appendFileSync(path.join(inject("reliabilityOutputDir"), `${name}.txt`), text);
}

export const keyHash = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

/** A port that was free a moment ago on 127.0.0.1: the topology's, which the failover tests share. */
export { freePort };

const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
};

/** A PostgreSQL cluster of the suite's own on its own port, from the machine's binaries (run as the postgres user when root). */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asUser: string[],
  ) {}

  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<PrivatePostgres> {
    const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
    const bin = versions.map((v) => `/usr/lib/postgresql/${v}/bin`).find((b) => existsSync(`${b}/pg_ctl`));
    if (!bin) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-reliability-pg-"));
    const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
    if (asUser.length) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
      chmodSync(dir, 0o700);
    }
    const pg = new PrivatePostgres(dir, await freePort(), bin, asUser);
    await pg.exec("initdb", ["-D", `${dir}/data`, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    await pg.start();
    return pg;
  }

  private async exec(tool: string, args: string[]) {
    const [cmd, ...rest] = [...this.asUser, `${this.bin}/${tool}`, ...args];
    await run(cmd!, rest, { timeout: 60_000 });
  }

  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=60 -c fsync=off -c full_page_writes=off`;
    await this.exec("pg_ctl", ["-D", `${this.dir}/data`, "-l", `${this.dir}/log`, "-o", opts, "-w", "start"]);
  }

  /** `-m immediate`: the backends die at once, as in a crash. */
  async stop(mode: "immediate" | "fast" = "immediate"): Promise<void> {
    await this.exec("pg_ctl", ["-D", `${this.dir}/data`, "-m", mode, "-w", "stop"]);
  }

  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => {});
    await run("rm", ["-rf", this.dir]);
  }
}

/** A redis-server of the suite's own, without persistence: killed, it comes back empty. */
export class PrivateRedis {
  child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    await waitFor("redis-server", async () => {
      const socket = net.connect(this.port, "127.0.0.1");
      return new Promise<boolean>((resolve) => {
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
      });
    });
  }

  kill9(): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    return exited;
  }
}

/** An `attesto serve` child process; its stderr (the log) is kept for the secrets check. */
export class ServerProcess {
  child!: ChildProcess;
  url = "";
  log = "";

  constructor(
    readonly name: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [...CLI, "--json", "serve", "--port", String(this.env.PORT ?? 0)], { env: this.env, cwd: ROOT });
    this.child = child;
    child.stderr!.on("data", (d: Buffer) => {
      const text = d.toString();
      this.log += text;
      keepOutput(`log-${this.name}`, text);
    });
    let out = "";
    for await (const line of readline.createInterface({ input: child.stdout! })) {
      out += line;
      try {
        this.url = (JSON.parse(out) as { url: string }).url;
        return;
      } catch {
        // the JSON spans several lines
      }
    }
    throw new Error(`serve exited before listening: ${this.log.slice(-2000)}`);
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill9(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    return exited;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    await exited;
  }

  /** Resident set size of the server process, in bytes (Linux). */
  rss(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }
}

/** Settings of a suite server: a fresh master key (remembered as a secret), the admin token, loopback webhooks, fast relays. */
export function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const encryptionKey = randomBytes(32).toString("base64");
  remember("encryption key", encryptionKey);
  remember("admin token", ADMIN_TOKEN);
  return {
    ...process.env,
    ATTESTO_ENCRYPTION_KEY: encryptionKey,
    ATTESTO_ADMIN_TOKEN: ADMIN_TOKEN,
    ATTESTO_DEV_TENANT: "false",
    ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true",
    ATTESTO_RATE_LIMITS: "false",
    ATTESTO_DB_POOL: "8",
    ATTESTO_WEBHOOK_JOB_LOCK_MS: "2000",
    ATTESTO_WEBHOOK_RELAY_INTERVAL_MS: "1000",
    ATTESTO_WEBHOOK_RELAY_GRACE_MS: "2000",
    ATTESTO_CHECKPOINT_INTERVAL_MS: "300",
    LOG_LEVEL: "info",
    ...extra,
  };
}

/** The run's Postgres (a database of its own per run), Redis and a fresh queue prefix. */
export function sharedServices(prefix: string): Record<string, string> {
  return { DATABASE_URL: inject("databaseUrl"), REDIS_URL: inject("redisUrl"), ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_${prefix}` };
}

/** Tenant and key through the operator API, the key remembered as a secret (and its hash). */
export async function tenantOn(url: string, name = `t-${randomBytes(3).toString("hex")}`): Promise<{ tenantId: string; key: string }> {
  const call = async (method: string, body: unknown) => {
    const res = await fetch(`${url}/attesto.admin.v1.AdminService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, any>>;
  };
  const { tenant } = await call("CreateTenant", { name });
  const { secret } = await call("CreateApiKey", { tenantId: tenant.id, name: "reliability" });
  remember("api key", secret);
  remember("api key hash", keyHash(secret));
  return { tenantId: tenant.id, key: secret };
}

/** One Connect JSON call (`Service/Method` of attesto.v1, or a fully qualified path); never throws for an HTTP answer. */
export async function call(url: string, key: string, method: string, body: unknown, timeoutMs = 20_000) {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/${method.startsWith("attesto.") ? method : `attesto.v1.${method}`}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: text, json: safeJson(text), ms: performance.now() - started, retryAfter: res.headers.get("retry-after") };
  } catch (err) {
    return { status: 0, body: String((err as Error).message), json: undefined, ms: performance.now() - started, retryAfter: null };
  }
}

const safeJson = (text: string): any => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

export const quantile = (values: number[], q: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A webhook receiver on loopback that answers 200 to everything and counts
 * each delivery by its webhook-id (a count above 1 is a redelivery).
 */
export async function webhookReceiver(): Promise<{ url: string; received: Map<string, number>; close(): void }> {
  const received = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const id = String(req.headers["webhook-id"] ?? "");
    req.resume();
    req.on("end", () => {
      received.set(id, (received.get(id) ?? 0) + 1);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => server.close() };
}
