import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

/**
 * SHA-256 for the verifier's hot loops: a bundle of 100,000 entries hashes
 * 300,000 short messages (each leaf, each payload, each tree node), so what
 * costs is what surrounds each compression. The hashing itself is a
 * maintained library's, never ours: in a browser (the /verify page) one
 * reused state of noble's pure-JavaScript SHA-256; in Node the command-line
 * verifiers and the server pass node:crypto's (OpenSSL), which is faster
 * there (VerifyOptions.sha256). sha256.test.ts holds the reused state to
 * node:crypto's digests at every length around the block boundaries.
 */

/** Writes SHA-256(data) into `into` at byte `at`: how the verifier's hot loops hash (see ReusedSha256). */
export interface Sha256Into {
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void;
}

/** A SHA-256 that hashes data[from, to) of a buffer the caller reuses. */
export interface RangeSha256 {
  digestRangeInto(data: Uint8Array, from: number, to: number, into: Uint8Array, at: number): void;
}

/** Any Sha256Into as a RangeSha256: it is given a view of the range (no copy). */
export const inPlace = (sha256: Sha256Into): RangeSha256 => ({ digestRangeInto: (data, from, to, into, at) => sha256.digestInto(data.subarray(from, to), into, at) });

/**
 * One noble SHA-256 state for many short messages: reset by copying a
 * pristine state into it (`_cloneInto(to)`, noble's documented way to reuse
 * an instance), the digest written into the caller's buffer. No hasher or
 * digest array per message.
 */
export class ReusedSha256 implements Sha256Into {
  private readonly pristine = nobleSha256.create();
  private readonly work = nobleSha256.create();
  private readonly out = new Uint8Array(32);

  /** SHA-256(data) written to `into` at byte `at`. */
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void {
    this.pristine._cloneInto(this.work);
    this.work.update(data).digestInto(this.out);
    into.set(this.out, at);
  }

  /** SHA-256 of data[from, to) written to `into` at byte `at`. */
  digestRangeInto(data: Uint8Array, from: number, to: number, into: Uint8Array, at: number): void {
    this.digestInto(data.subarray(from, to), into, at);
  }
}
