import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { auditPath, buildBundle } from "../../test/support/bundles.js";
import { readBundle, verifyBundle } from "./bundle.js";
import { toBase64 } from "./bytes.js";
import { verifyDocument } from "./document.js";
import { leafBytesOf } from "./leaf.js";
import { NoteError, openNote, parseCheckpoint, parseVerifierKey, splitNote } from "./note.js";
import { formatTlogProof, parseTlogProof, TlogProofError } from "./tlog-proof.js";

/**
 * Property-based fuzzing (fast-check) of every parser the verifier runs on
 * documents from anyone: a bundle, a tlog-proof, a signed note and its
 * checkpoint, the anchor receipts. Each either answers or throws its own
 * documented error type (NoteError, TlogProofError), never anything else,
 * and takes time in proportion to its input: the bound below is 250 ms for
 * inputs of at most some tens of KB, where a correct parser needs well
 * under one, so only a super-linear path (the repeated-signature and
 * deep-nesting kind) can reach it.
 */
const BOUND_MS = 250;
const timed = <T>(f: () => T): T => {
  let at = performance.now();
  const out = f();
  let ms = performance.now() - at;
  // A call over the bound runs once more and the faster run counts: a super-linear path is slow
  // every time, a thread descheduled or a collection on a loaded machine is not.
  if (ms >= BOUND_MS) {
    at = performance.now();
    f();
    ms = Math.min(ms, performance.now() - at);
  }
  expect(ms).toBeLessThan(BOUND_MS);
  return out;
};
const onlyThrows = (types: Array<new (...args: never[]) => Error>, f: () => unknown) => {
  try {
    timed(f);
  } catch (err) {
    if (!types.some((t) => err instanceof t)) throw err;
  }
};

const { bundle, signer, leaves } = buildBundle({ size: 12, from: 3, to: 9, payloads: true, anchored: true });
const pin = { pinnedKey: signer.verifierKey };
const e = bundle.entries[2]!;
const realProof = formatTlogProof({ extra: leafBytesOf({ ...e, stream_id: bundle.stream_id }), index: e.seq_no - 1, hashes: auditPath(leaves, e.seq_no - 1), checkpoint: bundle.checkpoint });
const noteLines = bundle.checkpoint.split("\n");

const b64 = fc.uint8Array({ maxLength: 80 }).map(toBase64);
/** Lines of the kinds these formats hold, and some they do not. */
const line = fc.oneof(
  fc.string({ maxLength: 60 }),
  b64,
  fc.constantFrom(...noteLines, "c2sp.org/tlog-proof@v1", "", "index 0", "index 99999999999999999", `— ${bundle.origin} ${noteLines.at(-2)?.split(" ").at(-1) ?? ""}`),
  b64.map((b) => `extra ${b}`),
  fc.nat().map((n) => `index ${n}`),
  b64.map((b) => `— ${bundle.origin} ${b}`),
);
const lines = fc.array(line, { maxLength: 40 }).map((ls) => ls.join("\n"));

/** A real document with one part replaced by a random JSON value, text or number. */
const mutatedBundle = fc
  .tuple(
    fc.constantFrom(...Object.keys(bundle)),
    fc.oneof(fc.jsonValue({ maxDepth: 4 }), lines, fc.integer(), fc.double()),
    fc.nat({ max: 20 }),
    fc.constantFrom("top", "entry", "anchor", "range_proof"),
  )
  .map(([key, value, i, where]): Record<string, unknown> => {
    const copy = structuredClone(bundle) as unknown as Record<string, unknown> & { entries: Record<string, unknown>[]; anchors: Record<string, unknown>[]; range_proof: Record<string, unknown> };
    const entryKeys = Object.keys(copy.entries[0]!);
    const anchorKeys = Object.keys(copy.anchors[0]!);
    if (where === "top") copy[key] = value;
    else if (where === "entry") copy.entries[i % copy.entries.length]![entryKeys[i % entryKeys.length]!] = value;
    else if (where === "anchor") copy.anchors[0]![anchorKeys[i % anchorKeys.length]!] = value;
    else copy.range_proof[i % 2 ? "hashes" : "tree_size"] = value;
    return copy;
  });

