import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { keyId, rawPublicKey, signNote, verifierKeyString } from "../../src/proofstream/note.js";
import type { AnchorReceipt, BundleDocument, CheckName } from "../../src/verify/bundle.js";
import { toHex, utf8 } from "../../src/verify/bytes.js";
import { leafBytesOf, payloadDigest, type LeafRecord } from "../../src/verify/leaf.js";
import { leafHash, rangeProofRanges, rootOfLeafHashes, splitPoint } from "../../src/verify/merkle.js";
import { formatCheckpoint, parseCheckpoint, splitNote } from "../../src/verify/note.js";

/**
 * Bundles built without a server, from the format's definition alone, for
 * the library's table-driven tamper tests (and the CLI and HTTP ones).
 */
export interface TestSigner {
  name: string;
  keyId: number;
  privateKey: KeyObject;
  verifierKey: string;
}

export function newSigner(origin: string): TestSigner {
  const { privateKey } = generateKeyPairSync("ed25519");
  const raw = rawPublicKey(privateKey);
  return { name: origin, keyId: keyId(origin, raw), privateKey, verifierKey: verifierKeyString(origin, raw) };
}

/** RFC 9162 PATH(m, D[lo:hi]) over leaf hashes, the obvious recursive way. */
export function auditPath(leaves: Uint8Array[], m: number, lo = 0, hi = leaves.length): Uint8Array[] {
  if (hi - lo === 1) return [];
  const k = splitPoint(hi - lo);
  return m < k ? [...auditPath(leaves, m, lo, lo + k), rootOfLeafHashes(leaves, lo + k, hi)] : [...auditPath(leaves, m - k, lo + k, hi), rootOfLeafHashes(leaves, lo, lo + k)];
}

export interface BuiltBundle {
  bundle: BundleDocument;
  signer: TestSigner;
  /** The leaf hashes of the whole tree. */
  leaves: Uint8Array[];
}

export function buildBundle(opts: {
  size: number;
  from: number;
  to: number;
  payloads: boolean;
  anchored?: boolean;
  signer?: TestSigner;
  /** Each event's payload (default: a small object naming its seq_no). */
  payloadOf?: (seq: number) => Record<string, unknown>;
}): BuiltBundle {
  const streamId = "str_01JTESTSTREAM0000000000000";
  const origin = `attesto.test/proofstreams/${streamId}`;
  const signer = opts.signer ?? newSigner(origin);
  const records: Array<LeafRecord & { payload: unknown }> = [];
  for (let seq = 1; seq <= opts.size; seq++) {
    const payload = opts.payloadOf?.(seq) ?? { n: seq, note: `event ${seq}`, nested: { ok: seq % 2 === 0 } };
    const at = new Date(Date.UTC(2026, 5, 7, 12, 0, 0, seq)).toISOString();
    records.push({
      stream_id: streamId,
      seq_no: seq,
      source_ref: `ref-${seq}`,
      event_type: seq % 3 ? "source.observation" : "source.change",
      occurred_at: at,
      received_at: at,
      payload_sha256: payloadDigest(payload),
      payload,
    });
  }
  const leaves = records.map((r) => leafHash(leafBytesOf(r)));
  const root = rootOfLeafHashes(leaves);
  const checkpoint = signNote(formatCheckpoint({ origin, size: opts.size, root }), signer);
  const proof = rangeProofRanges(opts.from - 1, opts.to, opts.size).map(([lo, hi]) => toHex(rootOfLeafHashes(leaves, lo, hi)));
  const anchors: AnchorReceipt[] = [];
  if (opts.anchored) {
    // A batch of three checkpoint notes; ours is the middle one.
    const batch = [utf8("another.example/log\n1\n" + "A".repeat(43) + "=\n"), utf8(checkpoint), utf8("third.example/log\n2\n" + "B".repeat(43) + "=\n")].map(leafHash);
    anchors.push({
      chain_id: 31337,
      tx_hash: `0x${"ab".repeat(32)}`,
      block_number: 12,
      block_hash: `0x${"cd".repeat(32)}`,
      batch_root: `0x${toHex(rootOfLeafHashes(batch))}`,
      leaf_index: 1,
      batch_size: 3,
      path: auditPath(batch, 1).map(toHex),
    });
  }
  const bundle: BundleDocument = {
    format: "attesto.bundle.v1",
    stream_id: streamId,
    origin,
    verifier_key: signer.verifierKey,
    from_seq_no: opts.from,
    to_seq_no: opts.to,
    payloads_included: opts.payloads,
    entries: records.slice(opts.from - 1, opts.to).map(({ payload, stream_id: _s, ...fields }, i) => ({
      ...fields,
      leaf_hash: toHex(leaves[opts.from - 1 + i]!),
      ...(opts.payloads ? { payload } : {}),
    })),
    checkpoint,
    range_proof: { tree_size: opts.size, hashes: proof },
    anchors,
  };
  return { bundle, signer, leaves };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const flipHex = (h: string) => (h[0] === "0" ? "1" : "0") + h.slice(1);

export interface Tamper {
  name: string;
  /** The one check this tampering must fail. */
  fails: CheckName;
  /** Replaces the checkpoint note, which an anchor receipt pins: run it on a bundle without receipts. */
  replacesCheckpoint?: boolean;
  apply(b: BundleDocument, signer: TestSigner): BundleDocument;
}

/** Each tampering of the issue, and the check that must catch it (and no other). */
export const TAMPERS: Tamper[] = [
  {
    name: "changed payload",
    fails: "leaves",
    apply: (b) => {
      const t = clone(b);
      t.entries[1]!.payload = { n: 999 };
      return t;
    },
  },
  {
    name: "changed event type",
    fails: "leaves",
    apply: (b) => {
      const t = clone(b);
      t.entries[1]!.event_type = "source.deleted";
      return t;
    },
  },
  {
    name: "dropped entry",
    fails: "range_proof",
    apply: (b) => {
      const t = clone(b);
      t.entries.splice(1, 1);
      return t;
    },
  },
  {
    name: "reordered entries",
    fails: "range_proof",
    apply: (b) => {
      const t = clone(b);
      [t.entries[1], t.entries[2]] = [t.entries[2]!, t.entries[1]!];
      return t;
    },
  },
  {
    name: "checkpoint signed by another key",
    fails: "signature",
    replacesCheckpoint: true,
    apply: (b) => {
      const t = clone(b);
      const other = newSigner(b.origin);
      t.checkpoint = signNote(splitNote(b.checkpoint).text, other);
      t.verifier_key = other.verifierKey;
      return t;
    },
  },
  {
    name: "root swapped",
    fails: "range_proof",
    replacesCheckpoint: true,
    apply: (b, signer) => {
      const t = clone(b);
      const body = parseCheckpoint(splitNote(b.checkpoint).text);
      const root = new Uint8Array(body.root);
      root[0]! ^= 1;
      t.checkpoint = signNote(formatCheckpoint({ ...body, root }), signer);
      return t;
    },
  },
  {
    name: "range proof hash altered",
    fails: "range_proof",
    apply: (b) => {
      const t = clone(b);
      t.range_proof.hashes[0] = flipHex(t.range_proof.hashes[0]!);
      return t;
    },
  },
  {
    name: "anchor path altered",
    fails: "anchors",
    apply: (b) => {
      const t = clone(b);
      t.anchors[0]!.path[0] = flipHex(t.anchors[0]!.path[0]!);
      return t;
    },
  },
];
