import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.js";
import { DEV_CREDENTIALS_FILE, type DevCredentials } from "../tenancy/dev-credentials-types.js";

/**
 * Where a CLI command runs: on a server over the RPCs (remote), or on the
 * database itself (local, for bootstrap and for machines without a server).
 *
 * Remote is chosen by `--url` or ATTESTO_URL, or, with neither, when an
 * Attesto server answers at the address `serve` would listen on (HOST,
 * PORT). That is the embedded default's case: its database is held by the
 * running server, so local commands could not open it. `--local` forces the
 * database. An explicit DATABASE_URL names the deployment: without `--url` or
 * ATTESTO_URL, commands run on that database, and commands that only exist
 * over the RPCs ask for the server's URL, since whatever answers at HOST:PORT
 * may be another deployment (whose operator token or keys differ).
 */
export type Target = { mode: "local" } | { mode: "remote"; url: string; explicit: boolean };

export interface TargetOptions {
  url?: string;
  local?: boolean;
}

/** How long the probe for a running server waits: a closed port answers at once, a filtered one must not stall every command. */
const PROBE_TIMEOUT_MS = 800;

export function explicitUrl(opts: TargetOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = opts.url ?? (env.ATTESTO_URL || undefined);
  return url === undefined ? undefined : normalizeUrl(url);
}

export function normalizeUrl(url: string): string {
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new Error(`--url / ATTESTO_URL must be an http(s) URL, got ${JSON.stringify(url.slice(0, 100))}`);
  return url.replace(/\/+$/, "");
}

/** The address `attesto serve` listens on with this configuration. */
export function defaultServerUrl(config: Pick<Config, "host" | "port">): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

/** True when an Attesto server answers at url (its landing page names it). */
export async function attestoAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/`, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (!res.ok) return false;
    const body = (await res.json()) as { name?: unknown };
    return body.name === "Attesto";
  } catch {
    return false;
  }
}

export async function chooseTarget(opts: TargetOptions, config: Pick<Config, "host" | "port" | "databaseUrl">): Promise<Target> {
  const url = explicitUrl(opts);
  if (opts.local) {
    if (opts.url !== undefined) throw new Error("--local and --url exclude each other");
    return { mode: "local" };
  }
  if (url) return { mode: "remote", url, explicit: true };
  if (config.databaseUrl) return { mode: "local" };
  const candidate = defaultServerUrl(config);
  return (await attestoAnswers(candidate)) ? { mode: "remote", url: candidate, explicit: false } : { mode: "local" };
}

/** For commands that only exist over the RPCs: the server, or an error saying how to get one. */
export async function requireServer(opts: TargetOptions, config: Pick<Config, "host" | "port" | "databaseUrl">): Promise<string> {
  if (opts.local) throw new Error("this command talks to a server: it has no --local form");
  const url = explicitUrl(opts);
  if (url) return url;
  const candidate = defaultServerUrl(config);
  if (config.databaseUrl) {
    throw new Error(
      `this command talks to a server, and DATABASE_URL is set: name the server that serves that database with --url / ATTESTO_URL (the one answering at ${candidate}, if any, may be another deployment)`,
    );
  }
  if (await attestoAnswers(candidate)) return candidate;
  throw new Error(`no Attesto server answers at ${candidate}: start one (npm start, or attesto serve), or name one with --url / ATTESTO_URL`);
}

export type CredentialKind = "operator" | "tenant";

export interface Credential {
  secret: string;
  /** Where it came from, for error messages: an environment variable or the development credentials file. */
  source: string;
}

const ENV_OF: Record<CredentialKind, string> = { operator: "ATTESTO_ADMIN_TOKEN", tenant: "ATTESTO_API_KEY" };
const WHAT: Record<CredentialKind, string> = { operator: "the operator token", tenant: "a tenant API key" };

const isLoopback = (url: string) => ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);

/**
 * The secret a remote command sends. Only from the environment (argv is
 * readable by every user of the machine), or, for the embedded default on
 * this machine, from the development credentials the server keeps in its
 * data folder. Those are never sent to another host.
 */
export async function credentialFor(kind: CredentialKind, url: string, config: Pick<Config, "dataDir" | "databaseUrl">, env: NodeJS.ProcessEnv = process.env): Promise<Credential> {
  const name = ENV_OF[kind];
  const fromEnv = env[name];
  if (fromEnv) return { secret: fromEnv, source: name };
  if (!config.databaseUrl && isLoopback(url)) {
    const file = path.join(config.dataDir, DEV_CREDENTIALS_FILE);
    const dev = await readFile(file, "utf8").then(
      (text) => JSON.parse(text) as Partial<DevCredentials>,
      () => undefined,
    );
    const secret = kind === "operator" ? dev?.adminToken : dev?.apiKey;
    if (typeof secret === "string" && secret) return { secret, source: `the development credentials in ${file}` };
  }
  throw new Error(`set ${name} to ${WHAT[kind]} of the server at ${url}`);
}
