import { createHmac, randomBytes } from "node:crypto";

/** Signing secrets: "whsec_" + base64 of 32 random bytes (the Standard Webhooks form). */
export const SECRET_PREFIX = "whsec_";

export const newSigningSecret = () => SECRET_PREFIX + randomBytes(32).toString("base64");

/** The Standard Webhooks key: the secret's base64 part, decoded. */
const standardKey = (secret: string) => Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");

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
  const attesto = createHmac("sha256", Buffer.from(d.secret, "utf8")).update(`${ts}.`).update(d.body).digest("hex");
  const standard = [d.secret, ...(d.previousSecret ? [d.previousSecret] : [])]
    .map((secret) => "v1," + createHmac("sha256", standardKey(secret)).update(`${d.id}.${ts}.`).update(d.body).digest("base64"))
    .join(" ");
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
