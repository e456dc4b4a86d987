import { createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto";

/** Signing secrets: "whsec_" + base64 of 32 random bytes (the Standard Webhooks form). */
export const SECRET_PREFIX = "whsec_";

export const newSigningSecret = () => SECRET_PREFIX + randomBytes(32).toString("base64");

/** The Standard Webhooks key: the secret's base64 part, decoded. */
const standardKey = (secret: string) => Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");

/** The HMAC keys of one subscription's secrets, made once per rotation. */
export interface SigningKeys {
  /** X-Attesto-Signature: the whole current secret string. */
  attesto: KeyObject;
  /** webhook-signature: the decoded current secret, then the previous one in its overlap. */
  standard: KeyObject[];
}

/**
 * KeyObjects rather than the secrets' bytes: given a Buffer or a string,
 * createHmac finds out it is not a KeyObject or CryptoKey by brand checks
 * that throw and catch inside Node, about 100 µs per call on Node 24 (two
 * calls were most of a delivery's CPU); a KeyObject passes the first check.
 */
export function signingKeys(secrets: { secret: string; previousSecret?: string }): SigningKeys {
  return {
    attesto: createSecretKey(Buffer.from(secrets.secret, "utf8")),
    standard: [secrets.secret, ...(secrets.previousSecret ? [secrets.previousSecret] : [])].map((s) => createSecretKey(standardKey(s))),
  };
}

export interface DeliveryToSign {
  id: string;
  eventType: string;
  body: string;
  attempt: number;
  /** Unix seconds. */
  timestamp: number;
  /** The current secret signs X-Attesto-Signature and the first webhook-signature. */
  secret: string;
  /** A previous secret still inside its rotation overlap. */
  previousSecret?: string;
  /** signingKeys() of the secrets above, when the caller keeps them (made here otherwise). */
  keys?: SigningKeys;
}

/**
 * The headers of one attempt. X-Attesto-Signature is the seed's scheme: hex
 * HMAC-SHA256 keyed with the whole secret string over `timestamp + "." +
 * body`. webhook-signature is Standard Webhooks: `v1,` + base64 HMAC-SHA256
 * keyed with the decoded secret over `id.timestamp.body`, one per valid
 * secret, space separated.
 */
export function deliveryHeaders(d: DeliveryToSign): Record<string, string> {
  const ts = String(d.timestamp);
  const keys = d.keys ?? signingKeys(d);
  const attesto = createHmac("sha256", keys.attesto).update(`${ts}.`).update(d.body).digest("hex");
  const standard = keys.standard.map((key) => "v1," + createHmac("sha256", key).update(`${d.id}.${ts}.`).update(d.body).digest("base64")).join(" ");
  return {
    "content-type": "application/json",
    "user-agent": "Attesto-Webhooks/1",
    "x-attesto-event": d.eventType,
    "x-attesto-delivery-id": d.id,
    "x-attesto-timestamp": ts,
    "x-attesto-signature": attesto,
    "x-attesto-attempt": String(d.attempt),
    "webhook-id": d.id,
    "webhook-timestamp": ts,
    "webhook-signature": standard,
  };
}