describe("fuzzing the verifier's parsers", () => {
  it("a bundle: any JSON in any field gives a report, and tampering never passes", () => {
    fc.assert(
      fc.property(mutatedBundle, (doc) => {
        const report = timed(() => verifyDocument(JSON.stringify(doc), pin));
        expect(report.kind).toBe("bundle");
        expect(report.checks.length).toBeGreaterThan(0);
        // Unchanged (the random value equalled the original), or caught: every field is checked
        // offline except where the receipt says its transaction is (checked against a chain), and the
        // carried verifier_key, which a pinned key overrides.
        // A receipt replaced by something that is not an object (null, a number) is malformed, not chain-only.
        const anchor0 = Array.isArray(doc.anchors) ? (doc.anchors[0] as unknown) : undefined;
        const chainOnly =
          typeof anchor0 === "object" &&
          anchor0 !== null &&
          !Array.isArray(anchor0) &&
          ["chain_id", "tx_hash", "block_number", "block_hash"].some(
            (k) => JSON.stringify((anchor0 as Record<string, unknown>)[k]) !== JSON.stringify((bundle.anchors[0] as unknown as Record<string, unknown>)[k]),
          );
        // Receipts are optional: a bundle stripped of them is a valid bundle of an unanchored checkpoint.
        const stripped = Array.isArray(doc.anchors) && doc.anchors.length === 0;
        const ignored = chainOnly || stripped || doc.verifier_key !== bundle.verifier_key;
        if (JSON.stringify(doc) !== JSON.stringify(bundle) && !ignored) expect(report.valid).toBe(false);
        expect("bundle" in readBundle(doc) || verifyBundle(doc, pin).checks[0]!.status === "fail").toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("any text as a document gives a report", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          lines,
          fc.json(),
          lines.map((l) => `c2sp.org/tlog-proof@v1\n${l}`),
        ),
        (text) => {
          const report = timed(() => verifyDocument(text, pin));
          expect(["bundle", "tlog-proof"]).toContain(report.kind);
          expect(report.valid).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("a tlog-proof: parseTlogProof throws only TlogProofError; any lines spliced into a real proof give a report", () => {
    const proofLines = realProof.split("\n");
    fc.assert(
      fc.property(lines, fc.nat({ max: proofLines.length }), fc.nat({ max: 3 }), (text, at, drop) => {
        onlyThrows([TlogProofError], () => parseTlogProof(`c2sp.org/tlog-proof@v1\n${text}`));
        const spliced = [...proofLines.slice(0, at), ...text.split("\n"), ...proofLines.slice(at + drop)].join("\n");
        expect(timed(() => verifyDocument(spliced, pin)).kind).toBe(spliced.startsWith("c2sp.org/tlog-proof@v1\n") ? "tlog-proof" : "bundle");
      }),
      { numRuns: 300 },
    );
  });

  it("a signed note and its checkpoint: only NoteError", () => {
    const key = parseVerifierKey(signer.verifierKey);
    fc.assert(
      fc.property(lines, fc.nat({ max: noteLines.length }), (text, at) => {
        const note = [...noteLines.slice(0, at), ...text.split("\n"), ...noteLines.slice(at)].join("\n");
        onlyThrows([NoteError], () => openNote(note, [key]));
        onlyThrows([NoteError], () => parseCheckpoint(text + "\n"));
        onlyThrows([NoteError], () => splitNote(text));
        onlyThrows([NoteError], () => parseVerifierKey(text));
      }),
      { numRuns: 300 },
    );
  });

  it("anchor receipts: any numbers and paths give a report, in time", () => {
    const receipt = fc.record({
      chain_id: fc.oneof(fc.nat(), fc.double()),
      tx_hash: fc.string({ maxLength: 70 }),
      block_number: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      block_hash: fc.string({ maxLength: 70 }),
      batch_root: fc.constantFrom(bundle.anchors[0]!.batch_root, `0x${"0".repeat(64)}`, "0x"),
      leaf_index: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: -5, max: -1 })),
      batch_size: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      path: fc.array(fc.constantFrom(...bundle.anchors[0]!.path, "00".repeat(32), "zz"), { maxLength: 400 }),
    });
    fc.assert(
      fc.property(fc.array(receipt, { maxLength: 20 }), (anchors) => {
        const report = timed(() => verifyDocument(JSON.stringify({ ...bundle, anchors }), pin));
        expect(report.checks.find((c) => c.name === "anchors" || c.name === "format")).toBeDefined();
      }),
      { numRuns: 200 },
    );
  });
});
