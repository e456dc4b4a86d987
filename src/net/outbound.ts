import dns, { type LookupAddress, type LookupOptions } from "node:dns";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { Agent, buildConnector, type Dispatcher } from "undici";
import { invalidArgument } from "../errors.js";

/**
 * The outbound request guard, shared by tenant webhooks and connectors:
 * requests leave only over HTTPS to publicly routable addresses. A URL is
 * checked when it is saved (checkOutboundUrl) and again on every connection
 * (OutboundHttp): the host is resolved once, every address is checked, and
 * the socket connects to exactly the checked address, so a DNS answer that
 * changes in between (rebinding) cannot reach a private address. Redirects
 * are never followed.
 */

/** The system resolver's shape (dns.lookup with all: true). */
export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundPolicy {
  /**
   * Development and tests only: loopback addresses (127.0.0.0/8, ::1) are
   * allowed too, over plain http:// as well. Off by default.
   */
  allowLoopback: boolean;
  /** The setting that turns allowLoopback on (e.g. ATTESTO_WEBHOOK_ALLOW_LOOPBACK): named in the refusal of a loopback URL. */
  loopbackSetting?: string;
  /** How host names are resolved; the system resolver unless a test says otherwise. */
  resolve?: ResolveAll;
}

const systemResolve: ResolveAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/** 2000::/3, the only IPv6 space allocated for global unicast. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

/**
 * "public" for a publicly routable unicast address, else the name of its
 * range: loopback, private, linkLocal (which holds 169.254.169.254),
 * carrierGradeNat, uniqueLocal (which holds fd00:ec2::254), multicast,
 * unspecified, broadcast, reserved (documentation, benchmarking, 240/4),
 * ipv4Mapped, rfc6052 (NAT64), 6to4, teredo, … IPv6 outside 2000::/3 (for
 * example the deprecated IPv4-compatible ::a.b.c.d) is "reserved".
 */
export function addressRange(address: string): string {
  if (!ipaddr.isValid(address)) return "invalid";
  const parsed = ipaddr.parse(address);
  const range = parsed.range();
  if (range !== "unicast") return range;
  if (parsed.kind() === "ipv6" && !(parsed as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)) return "reserved";
  return "public";
}

/** Why an address may not be connected to, or undefined when it may. */
export function blockedReason(address: string, policy: Pick<OutboundPolicy, "allowLoopback">): string | undefined {
  const range = addressRange(address);
  if (range === "public") return undefined;
  if (range === "loopback" && policy.allowLoopback) return undefined;
  return range;
}

/** The error of a connection refused by the guard; nothing was sent. */
export class BlockedAddressError extends Error {
  readonly code = "ATTESTO_BLOCKED_ADDRESS";
  constructor(readonly range: string) {
    super(`outbound connection refused: the host resolves to a non-public address (${range})`);
    this.name = "BlockedAddressError";
  }
}

const hostnameOf = (url: URL) => (url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname);

/**
 * Checks a URL when it is saved. Throws invalid_argument naming `field`:
 * not an absolute URL, credentials in it, not https (http only to loopback
 * with allowLoopback), a host that does not resolve, or one that resolves to
 * any non-public address.
 */
export async function checkOutboundUrl(raw: string, policy: OutboundPolicy, field = "url"): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidArgument(field, "must be an absolute URL");
  }
  // A loopback receiver is what a developer tries first: the refusal names the setting that allows it.
  const loopbackHint = policy.loopbackSetting ? `; loopback receivers are allowed with ${policy.loopbackSetting}=true (development only)` : "";
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidArgument(field, "must be an https:// URL");
  if (url.protocol === "http:" && !policy.allowLoopback) {
    const loopbackHost = net.isIP(hostnameOf(url)) ? addressRange(hostnameOf(url)) === "loopback" : hostnameOf(url) === "localhost";
    throw invalidArgument(field, `must be an https:// URL${loopbackHost ? loopbackHint : ""}`);
  }
  if (url.username || url.password) throw invalidArgument(field, "must not contain credentials");
  const host = hostnameOf(url);
  let addresses: string[];
  if (net.isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await (policy.resolve ?? systemResolve)(host)).map((a) => a.address);
    } catch {
      throw invalidArgument(field, "host name does not resolve");
    }
    if (addresses.length === 0) throw invalidArgument(field, "host name does not resolve");
  }
  for (const address of addresses) {
    const reason = blockedReason(address, policy);
    if (reason) throw invalidArgument(field, `host is not publicly routable (${reason} address)${reason === "loopback" ? loopbackHint : ""}`);
  }
  if (url.protocol === "http:" && !addresses.every((a) => addressRange(a) === "loopback")) {
    throw invalidArgument(field, "must be an https:// URL (http:// is allowed for loopback receivers only)");
  }
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A net/tls `lookup` that resolves once, refuses the whole answer when any
 * address is not allowed, and hands Node exactly the checked addresses.
 */
