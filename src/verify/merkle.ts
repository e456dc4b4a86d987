import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { equalBytes } from "./bytes.js";

/**
 * RFC 9162 section 2.1 Merkle tree verification: hashing, inclusion and
 * consistency proofs, and Attesto's range proof. Pure and browser-safe; the
 * server's proof code and every verifier (CLI, RPC, HTTP, page) use these.
 * The hashing takes its SHA-256 as a parameter (`rfc9162`): the library's own
 * exports use noble's, the server builds one on node:crypto (src/crypto/rfc9162.ts),
 * which is what it hashes millions of leaves with.
 */

export const HASH_SIZE = 32;
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** One SHA-256 computation in progress; `H` is the digest's type (Uint8Array, or node's Buffer). */
export interface Sha256State<H extends Uint8Array> {
  update(data: Uint8Array): Sha256State<H>;
  digest(): H;
}

/** A SHA-256: noble's `sha256` fits as is, node's as `{ create: () => createHash("sha256") }`. */
export interface Sha256<H extends Uint8Array> {
  create(): Sha256State<H>;
}

/** Largest power of two strictly smaller than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export class ProofError extends Error {}

/** A leaf range [start, end). */
export type LeafRange = readonly [start: number, end: number];

/**
 * Range proof (attesto.bundle.v1, docs/bundle.md): the subtrees of the RFC
 * 9162 tree of `size` leaves that lie wholly outside [begin, end), in the
 * order a left-to-right walk of MTH meets them. The walk descends into every
 * subtree that overlaps the range without lying inside it; a subtree wholly
 * inside is computed from the range's own leaves. At most two hashes per
 * level: O(log size) hashes prove the whole contiguous range.
 */
export function rangeProofRanges(begin: number, end: number, size: number): LeafRange[] {
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || !Number.isSafeInteger(size) || begin < 0 || begin >= end || end > size) {
    throw new ProofError(`no range proof for [${begin}, ${end}) in a tree of size ${size}`);
  }
  const out: LeafRange[] = [];
  const walk = (lo: number, hi: number) => {
    if (hi <= begin || lo >= end) out.push([lo, hi]);
    else if (lo >= begin && hi <= end) return;
    else {
      const k = splitPoint(hi - lo);
      walk(lo, lo + k);
      walk(lo + k, hi);
    }
  };
  walk(0, size);
  return out;
}

/** The RFC 9162 hashing and proofs over one SHA-256. */
export interface Rfc9162<H extends Uint8Array> {
  /** RFC 9162 2.1.1: SHA-256(0x00 || leaf). */
  leafHash(leaf: Uint8Array): H;
  /** RFC 9162 2.1.1: SHA-256(0x01 || left || right). */
  nodeHash(left: Uint8Array, right: Uint8Array): H;
  /** The hash of the empty tree: SHA-256 of nothing. */
  emptyRoot: H;
  rootFromInclusionProof(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array;
  verifyInclusion(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean;
  verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean;
  rootOfLeafHashes(leaves: readonly Uint8Array[], from?: number, to?: number): Uint8Array;
  rootFromRangeProof(begin: number, size: number, leaves: readonly Uint8Array[], proof: readonly Uint8Array[]): Uint8Array;
}

/** RFC 9162 hashing and proofs computed with `sha256`; the same bytes whichever SHA-256 it is. */
export function rfc9162<H extends Uint8Array>(sha256: Sha256<H>): Rfc9162<H> {
  const leafHash = (leaf: Uint8Array): H => sha256.create().update(LEAF_PREFIX).update(leaf).digest();
  const nodeHash = (left: Uint8Array, right: Uint8Array): H => sha256.create().update(NODE_PREFIX).update(left).update(right).digest();

  /** RFC 9162 2.1.3.2: the root an inclusion proof leads to; throws ProofError saying why it cannot. */
  function rootFromInclusionProof(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
    if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) {
      throw new ProofError(`leaf index ${leafIndex} is outside a tree of size ${treeSize}`);
    }
    if (proof.some((h) => h.length !== HASH_SIZE)) throw new ProofError("proof hashes must be 32 bytes");
    let fn = leafIndex;
    let sn = treeSize - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new ProofError("proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new ProofError("proof is too short");
    return r;
  }

  function verifyInclusion(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
    try {
      return equalBytes(rootFromInclusionProof(leafIndex, treeSize, leaf, proof), root);
    } catch (err) {
      if (err instanceof ProofError) return false;
      throw err;
    }
  }

  /** RFC 9162 2.1.4.2: whether `proof` shows the tree of size1/root1 is a prefix of size2/root2. */
  function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
    if (size1 < 1 || size1 > size2) return false;
    if (proof.some((h) => h.length !== HASH_SIZE)) return false;
    if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
    let path = [...proof];
    // When size1 is a power of two, root1 is the first node of the path.
    if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
    if (path.length === 0) return false;
    let fn = size1 - 1;
    let sn = size2 - 1;
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
  }

  /** The RFC 9162 MTH of consecutive leaf hashes (at least one). */
  function rootOfLeafHashes(leaves: readonly Uint8Array[], from = 0, to = leaves.length): Uint8Array {
    const n = to - from;
    if (n === 1) return leaves[from]!;
    const k = splitPoint(n);
    return nodeHash(rootOfLeafHashes(leaves, from, from + k), rootOfLeafHashes(leaves, from + k, to));
  }

  /**
   * The root a range proof leads to, given the leaf hashes of [begin, begin +
   * leaves.length) and the proof hashes; throws ProofError when the proof has
   * the wrong number of hashes for the range and size.
   */
  function rootFromRangeProof(begin: number, size: number, leaves: readonly Uint8Array[], proof: readonly Uint8Array[]): Uint8Array {
    return rangeProofWalk(begin, begin + leaves.length, size, proof, (from, to) => rootOfLeafHashes(leaves, from, to), nodeHash);
  }

  return { leafHash, nodeHash, emptyRoot: sha256.create().digest(), rootFromInclusionProof, verifyInclusion, verifyConsistency, rootOfLeafHashes, rootFromRangeProof };
}

/** The library's RFC 9162, on noble's SHA-256 (browser-safe). */
export const { leafHash, nodeHash, emptyRoot: EMPTY_ROOT, rootFromInclusionProof, verifyInclusion, verifyConsistency, rootOfLeafHashes, rootFromRangeProof } = rfc9162<Uint8Array>(nobleSha256);

/** Writes SHA-256(data) into `into` at byte `at`: how the verifier's hot loops hash (see ReusedSha256). */
export interface Sha256Into {
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void;
}

/**
 * One SHA-256 state for many short messages (a bundle's 100,000 leaves and
 * as many tree nodes): reset by copying a pristine state into it (noble's
 * `_cloneInto(to)`, its documented way to reuse an instance), the digest
 * written into the caller's buffer. No hasher or digest array per message.
 * The library's default, for browsers; in Node, node:crypto's is passed
 * (VerifyOptions.sha256), which is native and faster.
 */
export class ReusedSha256 implements Sha256Into {
  private readonly pristine = nobleSha256.create();
  private readonly work = nobleSha256.create();
  private readonly out = new Uint8Array(HASH_SIZE);

