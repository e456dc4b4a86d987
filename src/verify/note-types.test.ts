import { generateKeyPairSync, randomBytes } from "node:crypto";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import { describe, expect, it } from "vitest";
import { ed25519FromSeed, ed25519RawPublic, mlDsa44FromSeed, newMlDsa44Key, signatureLine, signNoteWith, type NoteSigner } from "../crypto/note-signing.js";
import { verifyTlogProof } from "./document.js";
import { logSignedNote, openNote, parseVerifierKey, SIG_COSIGNATURE_V1, SIG_ED25519, SIG_ML_DSA_44, splitNote, subtreeV1Message, verifierKeyString, keyId, formatCheckpoint } from "./note.js";
import { formatTlogProof } from "./tlog-proof.js";

const origin = "log.example/proofstreams/str_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const text = formatCheckpoint({ origin, size: 1, root: new Uint8Array(32).fill(4) });

function ed25519Signer(name: string, type: typeof SIG_ED25519 | typeof SIG_COSIGNATURE_V1) {
  const seed = randomBytes(32);
  const pub = ed25519RawPublic(ed25519FromSeed(seed));
  const signer: NoteSigner = { name, keyId: keyId(name, pub, type), type, privateKey: ed25519FromSeed(seed) };
  return { signer, vkey: verifierKeyString(name, pub, type) };
}

function mlDsaSigner(name: string) {
  const { seed, publicKey } = newMlDsa44Key(() => generateKeyPairSync("ml-dsa-44"));
  const signer: NoteSigner = { name, keyId: keyId(name, publicKey, SIG_ML_DSA_44), type: SIG_ML_DSA_44, privateKey: mlDsa44FromSeed(seed, publicKey) };
  return { signer, vkey: verifierKeyString(name, publicKey, SIG_ML_DSA_44), seed, publicKey };
}

describe("signature types 0x01, 0x04 and 0x06 (C2SP signed-note, tlog-cosignature)", () => {
  it("an ML-DSA-44 line signed by node:crypto verifies with @noble/post-quantum, and is the subtree/v1 message", () => {
    const ed = ed25519Signer(origin, SIG_ED25519);
    const pq = mlDsaSigner(origin);
    const note = signNoteWith(text, [ed.signer, pq.signer], 1_700_000_000);
    const pqKey = parseVerifierKey(pq.vkey);
    expect(pqKey.type).toBe(SIG_ML_DSA_44);
    const opened = openNote(note, [parseVerifierKey(ed.vkey), pqKey]);
    expect(opened.verifiedBy).toHaveLength(2);
    expect(opened.timestamps.get(pqKey)).toBe(1_700_000_000);
    // The same bytes by FIPS 204 directly: 8-byte timestamp, then the signature over the cosigned_message.
    const sig = splitNote(note).signatures[1]!.signature;
    const message = subtreeV1Message(origin, 1_700_000_000, { origin, size: 1, root: new Uint8Array(32).fill(4) });
    expect(ml_dsa44.verify(sig.subarray(8), message, pq.publicKey)).toBe(true);
    // Another size in the text: the signature does not carry over.
    const moved = note.replace(`${origin}\n1\n`, `${origin}\n2\n`);
    expect(openNote(moved, [pqKey]).verifiedBy).toHaveLength(0);
  });

  it("a cosignature/v1 line verifies with its timestamp; a changed timestamp does not", () => {
    const w = ed25519Signer("witness.example/w1", SIG_COSIGNATURE_V1);
    const line = signatureLine(text, w.signer, 1_679_315_147);
    const key = parseVerifierKey(w.vkey);
    const opened = openNote(`${text}\n${line}`, [key]);
    expect(opened.verifiedBy).toHaveLength(1);
    expect(opened.timestamps.get(key)).toBe(1_679_315_147);
    const blob = Buffer.from(line.trim().split(" ")[2]!, "base64");
    blob.writeBigUInt64BE(1_679_315_148n, 4);
    expect(openNote(`${text}\n— witness.example/w1 ${blob.toString("base64")}\n`, [key]).verifiedBy).toHaveLength(0);
    // An Ed25519 (0x01) key of the same bytes is another key: other id, no verification.
    expect(parseVerifierKey(verifierKeyString("witness.example/w1", key.publicKey)).keyId).not.toBe(key.keyId);
  });

  it("an Ed25519-only verifier reports the ML-DSA-44 line and cosignatures as unknown keys, not failures", () => {
    const ed = ed25519Signer(origin, SIG_ED25519);
    const pq = mlDsaSigner(origin);
    const w = ed25519Signer("witness.example/w1", SIG_COSIGNATURE_V1);
    const logNote = signNoteWith(text, [ed.signer, pq.signer]);
    const note = logNote + signatureLine(text, w.signer);
    const report = verifyTlogProof(formatTlogProof({ index: 0, hashes: [], checkpoint: note }), { pinnedKey: ed.vkey });
    const signature = report.checks.find((c) => c.name === "signature")!;
    expect(signature.status).toBe("pass");
    expect(signature.detail).toMatch(/2 other signature lines by unknown keys, not checked/);
    // What anchors hash: the log's lines only.
    expect(logSignedNote(note, origin)).toBe(logNote);
  });
});
