import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SIG_ED25519, type NoteSigner } from "../crypto/note-signing.js";
import { KeyGeneration } from "./keys.js";

const signer = (keyId: number): NoteSigner => ({ name: "log.test/x", keyId, type: SIG_ED25519, privateKey: generateKeyPairSync("ed25519").privateKey });

describe("KeyGeneration: who signs the checkpoint after one of a given size", () => {
  const [old, fresh] = [signer(1), signer(2)];

  it("the first keys sign every checkpoint alone", () => {
    const first = new KeyGeneration(0, [old], [], 0);
    for (const size of [0, 1, 10]) expect(first.signersAfter(size)).toEqual([old]);
  });

  it("after a rotation at 5: the checkpoint after 5 (or after a smaller one) is the handover, signed new key first; later ones by the new key alone", () => {
    const rotated = new KeyGeneration(1, [fresh], [old], 5);
    expect(rotated.handover(5)).toBe(true);
    expect(rotated.signersAfter(5)).toEqual([fresh, old]);
    expect(rotated.signersAfter(3)).toEqual([fresh, old]);
    expect(rotated.handover(6)).toBe(false);
    expect(rotated.signersAfter(6)).toEqual([fresh]);
  });
});
