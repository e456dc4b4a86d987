import { describe, expect, it } from "vitest";
import { formatTlogProof } from "../verify/tlog-proof.js";
import { tlogProofText } from "./tlog-proof.js";

describe("tlogProofText", () => {
  const note = "example.com/log\n3\nAAAA\n\n— example.com/log abcd\n";
  it.each([
    { name: "with hashes", hashes: [Buffer.alloc(32, 1), Buffer.alloc(32, 0xfe)], leaf: Buffer.from('{"a":1}') },
    { name: "no hashes (a one-leaf tree)", hashes: [], leaf: Buffer.from([0, 1, 2, 255]) },
    { name: "leaf as a view into a larger buffer", hashes: [Buffer.alloc(32, 7)], leaf: new Uint8Array(Buffer.from("xxhelloyy")).subarray(2, 7) },
  ])("is formatTlogProof byte for byte: $name", ({ hashes, leaf }) => {
    const proof = { leafIndex: 41, hashes, checkpoint: { note } };
    expect(tlogProofText(leaf, proof as never)).toBe(formatTlogProof({ extra: leaf, index: 41, hashes, checkpoint: note }));
  });
});
