import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Signature checks of the connector kinds, over the raw request bytes (never
 * a re-serialized body). Every comparison is constant-time; a connector
 * inside a rotation overlap has two valid secrets and each is tried.
 *
 * Written here rather than taken from @octokit/webhooks-methods or
 * standardwebhooks: both verify a decoded string, and a body that is not
 * valid UTF-8 would be checked over other bytes than the ones received.
 */

/** How far a signed timestamp may be from this clock, either way. */
export const MAX_SKEW_SECONDS = 300;

export type SignatureVerdict = "ok" | "bad_signature" | "stale_timestamp";

const hmac = (key: Buffer | string, ...parts: Array<Buffer | string>) => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Constant-time equality of two byte strings (false when lengths differ). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** A hex string as bytes, or undefined when it is not even-length lowercase/uppercase hex. */
function fromHex(text: string): Buffer | undefined {
  return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, "hex") : undefined;
}

/** Unix seconds from a header: digits only, within the skew of `nowSeconds`. */
export function freshTimestamp(header: string | undefined, nowSeconds: number): number | undefined {
  if (!header || !/^\d{1,12}$/.test(header)) return undefined;
  const ts = Number(header);
  return Math.abs(nowSeconds - ts) <= MAX_SKEW_SECONDS ? ts : undefined;
}

/**
 * The signed-webhook scheme: X-Attesto-Connector-Timestamp (unix seconds)
 * and X-Attesto-Connector-Signature, hex HMAC-SHA256 keyed with the secret
 * string over `timestamp + "." + raw body`.
 */
export function verifySignedWebhook(secrets: readonly string[], headers: { timestamp: string | undefined; signature: string | undefined }, body: Buffer, nowSeconds: number): SignatureVerdict {
  const given = fromHex(headers.signature?.trim() ?? "");
  if (!given || !headers.timestamp) return "bad_signature";
  let ok = false;
  for (const secret of secrets) ok = sameBytes(hmac(Buffer.from(secret, "utf8"), `${headers.timestamp}.`, body), given) || ok;
  if (!ok) return "bad_signature";
  // Checked after the signature, so a forged request learns nothing about the clock.
  return freshTimestamp(headers.timestamp, nowSeconds) === undefined ? "stale_timestamp" : "ok";
}

/** GitHub: X-Hub-Signature-256 is "sha256=" + hex HMAC-SHA256 keyed with the secret over the raw body. */
export function verifyGitHub(secrets: readonly string[], header: string | undefined, body: Buffer): SignatureVerdict {
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header?.trim() ?? "");
  if (!match) return "bad_signature";
  const given = Buffer.from(match[1]!, "hex");
  let ok = false;
  for (const secret of secrets) ok = sameBytes(hmac(Buffer.from(secret, "utf8"), body), given) || ok;
  return ok ? "ok" : "bad_signature";
}

/** The Standard Webhooks prefix of GitLab signing tokens. */
export const SIGNING_TOKEN_PREFIX = "whsec_";

/** The HMAC key of a Standard Webhooks secret: its base64 part, decoded. */
export const standardWebhooksKey = (secret: string) => Buffer.from(secret.startsWith(SIGNING_TOKEN_PREFIX) ? secret.slice(SIGNING_TOKEN_PREFIX.length) : secret, "base64");

/**
 * GitLab signing tokens (Standard Webhooks): webhook-signature holds one or
 * more space-separated "v1,<base64 HMAC-SHA256 over id.timestamp.body>".
 */
export function verifyStandardWebhook(
  secrets: readonly string[],
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  body: Buffer,
  nowSeconds: number,
): SignatureVerdict {
  if (!headers.id || !headers.timestamp || !headers.signature) return "bad_signature";
  const given = headers.signature
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .map((s) => Buffer.from(s.slice(3), "base64"))
    .filter((b) => b.length === 32);
  if (given.length === 0) return "bad_signature";
  let ok = false;
  for (const secret of secrets) {
    const expected = hmac(standardWebhooksKey(secret), `${headers.id}.${headers.timestamp}.`, body);
    for (const g of given) ok = sameBytes(expected, g) || ok;
  }
  if (!ok) return "bad_signature";
  return freshTimestamp(headers.timestamp, nowSeconds) === undefined ? "stale_timestamp" : "ok";
}

/** GitLab's legacy X-Gitlab-Token: the secret itself, compared in constant time. */
export function verifyGitLabToken(secrets: readonly string[], header: string | undefined): SignatureVerdict {
  if (!header) return "bad_signature";
  const given = Buffer.from(header, "utf8");
  let ok = false;
  for (const secret of secrets) ok = sameBytes(Buffer.from(secret, "utf8"), given) || ok;
  return ok ? "ok" : "bad_signature";
}
