import { createHmac } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { freshTimestamp, MAX_SKEW_SECONDS, verifyGitHub, verifyGitLabToken, verifySignedWebhook, verifyStandardWebhook } from "./signatures.js";

const now = 1_780_000_000;

describe("connector signatures", () => {
  it("GitHub: the published test vector and @octokit/webhooks-methods sign()", async () => {
    const secret = "It's a Secret to Everybody";
    const body = Buffer.from("Hello, World!");
    const vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    expect(verifyGitHub([secret], vector, body)).toBe("ok");
    expect(await sign(secret, "Hello, World!")).toBe(vector);
    expect(verifyGitHub(["other", secret], await sign(secret, '{"zen":"x"}'), Buffer.from('{"zen":"x"}'))).toBe("ok");
    expect(verifyGitHub(["other"], vector, body)).toBe("bad_signature");
    expect(verifyGitHub([secret], vector.replace("sha256=", "sha1="), body)).toBe("bad_signature");
    expect(verifyGitHub([secret], undefined, body)).toBe("bad_signature");
  });

  it("signed webhook: hex HMAC over timestamp.body, 5 minutes of skew either way, stale reported only for a valid signature", () => {
    const body = Buffer.from('{"a":1}');
    const sig = (ts: number, secret = "s3cret") => createHmac("sha256", secret).update(`${ts}.`).update(body).digest("hex");
    const check = (ts: number, signature = sig(ts)) => verifySignedWebhook(["s3cret"], { timestamp: String(ts), signature }, body, now);
    expect(check(now)).toBe("ok");
    expect(check(now - MAX_SKEW_SECONDS)).toBe("ok");
    expect(check(now + MAX_SKEW_SECONDS)).toBe("ok");
    expect(check(now - MAX_SKEW_SECONDS - 1)).toBe("stale_timestamp");
    expect(check(now + MAX_SKEW_SECONDS + 1)).toBe("stale_timestamp");
    expect(check(now, sig(now, "other"))).toBe("bad_signature");
    expect(check(now - 10_000, sig(now - 10_000, "other"))).toBe("bad_signature");
    expect(check(now, sig(now).toUpperCase())).toBe("ok");
    expect(freshTimestamp("1e9", now)).toBeUndefined();
  });

  it("GitLab signing tokens: deliveries signed by the standardwebhooks library verify; legacy tokens compare exactly", () => {
    const secret = "whsec_" + Buffer.alloc(32, 9).toString("base64");
    const wh = new Webhook(secret);
    const payload = '{"object_kind":"push"}';
    const at = new Date(now * 1000);
    const signature = wh.sign("msg_1", at, payload);
    const headers = { id: "msg_1", timestamp: String(now), signature };
    expect(verifyStandardWebhook([secret], headers, Buffer.from(payload), now)).toBe("ok");
    expect(verifyStandardWebhook(["whsec_" + Buffer.alloc(32, 1).toString("base64"), secret], { ...headers, signature: `v1,AAAA ${signature}` }, Buffer.from(payload), now)).toBe("ok");
    expect(verifyStandardWebhook([secret], { ...headers, id: "msg_2" }, Buffer.from(payload), now)).toBe("bad_signature");
    expect(verifyStandardWebhook([secret], headers, Buffer.from(payload), now + 301)).toBe("stale_timestamp");
    expect(verifyGitLabToken(["abc"], "abc")).toBe("ok");
    expect(verifyGitLabToken(["abc"], "abd")).toBe("bad_signature");
    expect(verifyGitLabToken(["abc"], undefined)).toBe("bad_signature");
  });
});
