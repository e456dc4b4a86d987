import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ed25519RawPublic, mlDsa44FromSeed, newMlDsa44Key, signNoteWith, SIG_ED25519, SIG_ML_DSA_44, type NoteSigner } from "../crypto/note-signing.js";
import { followKeyRotations, formatKeyRotation, parseKeyRotation } from "./key-rotation.js";
import { keyId, NoteError, parseVerifierKey, verifierKeyString } from "./note.js";

const ORIGIN = "attesto.test/proofstreams/str_01ARZ3NDEKTSV4RRFFQ69G5FAV";

function edKey(origin = ORIGIN): { signer: NoteSigner; vkey: string } {
  const privateKey = generateKeyPairSync("ed25519").privateKey;
  const pub = ed25519RawPublic(privateKey);
  return { signer: { name: origin, keyId: keyId(origin, pub), type: SIG_ED25519, privateKey }, vkey: verifierKeyString(origin, pub) };
}

const statement = (from: NoteSigner[], to: { vkey: string }, after: number, extraKeys: string[] = []) =>
  signNoteWith(formatKeyRotation({ origin: ORIGIN, takesOverAfter: after, keys: [to.vkey, ...extraKeys] }), from);

describe("key rotation statements", () => {
  const [k0, k1, k2] = [edKey(), edKey(), edKey()];
  const s1 = statement([k0.signer, k1.signer], k1, 3);
  const s2 = statement([k1.signer, k2.signer], k2, 9);

  it("round-trips the statement text and refuses what is not one", () => {
    const text = formatKeyRotation({ origin: ORIGIN, takesOverAfter: 7, keys: [k1.vkey] });
    expect(text).toBe(`${ORIGIN}\nattesto key-rotation v1\n7\n${k1.vkey}\n`);
    expect(parseKeyRotation(text)).toMatchObject({ origin: ORIGIN, takesOverAfter: 7, keys: [k1.vkey] });
    const { seed, publicKey } = newMlDsa44Key(() => generateKeyPairSync("ml-dsa-44"));
    expect(mlDsa44FromSeed(seed, publicKey).asymmetricKeyType).toBe("ml-dsa-44");
    const mlDsa = verifierKeyString(ORIGIN, publicKey, SIG_ML_DSA_44);
    expect(parseKeyRotation(formatKeyRotation({ origin: ORIGIN, takesOverAfter: 7, keys: [k1.vkey, mlDsa] })).verifiers[1]!.type).toBe(SIG_ML_DSA_44);
    for (const bad of [
      text.replace("attesto key-rotation v1", "attesto key-rotation v2"),
      text.replace("\n7\n", "\n07\n"),
      text.replace("\n7\n", "\n-1\n"),
      `${ORIGIN}\nattesto key-rotation v1\n7\n`,
      formatKeyRotation({ origin: ORIGIN, takesOverAfter: 7, keys: [mlDsa] }),
      formatKeyRotation({ origin: ORIGIN, takesOverAfter: 7, keys: [k1.vkey, k2.vkey] }),
      formatKeyRotation({ origin: ORIGIN, takesOverAfter: 7, keys: [edKey("other.test/log").vkey] }),
    ]) {
      expect(() => parseKeyRotation(bad), bad).toThrow(NoteError);
    }
  });

  it("follows the chain from the pinned first key to the latest one", () => {
    const chain = followKeyRotations(parseVerifierKey(k0.vkey), [s1, s2]);
    expect(chain).toMatchObject({ key: parseVerifierKey(k2.vkey), followed: 2, takesOverAfter: 9 });
    // Pinned later: the statements before the pinned key are not walked.
    expect(followKeyRotations(parseVerifierKey(k1.vkey), [s1, s2])).toMatchObject({ key: parseVerifierKey(k2.vkey), followed: 1 });
    expect(followKeyRotations(parseVerifierKey(k2.vkey), [s1, s2])).toMatchObject({ followed: 0, takesOverAfter: 9 });
    expect(followKeyRotations(parseVerifierKey(k0.vkey), [])).toMatchObject({ key: parseVerifierKey(k0.vkey), followed: 0 });
  });

  it("breaks on a statement the key before it did not sign, the new key did not sign, or whose body changed", () => {
    const pinned = parseVerifierKey(k0.vkey);
    const attacker = edKey();
    const cases: Array<[string, string[], RegExp]> = [
      ["signed by the new key alone", [statement([attacker.signer], attacker, 3)], /not signed by the key before it/],
      ["signed by the old key alone", [statement([k0.signer], k1, 3)], /not signed by the key it names/],
      ["body altered", [s1.replace("\n3\n", "\n4\n")], /not signed by the key before it/],
      ["chain skips a link", [s2], /statement 0 is not signed by the key before it/],
      ["out of order", [s2, s1], /not signed by the key before it/],
      ["takes over below the previous", [s1, statement([k1.signer, k2.signer], k2, 2)], /takes over at 2, before/],
      ["not a note", ["hello\n"], /statement 0/],
    ];
    for (const [name, statements, message] of cases) expect(() => followKeyRotations(pinned, statements), name).toThrow(message);
  });

  it("refuses to follow from an ML-DSA-44 pinned key, whose key never signs statements", () => {
    const { publicKey } = newMlDsa44Key(() => generateKeyPairSync("ml-dsa-44"));
    expect(() => followKeyRotations(parseVerifierKey(verifierKeyString(ORIGIN, publicKey, SIG_ML_DSA_44)), [s1])).toThrow(/pin its Ed25519 key/);
  });
});
