import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatCheckpoint, keyId, openNote, parseCheckpoint, parseVerifierKey, privateKeyFromSeed, rawPublicKey, signNote, verifierKeyString } from "./note.js";

// The published example of golang.org/x/mod/sumdb/note (note.go, example_test.go).
const GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe("C2SP signed notes", () => {
  const seed = Buffer.from(GO_SKEY.split("+").slice(4).join("+"), "base64").subarray(1);
  const privateKey = privateKeyFromSeed(seed);
  const raw = rawPublicKey(privateKey);

  it("derives the published verifier key and key id", () => {
    expect(verifierKeyString("PeterNeumann", raw)).toBe(GO_VKEY);
    expect(keyId("PeterNeumann", raw)).toBe(0xc74f20a3);
  });

  it("signs the published example byte for byte", () => {
    expect(signNote(GO_TEXT, { name: "PeterNeumann", keyId: 0xc74f20a3, privateKey })).toBe(GO_NOTE);
  });

  it("opens the published note with the published verifier key", () => {
    const opened = openNote(GO_NOTE, [parseVerifierKey(GO_VKEY)]);
    expect(opened.text).toBe(GO_TEXT);
    expect(opened.verifiedBy.map((v) => v.name)).toEqual(["PeterNeumann"]);
  });

  it("finds no valid signature on altered text or with another key", () => {
    const altered = GO_NOTE.replace("cryptography", "cryptographY");
    expect(openNote(altered, [parseVerifierKey(GO_VKEY)]).verifiedBy).toEqual([]);
    const other = generateKeyPairSync("ed25519").privateKey;
    const otherKey = parseVerifierKey(verifierKeyString("PeterNeumann", rawPublicKey(other)));
    expect(openNote(GO_NOTE, [otherKey]).verifiedBy).toEqual([]);
  });

  it("rejects malformed verifier keys and notes", () => {
    expect(() => parseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).toThrow(/key id/);
    expect(() => parseVerifierKey("Peter Neumann+c74f20a3+ARpc")).toThrow();
    expect(() => openNote("no signatures\n", [])).toThrow(/signature block/);
    expect(() => openNote(`${GO_TEXT}\nnot a signature\n`, [])).toThrow(/signature line/);
  });

  it("formats and parses tlog-checkpoint bodies without extension lines", () => {
    const root = Buffer.alloc(32, 7);
    const body = formatCheckpoint({ origin: "example.com/log", size: 42, root });
    expect(body).toBe(`example.com/log\n42\n${root.toString("base64")}\n`);
    expect(parseCheckpoint(body)).toEqual({ origin: "example.com/log", size: 42, root });
    expect(parseCheckpoint(`${body}extension line\n`).size).toBe(42);
    expect(() => parseCheckpoint("example.com/log\n042\nAAAA\n")).toThrow();
    expect(() => parseCheckpoint(`example.com/log\n1\n${Buffer.alloc(31).toString("base64")}\n`)).toThrow(/root/);
  });
});
