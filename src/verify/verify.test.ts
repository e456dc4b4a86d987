import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { auditPath, buildBundle, newSigner, TAMPERS } from "../../test/support/bundles.js";
import { EMPTY_ROOT as SERVER_EMPTY_ROOT, leafHash as serverLeafHash, nodeHash as serverNodeHash, nodeSha256Into } from "../crypto/rfc9162.js";
import { signNote } from "../proofstream/note.js";
import { fromBase64, toBase64, toHex, utf8 } from "./bytes.js";
import { verifyDocument } from "./document.js";
import { jcs, leafBytesOf, leafText, parseLeaf, payloadDigest } from "./leaf.js";
import { EMPTY_ROOT, leafHash, nodeHash, rangeProofRanges, rootFromRangeProof, rootOfLeafHashes } from "./merkle.js";
import { formatCheckpoint } from "./note.js";
import { formatTlogProof, parseTlogProof } from "./tlog-proof.js";

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => leafHash(utf8(`leaf ${i}`)));

describe("hashing: the browser-safe library, the server's node:crypto instance and RFC 9162 written out agree", () => {
  it("leaf and node hashes, the empty root, and the payload digest", () => {
    const sha256Hex = (...parts: Uint8Array[]) => parts.reduce((h, p) => h.update(p), createHash("sha256")).digest("hex");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (data, other) => {
        const leaf = sha256Hex(new Uint8Array([0]), data);
        const node = sha256Hex(new Uint8Array([1]), data, other);
        expect(toHex(leafHash(data))).toBe(leaf);
        expect(serverLeafHash(data).toString("hex")).toBe(leaf);
        expect(toHex(nodeHash(data, other))).toBe(node);
        expect(serverNodeHash(data, other).toString("hex")).toBe(node);
      }),
    );
    expect(toHex(EMPTY_ROOT)).toBe(sha256Hex());
    expect(SERVER_EMPTY_ROOT.toString("hex")).toBe(sha256Hex());
    expect(payloadDigest({ b: 1, a: "é" })).toBe(createHash("sha256").update('{"a":"é","b":1}').digest("hex"));
  });

  it("the leaf text is RFC 8785 of the leaf fields, whatever the characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string(), fc.nat(), (sourceRef, eventType, seqNo) => {
        const r = {
          stream_id: "str_X",
          seq_no: seqNo,
          source_ref: sourceRef,
          event_type: eventType,
          occurred_at: "2026-06-07T12:00:00.000Z",
          received_at: "2026-06-07T12:00:00.001Z",
          payload_sha256: "ab".repeat(32),
        };
        expect(leafText(r)).toBe(jcs({ v: 1, ...r }));
        expect(toHex(utf8(leafText(r)))).toBe(Buffer.from(leafText(r), "utf8").toString("hex"));
      }),
    );
  });

  it("base64 is strict: canonical padding only", () => {
    expect(toBase64(fromBase64("AAEC")!)).toBe("AAEC");
    expect(fromBase64("AAE=")).toEqual(new Uint8Array([0, 1]));
    expect(fromBase64("AAF=")).toBeUndefined();
    expect(fromBase64("AA E")).toBeUndefined();
  });
});

