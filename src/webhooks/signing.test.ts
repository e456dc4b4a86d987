import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deliveryHeaders, newSigningSecret, signingKeys } from "./signing.js";

describe("deliveryHeaders", () => {
  const secret = newSigningSecret();
  const previousSecret = newSigningSecret();
  const d = { id: "dlv_1", eventType: "proofstream.checkpointed", body: '{"a":1}', attempt: 2, timestamp: 1_800_000_000 };
  const hex = (key: Buffer | string, text: string) => createHmac("sha256", key).update(text).digest("hex");
  const b64 = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest("base64");
  const decoded = (s: string) => Buffer.from(s.slice("whsec_".length), "base64");

  it("signs with keys made once exactly as from the secrets", () => {
    const fromSecrets = deliveryHeaders({ ...d, secret, previousSecret });
    const fromKeys = deliveryHeaders({ ...d, secret, previousSecret, keys: signingKeys({ secret, previousSecret }) });
    expect(fromKeys).toEqual(fromSecrets);
    expect(fromKeys["x-attesto-signature"]).toBe(hex(secret, `1800000000.${d.body}`));
    expect(fromKeys["webhook-signature"]).toBe(`v1,${b64(decoded(secret), `dlv_1.1800000000.${d.body}`)} v1,${b64(decoded(previousSecret), `dlv_1.1800000000.${d.body}`)}`);
  });

  it("signs with the current secret alone outside a rotation", () => {
    const h = deliveryHeaders({ ...d, secret, keys: signingKeys({ secret }) });
    expect(h["webhook-signature"]).toBe(`v1,${b64(decoded(secret), `dlv_1.1800000000.${d.body}`)}`);
  });
});
