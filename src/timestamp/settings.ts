import { readFileSync } from "node:fs";
import type { Config } from "../config.js";
import { certificatesFromPem, TimestampError } from "../verify/rfc3161.js";

export interface TimestampSettings {
  /** The TSAs each signed checkpoint's note is sent to, tried in order until one grants a token that verifies. */
  tsaUrls: string[];
  /** The trusted TSA roots (DER) a token must lead to. */
  roots: Uint8Array[];
  timeoutMs: number;
  /** Tries of one checkpoint's job, and the first retry's delay (doubled each time). */
  attempts: number;
  backoffMs: number;
}

/** Reads ATTESTO_TSA_URLS and the ATTESTO_TSA_ROOTS PEM file; a bad value stops the start with the variable's name. */
export function timestampSettings(config: Config): TimestampSettings {
  const tsaUrls = parseTsaUrls(config.tsaUrls);
  let roots: Uint8Array[] = [];
  if (config.tsaRootsFile) {
    let pem: string;
    try {
      pem = readFileSync(config.tsaRootsFile, "utf8");
    } catch (err) {
      throw new Error(`ATTESTO_TSA_ROOTS: cannot read ${config.tsaRootsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    try {
      roots = certificatesFromPem(pem);
    } catch (err) {
      if (err instanceof TimestampError) throw new Error(`ATTESTO_TSA_ROOTS: ${err.message}`, { cause: err });
      throw err;
    }
  }
  if (tsaUrls.length > 0 && roots.length === 0) throw new Error("ATTESTO_TSA_ROOTS: a PEM file of the TSA roots is required with ATTESTO_TSA_URLS (tokens are verified on receipt)");
  return { tsaUrls, roots, timeoutMs: config.tsaTimeoutMs, attempts: 12, backoffMs: 1_000 };
}

/** TSA URLs separated by commas or white space; each an http(s) URL. */
export function parseTsaUrls(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((url, i) => {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new Error(`ATTESTO_TSA_URLS[${i}]: not a URL`);
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error(`ATTESTO_TSA_URLS[${i}]: an http(s) URL`);
      return url;
    });
}

/** A TSA's name in logs and metrics: its URL without credentials or query. */
export function tsaLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