describe("range proof", () => {
  it("proves every contiguous range of trees up to 24 leaves with O(log n) hashes", () => {
    for (let size = 1; size <= 24; size++) {
      const leaves = leavesOf(size);
      const root = rootOfLeafHashes(leaves);
      for (let begin = 0; begin < size; begin++) {
        for (let end = begin + 1; end <= size; end++) {
          const proof = rangeProofRanges(begin, end, size).map(([lo, hi]) => rootOfLeafHashes(leaves, lo, hi));
          expect(proof.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(size + 1)));
          expect(toHex(rootFromRangeProof(begin, size, leaves.slice(begin, end), proof))).toBe(toHex(root));
        }
      }
    }
  });

  it("stays O(log n) for large trees and rejects a shifted range", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 2 ** 40 })
          .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })))
          .chain(([size, begin]) => fc.tuple(fc.constant(size), fc.constant(begin), fc.integer({ min: begin + 1, max: size }))),
        ([size, begin, end]) => {
          expect(rangeProofRanges(begin, end, size).length).toBeLessThanOrEqual(2 * 41);
        },
      ),
    );
    const leaves = leavesOf(20);
    const proof = rangeProofRanges(5, 9, 20).map(([lo, hi]) => rootOfLeafHashes(leaves, lo, hi));
    const shifted = () => toHex(rootFromRangeProof(6, 20, leaves.slice(5, 9), proof));
    expect(shifted).toThrow(/hashes/);
    const swapped = [...leaves.slice(5, 9)].reverse();
    expect(toHex(rootFromRangeProof(5, 20, swapped, proof))).not.toBe(toHex(rootOfLeafHashes(leaves)));
    expect(() => rootFromRangeProof(5, 20, leaves.slice(5, 9), proof.slice(1))).toThrow(/hashes/);
  });
});

describe("tlog-proof", () => {
  it("round-trips and verifies against a pinned key; without the pin it is unpinned, with another key it fails", () => {
    const { bundle, signer, leaves } = buildBundle({ size: 9, from: 1, to: 9, payloads: false });
    const e = bundle.entries[4]!;
    const extra = leafBytesOf({ ...e, stream_id: bundle.stream_id });
    expect(parseLeaf(new TextDecoder().decode(extra))?.seq_no).toBe(5);
    const text = formatTlogProof({ extra, index: 4, hashes: auditPath(leaves, 4), checkpoint: bundle.checkpoint });
    expect(text.split("\n").slice(0, 3)).toEqual(["c2sp.org/tlog-proof@v1", `extra ${toBase64(extra)}`, "index 4"]);
    expect(parseTlogProof(text).hashes).toHaveLength(auditPath(leaves, 4).length);

    const pinned = verifyDocument(text, { pinnedKey: signer.verifierKey });
    expect(pinned.checks.map((c) => [c.name, c.status])).toEqual([
      ["format", "pass"],
      ["signature", "pass"],
      ["leaves", "pass"],
      ["inclusion_proof", "pass"],
    ]);
    expect(pinned).toMatchObject({ valid: true, kind: "tlog-proof", stream_id: bundle.stream_id, from_seq_no: 5, to_seq_no: 5, checkpoint_size: 9 });
    const unpinned = verifyDocument(text);
    expect(unpinned.valid).toBe(false);
    expect(unpinned.checks.find((c) => c.name === "signature")!.status).toBe("unpinned");
    expect(
      verifyDocument(text, { pinnedKey: newSigner(bundle.origin).verifierKey })
        .checks.filter((c) => c.status === "fail")
        .map((c) => c.name),
    ).toEqual(["signature"]);

    const lines = text.split("\n");
    lines[3] = toBase64(new Uint8Array(32));
    const tampered = verifyDocument(lines.join("\n"), { pinnedKey: signer.verifierKey });
    expect(tampered.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["inclusion_proof"]);
  });

  it("reports a malformed proof under format", () => {
    const r = verifyDocument("c2sp.org/tlog-proof@v1\nindex 01\n\nx\n");
    expect(r.checks[0]).toMatchObject({ name: "format", status: "fail" });
    expect(r.valid).toBe(false);
  });
});