export function guardedLookup(policy: OutboundPolicy, loopbackOnly: boolean) {
  const resolve = policy.resolve ?? systemResolve;
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    resolve(hostname).then(
      (found) => {
        // One non-public address in the answer refuses the whole name.
        for (const { address } of found) {
          const reason = blockedReason(address, policy) ?? (loopbackOnly && addressRange(address) !== "loopback" ? "not loopback" : undefined);
          if (reason) return callback(new BlockedAddressError(reason), "");
        }
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const addresses = family ? found.filter((a) => a.family === family) : found;
        if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
          err.code = "ENOTFOUND";
          return callback(err, "");
        }
        if (options.all) return callback(null, addresses);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ""),
    );
  };
}

/**
 * undici's connector behind the guard: https always; http only to loopback
 * when the policy allows loopback. IP literals (which Node connects to
 * without a lookup) are checked here; names go through guardedLookup.
 */
function guardedConnector(policy: OutboundPolicy, connectTimeoutMs: number): buildConnector.connector {
  const https = buildConnector({ timeout: connectTimeoutMs, lookup: guardedLookup(policy, false) });
  const http = buildConnector({ timeout: connectTimeoutMs, lookup: guardedLookup(policy, true) });
  return (options, callback) => {
    const plain = options.protocol === "http:";
    if (plain && !policy.allowLoopback) return callback(new BlockedAddressError("plain http"), null);
    if (net.isIP(options.hostname)) {
      const reason = blockedReason(options.hostname, policy) ?? (plain && addressRange(options.hostname) !== "loopback" ? "not loopback" : undefined);
      if (reason) return callback(new BlockedAddressError(reason), null);
    }
    (plain ? http : https)(options, callback);
  };
}

export type OutboundErrorKind = "timeout" | "connection_refused" | "dns" | "tls" | "blocked_address" | "network";

export interface OutboundResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first `excerptChars` characters of the body. */
  excerpt: string;
}

export type OutboundResult = ({ ok: true; latencyMs: number } & OutboundResponse) | { ok: false; latencyMs: number; errorKind: OutboundErrorKind; message: string };

/** Bytes read from an answer: enough for 256 characters of any UTF-8. */
const EXCERPT_BYTES = 1024;

/**
 * Guarded HTTP client: one undici Agent (keep-alive pools per origin) whose
 * every connection goes through the guard. Never follows redirects: a 3xx
 * is returned as it is.
 */
export class OutboundHttp {
  readonly #agent: Agent;

  constructor(
    readonly policy: OutboundPolicy,
    opts: { connectTimeoutMs?: number } = {},
  ) {
    this.#agent = new Agent({ connect: guardedConnector(policy, opts.connectTimeoutMs ?? 10_000), keepAliveTimeout: 4_000 });
  }

  /** POSTs `body`; the whole exchange (connect, send, answer) must end within timeoutMs. */
  async post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, excerptChars = 256): Promise<OutboundResult> {
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const latency = () => Math.round(performance.now() - started);
    try {
      const target = new URL(url);
      const res: Dispatcher.ResponseData = await this.#agent.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: "POST",
        headers,
        body,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const excerpt = await readExcerpt(res.body, excerptChars);
      return { ok: true, latencyMs: latency(), statusCode: res.statusCode, headers: res.headers, excerpt };
    } catch (err) {
      return { ok: false, latencyMs: latency(), errorKind: controller.signal.aborted ? "timeout" : classifyOutboundError(err), message: safeMessage(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

async function readExcerpt(body: Dispatcher.ResponseData["body"], chars: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= EXCERPT_BYTES) {
      // The rest is not needed: drop it (and the connection) rather than wait for it.
      body.destroy();
      break;
    }
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks).subarray(0, EXCERPT_BYTES));
  // NUL cannot be stored in Postgres text.
  return [...text].slice(0, chars).join("").replaceAll("\u0000", "\uFFFD");
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_NODATA", "ENODATA", "EAI_FAIL"]);
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT", "ABORT_ERR"]);

/** Why a request failed, from the error and its causes. */
export function classifyOutboundError(err: unknown): OutboundErrorKind {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BlockedAddressError) return "blocked_address";
    const code = String((e as { code?: unknown }).code ?? "");
    if (code === "ATTESTO_BLOCKED_ADDRESS") return "blocked_address";
    if (code === "ECONNREFUSED") return "connection_refused";
    if (DNS_CODES.has(code)) return "dns";
    if (TIMEOUT_CODES.has(code)) return "timeout";
    if (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.includes("CERT") || code === "EPROTO") return "tls";
  }
  return "network";
}

/** An error message fit for logs: no URL, headers or body. */
function safeMessage(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const name = (err as { name?: unknown })?.name;
  return [typeof name === "string" ? name : "Error", typeof code === "string" ? code : undefined].filter(Boolean).join(" ");
}
