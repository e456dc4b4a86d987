import { describe, expect, it } from "vitest";
import { buildBundle, newSigner } from "../../test/support/bundles.js";
import { formatTlogProof, MAX_PROOF_HASHES, parseTlogProof } from "./tlog-proof.js";
import { fromBase64, toBase64 } from "./bytes.js";
import { verifyDocument } from "./document.js";
import { MAX_NOTE_SIGNATURES, openNote, parseVerifierKey, splitNote } from "./note.js";

/**
 * Documents built to make the verifier work (issue 25): each is answered by
 * a report, and costs no more than its size.
 */

/** The note's single signature line repeated, as the probe's 15.9 MB bundle did with the pinned key. */
const withRepeatedSignature = (note: string, times: number, forge = false) => {
  const { text } = splitNote(note);
  const line = note.slice(text.length + 1, -1);
  const forged = forge ? line.slice(0, -8) + (line.slice(-8, -3) === "AAAAA" ? "BBBBB" : "AAAAA") + line.slice(-3) : line;
  return `${text}\n${Array.from({ length: times - 1 }, () => forged).join("\n")}\n${line}\n`;
};

describe("signature lines", () => {
  const { bundle, signer } = buildBundle({ size: 4, from: 1, to: 4, payloads: false });
  const pin = { pinnedKey: signer.verifierKey };

  it("a note with more signature lines than a C2SP note carries is a format failure, before any signature runs", () => {
    const flood = withRepeatedSignature(bundle.checkpoint, 20_000);
    expect(() => splitNote(flood)).toThrow(`more than ${MAX_NOTE_SIGNATURES} signature lines`);
    const report = verifyDocument(JSON.stringify({ ...bundle, checkpoint: flood }), pin);
    expect(report.checks[0]).toMatchObject({ name: "format", status: "fail" });
    expect(report.checks[0]!.detail).toMatch(/signature lines/);
    const proof = formatTlogProof({ index: 0, hashes: [], checkpoint: flood });
    expect(verifyDocument(proof, pin).checks[0]).toMatchObject({ name: "format", status: "fail" });
  });

  it("a key is tried on the first line that names it only: repeats, same or forged, cost nothing and do not count", () => {
    const repeated = withRepeatedSignature(bundle.checkpoint, MAX_NOTE_SIGNATURES);
    expect(openNote(repeated, [parseVerifierKey(signer.verifierKey)]).verifiedBy).toHaveLength(1);
    expect(verifyDocument(JSON.stringify({ ...bundle, checkpoint: repeated }), pin).checks.find((c) => c.name === "signature")!.status).toBe("pass");
    // A forged line ahead of the genuine one: the key is judged by the forged line, as Go's note.Open judges it.
    const forgedFirst = withRepeatedSignature(bundle.checkpoint, 2, true);
    expect(openNote(forgedFirst, [parseVerifierKey(signer.verifierKey)]).verifiedBy).toHaveLength(0);
  });

  it("several keys: each verified once, an unknown key's lines ignored", () => {
    const other = newSigner(bundle.origin);
    const keys = [parseVerifierKey(signer.verifierKey), parseVerifierKey(other.verifierKey)];
    const opened = openNote(bundle.checkpoint, keys);
    expect(opened.verifiedBy.map((k) => k.keyId)).toEqual([signer.keyId]);
  });
});

describe("base64", () => {
  it("decodes megabytes without a deep stack, and refuses what is not canonical", () => {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
    const text = toBase64(big);
    expect(Buffer.from(fromBase64(text)!).equals(big)).toBe(true);
    expect(fromBase64(text.slice(0, -1) + "*")).toBeUndefined();
    expect(fromBase64("A".repeat(8 * 1024 * 1024 + 1))).toBeUndefined();
    for (const bad of ["A", "AA", "AAA", "A===", "AA=A", "=AAA", "AAF=", "AB==", "AA\u00e9A", "AA E"]) expect(fromBase64(bad), bad).toBeUndefined();
    expect(fromBase64("")).toEqual(new Uint8Array(0));
    expect(fromBase64("AA==")).toEqual(new Uint8Array([0]));
    expect(fromBase64("AAA=")).toEqual(new Uint8Array([0, 0]));
  });

  it("a tlog-proof whose extra line holds 8 MB of base64 is a report, not a thrown RangeError", () => {
    const { bundle } = buildBundle({ size: 4, from: 1, to: 4, payloads: false });
    const proof = `c2sp.org/tlog-proof@v1\nextra ${"QUFB".repeat(2 * 1024 * 1024)}\nindex 0\n\n${bundle.checkpoint}`;
    const report = verifyDocument(proof);
    expect(report.kind).toBe("tlog-proof");
    expect(report.checks.find((c) => c.name === "leaves")).toMatchObject({ status: "fail" });
  });

  it("a tlog-proof of more proof lines than any inclusion proof has fails its format check at line 64, not after decoding a million", () => {
    const { bundle } = buildBundle({ size: 4, from: 1, to: 4, payloads: false });
    const hash = `${toBase64(new Uint8Array(32).fill(7))}\n`;
    const proofOf = (lines: number) => `c2sp.org/tlog-proof@v1\nindex 1\n${hash.repeat(lines)}\n${bundle.checkpoint}`;
    expect(parseTlogProof(proofOf(MAX_PROOF_HASHES)).hashes).toHaveLength(MAX_PROOF_HASHES);
    expect(() => parseTlogProof(proofOf(MAX_PROOF_HASHES + 1))).toThrow(/more than 63 proof lines/);
    const huge = proofOf(1_000_000);
    // The repeat and the template make a rope of 45 MB that V8 flattens on first use (300 ms under
    // load): done here, so the time below is the verifier's (about 10 ms), not the test's string.
    expect(huge.isWellFormed()).toBe(true);
    const started = performance.now();
    const report = verifyDocument(huge);
    expect(performance.now() - started).toBeLessThan(250);
    expect(report.valid).toBe(false);
    expect(report.checks.find((c) => c.name === "format")).toMatchObject({ status: "fail", detail: expect.stringMatching(/more than 63 proof lines/) });
  });
});