  /** SHA-256(data) written to `into` at byte `at`. */
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void {
    this.pristine._cloneInto(this.work);
    this.work.update(data).digestInto(this.out);
    into.set(this.out, at);
  }
}

/**
 * The leaf hashes of a range, 32 bytes each, end to end in one buffer: what a
 * verifier of 100,000 entries holds instead of 100,000 arrays.
 */
export interface FlatLeafHashes {
  bytes: Uint8Array;
  count: number;
}

/**
 * The RFC 9162 MTH of flat leaf hashes [from, to), bottom-up on a copy:
 * each level pairs neighbours and carries an odd last node up, which is the
 * same tree as MTH's split at the largest power of two (RFC 9162 2.1.1).
 */
function flatRoot(leaves: FlatLeafHashes, from: number, to: number, hasher: Sha256Into): Uint8Array {
  let n = to - from;
  const level = leaves.bytes.slice(from * HASH_SIZE, to * HASH_SIZE);
  const block = new Uint8Array(1 + 2 * HASH_SIZE);
  block[0] = 0x01;
  while (n > 1) {
    const pairs = n >> 1;
    for (let i = 0; i < pairs; i++) {
      const src = 2 * i * HASH_SIZE;
      for (let j = 0; j < 2 * HASH_SIZE; j++) block[1 + j] = level[src + j]!;
      hasher.digestInto(block, level, i * HASH_SIZE);
    }
    if (n & 1) level.copyWithin(pairs * HASH_SIZE, (n - 1) * HASH_SIZE, n * HASH_SIZE);
    n = pairs + (n & 1);
  }
  return level.slice(0, HASH_SIZE);
}

/** rootFromRangeProof over flat leaf hashes, with one reused hasher: the same root, without an array per leaf. */
export function rootFromRangeProofFlat(begin: number, size: number, leaves: FlatLeafHashes, proof: readonly Uint8Array[], hasher: Sha256Into = new ReusedSha256()): Uint8Array {
  return rangeProofWalk(begin, begin + leaves.count, size, proof, (from, to) => flatRoot(leaves, from, to, hasher), nodeHash);
}

/**
 * The root a range proof of [begin, end) in a tree of `size` leads to: the
 * range's subtrees from `rangeRoot` (offsets into the range), every other
 * subtree from the proof in order. Throws ProofError when the proof has the
 * wrong number of hashes for the range and size.
 */
function rangeProofWalk(
  begin: number,
  end: number,
  size: number,
  proof: readonly Uint8Array[],
  rangeRoot: (from: number, to: number) => Uint8Array,
  node: (left: Uint8Array, right: Uint8Array) => Uint8Array,
): Uint8Array {
  const expected = rangeProofRanges(begin, end, size).length;
  if (proof.length !== expected) throw new ProofError(`range proof has ${proof.length} hashes, the range needs ${expected}`);
  if (proof.some((h) => h.length !== HASH_SIZE)) throw new ProofError("proof hashes must be 32 bytes");
  let next = 0;
  const walk = (lo: number, hi: number): Uint8Array => {
    if (hi <= begin || lo >= end) return proof[next++]!;
    if (lo >= begin && hi <= end) return rangeRoot(lo - begin, hi - begin);
    const k = splitPoint(hi - lo);
    const left = walk(lo, lo + k);
    return node(left, walk(lo + k, hi));
  };
  return walk(0, size);
}
