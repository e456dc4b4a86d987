import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpensslTsa, type TsaSigner, type TsaTamper } from "../../test/support/tsa.js";
import { certificatesFromPem, nonceValue, timestampRequest, TimestampError, tokenOfResponse, verifyTimestampToken } from "./rfc3161.js";

const note = new TextEncoder().encode("example.com/log\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/log AAAAAQAAAAA=\n");
const sha256 = new Uint8Array(createHash("sha256").update(note).digest());

let tsa: OpensslTsa;
let roots: Uint8Array[];

beforeAll(async () => {
  tsa = await OpensslTsa.create();
  roots = certificatesFromPem(await tsa.caPem());
}, 60_000);
afterAll(() => tsa?.close());

async function stamped(signer: TsaSigner = "trusted", tamper: TsaTamper = "none") {
  const nonce = randomBytes(8);
  tsa.signer = signer;
  tsa.tamper = tamper;
  const token = tokenOfResponse(await tsa.reply(timestampRequest(sha256, nonce)));
  return { token, nonce };
}

const failed = (v: { checks: { name: string; ok: boolean }[] }) => v.checks.filter((c) => !c.ok).map((c) => c.name);

describe("RFC 3161 tokens from openssl ts -reply", () => {
  it("passes every check for the note's imprint, the request's nonce and a trusted TSA", async () => {
    const { token, nonce } = await stamped();
    const v = await verifyTimestampToken(token, { sha256, roots, nonce });
    expect(failed(v)).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(["token", "imprint", "nonce", "signature", "chain", "key_usage", "validity"]);
    expect(v.tsa).toContain("Attesto test TSA trusted");
    expect(Math.abs(v.genTime!.getTime() - Date.now())).toBeLessThan(60_000);
    // A later verifier has no nonce to compare: that check is not run.
    const later = await verifyTimestampToken(token, { sha256, roots });
    expect(later.ok).toBe(true);
    expect(later.checks.map((c) => c.name)).not.toContain("nonce");
  });

  it.each([
    ["a token over another imprint", "trusted", "imprint", "imprint"],
    ["a token with another nonce", "trusted", "nonce", "nonce"],
    ["a TSA certificate from a CA not trusted", "untrusted", "none", "chain"],
    ["an expired TSA certificate", "expired", "none", "validity"],
  ] as const)("%s fails its check only", async (_why, signer, tamper, check) => {
    const { token, nonce } = await stamped(signer, tamper);
    const v = await verifyTimestampToken(token, { sha256, roots, nonce });
    expect(failed(v)).toEqual([check]);
    expect(v.ok).toBe(false);
  });

  it("fails the signature when a byte of the signed TSTInfo changes", async () => {
    const { token, nonce } = await stamped();
    // The genTime's year is inside the signed content: 20xx -> 21xx.
    const text = Buffer.from(token).toString("latin1");
    const at = text.indexOf(String(new Date().getUTCFullYear()));
    const tampered = Uint8Array.from(token);
    tampered[at + 1] = "1".charCodeAt(0);
    const v = await verifyTimestampToken(tampered, { sha256, roots, nonce });
    expect(failed(v)).toContain("signature");
    expect(failed(v)).not.toContain("imprint");
  });

  it("fails the chain when no root is given, and every check of bytes that are not a token", async () => {
    const { token } = await stamped();
    expect(failed(await verifyTimestampToken(token, { sha256, roots: [] }))).toEqual(["chain"]);
    const garbage = await verifyTimestampToken(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), { sha256, roots });
    expect(garbage.ok).toBe(false);
    expect(garbage.checks[0]).toMatchObject({ name: "token", ok: false });
  });

  it("reads a refusal as a TimestampError", async () => {
    // TimeStampResp { status { rejection } }, no token.
    expect(() => tokenOfResponse(new Uint8Array([0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]))).toThrow(/rejection/);
    expect(() => tokenOfResponse(new Uint8Array([1, 2, 3]))).toThrow(TimestampError);
  });
});

describe("requests and roots", () => {
  it("encodes the request openssl reads back", async () => {
    const nonce = Uint8Array.from([0x80, 1, 2, 3, 4, 5, 6, 7]);
    const q = timestampRequest(sha256, nonce);
    const file = tsa.file("unit-query.der");
    await import("node:fs/promises").then((fs) => fs.writeFile(file, q));
    const text = await tsa.openssl(["ts", "-query", "-in", file, "-text"]);
    expect(text).toContain("Hash Algorithm: sha256");
    expect(text).toContain("Nonce: 0x8001020304050607");
    expect(text).toContain("Certificate required: yes");
    expect(nonceValue(nonce)).toBe(0x8001020304050607n);
  });

  it("refuses PEM text without a certificate", () => {
    expect(() => certificatesFromPem("nothing here")).toThrow(TimestampError);
    expect(() => certificatesFromPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")).toThrow(/does not parse/);
  });
});