describe("attesto.bundle.v1 verification", () => {
  const base = buildBundle({ size: 37, from: 6, to: 21, payloads: true, anchored: true });
  const pin = { pinnedKey: base.signer.verifierKey };

  it("passes every check with the pinned key", () => {
    const r = verifyDocument(JSON.stringify(base.bundle), pin);
    expect(r.checks.map((c) => [c.name, c.status])).toEqual([
      ["format", "pass"],
      ["signature", "pass"],
      ["leaves", "pass"],
      ["range_proof", "pass"],
      ["anchors", "offline"],
    ]);
    // Offline, an anchor receipt's path is all that can be checked: said so, never a bare pass.
    expect(r.checks.find((c) => c.name === "anchors")!.detail).toMatch(/^offline: path only/);
    expect(r).toMatchObject({ valid: true, stream_id: base.bundle.stream_id, from_seq_no: 6, to_seq_no: 21, checkpoint_size: 37, entries: 16, anchors: 1 });
  });

  it("calls the carried key unpinned without a pin, and a bundle without payloads or anchors still verifies", () => {
    const { bundle, signer } = buildBundle({ size: 5, from: 2, to: 4, payloads: false });
    const unpinned = verifyDocument(JSON.stringify(bundle));
    expect(unpinned.valid).toBe(false);
    expect(unpinned.checks.map((c) => c.status)).toEqual(["pass", "unpinned", "pass", "pass", "skipped"]);
    const pinned = verifyDocument(JSON.stringify(bundle), { pinnedKey: signer.verifierKey });
    expect(pinned.valid).toBe(true);
    expect(pinned.checks.find((c) => c.name === "anchors")!.detail).toMatch(/not anchored yet/);
  });

  // An anchor receipt covers one exact checkpoint note: a tampering that replaces the note runs on a
  // bundle without receipts (anchors: skipped), the others on the anchored one.
  const unanchored = buildBundle({ size: 37, from: 6, to: 21, payloads: true, signer: base.signer });
  for (const tamper of TAMPERS) {
    it(`${tamper.name} fails ${tamper.fails} and nothing else`, () => {
      const subject = tamper.replacesCheckpoint ? unanchored : base;
      const r = verifyDocument(JSON.stringify(tamper.apply(subject.bundle, subject.signer)), pin);
      expect(r.valid).toBe(false);
      expect(r.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual([tamper.fails]);
      expect(r.checks.filter((c) => c.status !== "fail").every((c) => c.status === "pass" || (c.name === "anchors" && (c.status === "skipped" || c.status === "offline")))).toBe(true);
    });
  }

  it("a replaced checkpoint is no longer the anchored one: the receipts fail too", () => {
    const swapped = TAMPERS.find((t) => t.name === "root swapped")!.apply(base.bundle, base.signer);
    expect(
      verifyDocument(JSON.stringify(swapped), pin)
        .checks.filter((c) => c.status === "fail")
        .map((c) => c.name),
    ).toEqual(["range_proof", "anchors"]);
  });

  it("a bundle whose checkpoint another key signed is caught even when the forger swaps the carried key", () => {
    const forged = TAMPERS.find((t) => t.name === "checkpoint signed by another key")!.apply(base.bundle, base.signer);
    // Unpinned, the forgery looks self-consistent: which is why the key must be pinned.
    expect(verifyDocument(JSON.stringify(forged)).checks.find((c) => c.name === "signature")!.status).toBe("unpinned");
  });

  it("answers malformed documents with a failed format check, never a throw", () => {
    for (const text of ["", "{", "[]", '{"format":"attesto.bundle.v1"}', JSON.stringify({ ...base.bundle, entries: [{}] }), JSON.stringify({ ...base.bundle, checkpoint: "nope" })]) {
      const r = verifyDocument(text, pin);
      expect(r.valid).toBe(false);
      expect(r.checks[0]).toMatchObject({ name: "format", status: "fail" });
      expect(r.checks.slice(1).every((c) => c.status === "fail" && c.detail.startsWith("not run"))).toBe(true);
    }
  });

  it("rejects a checkpoint signed under another origin name", () => {
    const other = newSigner("elsewhere.example/log");
    const body = formatCheckpoint({ origin: base.bundle.origin, size: 37, root: new Uint8Array(32) });
    const bundle = { ...base.bundle, checkpoint: signNote(body, other) };
    expect(verifyDocument(JSON.stringify(bundle), { pinnedKey: other.verifierKey }).checks.find((c) => c.name === "signature")).toMatchObject({ status: "fail" });
  });
});

describe("the JSON Schema (schemas/attesto.bundle.v1.schema.json)", () => {
  const schema = JSON.parse(readFileSync(new URL("../../schemas/attesto.bundle.v1.schema.json", import.meta.url), "utf8")) as {
    required: string[];
    properties: Record<string, unknown>;
    $defs: { entry: { required: string[]; properties: Record<string, unknown> }; anchorReceipt: { required: string[] } };
  };

  it("names exactly the fields a bundle has, entries and anchor receipts included", () => {
    const { bundle } = buildBundle({ size: 6, from: 2, to: 5, payloads: true, anchored: true });
    expect(Object.keys(bundle).sort()).toEqual([...schema.required].sort());
    // The optional fields: the RFC 3161 token, when the checkpoint had one; the key rotation statements, once the stream rotated.
    expect(Object.keys(schema.properties).sort()).toEqual([...schema.required, "timestamp_token", "key_rotations"].sort());
    for (const entry of bundle.entries) {
      expect(schema.$defs.entry.required.every((k) => k in entry)).toBe(true);
      expect(Object.keys(entry).every((k) => k in schema.$defs.entry.properties)).toBe(true);
    }
    expect(Object.keys(bundle.anchors[0]!).sort()).toEqual([...schema.$defs.anchorReceipt.required].sort());
  });
});

describe("a bundle whose payloads outgrow its leaf texts", () => {
  it("checks each payload against its own digest (the first one longer than any leaf text hashed before it)", () => {
    // The verifier reuses one text buffer: a payload longer than it makes it grow, and the digest must be of the grown one.
    const payloadOf = (seq: number) => ({ seq, filler: "x".repeat(seq === 1 ? 2_000 : 10) });
    const { bundle, signer } = buildBundle({ size: 4, from: 1, to: 4, payloads: true, payloadOf });
    const report = verifyDocument(JSON.stringify(bundle), { pinnedKey: signer.verifierKey });
    expect(report.checks.find((c) => c.name === "leaves")).toMatchObject({ status: "pass" });
    expect(report.valid).toBe(true);
  });
});

describe("a bundle of any characters", () => {
  // Keys out of order and integer-like (which JSON.parse puts first), escapes, controls, 2- to 4-byte UTF-8.
  const payloadOf = (seq: number) => ({ é: `line\n"q" \\ / 😀 \u0001 ${seq}`, "10": [seq, -0.5, 1e21, null, true], "9": { z: "\u2028", a: {} }, "": "" });
  const { bundle, signer } = buildBundle({ size: 9, from: 2, to: 8, payloads: true, payloadOf });
  const pin = { pinnedKey: signer.verifierKey };

  it("recomputes each leaf and payload digest, with the library's SHA-256 and with node:crypto's", () => {
    for (const options of [pin, { ...pin, sha256: nodeSha256Into }]) {
      const report = verifyDocument(JSON.stringify(bundle), options);
      expect(report.checks.find((c) => c.name === "leaves")).toEqual({ name: "leaves", status: "pass", detail: "7 leaves recomputed, 7 payload digests checked" });
      expect(report.valid).toBe(true);
    }
  });

  it("fails a payload JCS refuses (a lone surrogate) as one that does not match its digest", () => {
    const tampered = JSON.parse(JSON.stringify(bundle)) as typeof bundle;
    tampered.entries[2]!.payload = { text: "\ud800" };
    const report = verifyDocument(JSON.stringify(tampered), pin);
    expect(report.checks.find((c) => c.name === "leaves")).toEqual({ name: "leaves", status: "fail", detail: "entry 4: the payload does not match payload_sha256" });
  });
});
