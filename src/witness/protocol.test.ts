import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ed25519FromSeed, ed25519RawPublic } from "../crypto/note-signing.js";
import { formatAddCheckpoint, parseAddCheckpoint, parseTlogSize, parseWitnessPrivateKey, witnessPrivateKeyString, WitnessRequestError } from "./protocol.js";

const note = "example.com/log\n20\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/log AAAAAQAAAAA=\n";
const hash = new Uint8Array(32).fill(7);

describe("tlog-witness add-checkpoint body", () => {
  it("round-trips old size, proof and the checkpoint verbatim", () => {
    const body = formatAddCheckpoint(10, [hash, hash], note);
    expect(body.startsWith("old 10\nBwcH")).toBe(true);
    const parsed = parseAddCheckpoint(body);
    expect(parsed.oldSize).toBe(10);
    expect(parsed.proof).toHaveLength(2);
    expect(parsed.note).toBe(note);
    expect(parsed.checkpoint).toMatchObject({ origin: "example.com/log", size: 20 });
  });

  it.each([
    ["no empty line", "old 0\n"],
    ["no old line", "\n" + note],
    ["a leading zero", "old 01\n\n" + note],
    ["a short hash", `old 5\nAAAA\n\n${note}`],
    ["old beyond the checkpoint", `old 21\n${Buffer.from(hash).toString("base64")}\n\n${note}`],
    ["a proof with old 0", `old 0\n${Buffer.from(hash).toString("base64")}\n\n${note}`],
    ["not a checkpoint", "old 0\n\nhello\n\n— x AAAAAQ==\n"],
    ["64 proof lines", `old 5\n${`${Buffer.from(hash).toString("base64")}\n`.repeat(64)}\n${note}`],
  ])("refuses %s", (_why, body) => {
    expect(() => parseAddCheckpoint(body)).toThrow(WitnessRequestError);
  });

  it("reads the 409 body's size", () => {
    expect(parseTlogSize("42\n")).toBe(42);
    expect(parseTlogSize("42")).toBeUndefined();
    expect(parseTlogSize("042\n")).toBeUndefined();
  });
});

describe("witness private keys", () => {
  it("round-trips and names the cosignature verifier key", () => {
    const seed = Buffer.from(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }).d!, "base64url");
    const publicKey = ed25519RawPublic(ed25519FromSeed(seed));
    const text = witnessPrivateKeyString("witness.example/w1", seed, publicKey);
    const key = parseWitnessPrivateKey(text, (s) => ed25519RawPublic(ed25519FromSeed(s)));
    expect(key.name).toBe("witness.example/w1");
    expect(key.verifier.type).toBe(0x04);
    expect(key.verifierKey.startsWith("witness.example/w1+")).toBe(true);
    expect(() => parseWitnessPrivateKey(text.replace("+KEY+", "+KEX+"), () => publicKey)).toThrow();
    // Another key's id does not pass.
    const wrongId = text.replace(/\+[0-9a-f]{8}\+/, "+00000000+");
    expect(() => parseWitnessPrivateKey(wrongId, (s) => ed25519RawPublic(ed25519FromSeed(s)))).toThrow(/id/);
  });
});
