/**
 * SHA-256 (FIPS 180-4) for the verifier's hot loops: a bundle of 100,000
 * entries hashes 300,000 short messages (each leaf, each payload, each tree
 * node), where what costs is not the compression but what surrounds it.
 * node:crypto's one-shot `hash` spends 1.9 µs a call on its own (arguments,
 * a Buffer per digest), noble's reused state half as much again as its
 * compression (a DataView per call, a copy into its block buffer, its state
 * cloned); this reads the message's words straight from the caller's bytes
 * and writes the digest into the caller's buffer, with one schedule array
 * and no allocation per message. Plain JavaScript: the /verify page runs it
 * as the CLI does. sha256.test.ts holds it to node:crypto's digests at every
 * length around the block boundaries, and on random messages.
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** Writes SHA-256(data) into `into` at byte `at`: how the verifier's hot loops hash (see ReusedSha256). */
export interface Sha256Into {
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void;
}

/** A SHA-256 that hashes data[from, to) where it lies: the library's own reads it in place, another Sha256Into (node:crypto's) is given a view of it. */
export interface RangeSha256 {
  digestRangeInto(data: Uint8Array, from: number, to: number, into: Uint8Array, at: number): void;
}

export const inPlace = (sha256: Sha256Into): RangeSha256 =>
  sha256 instanceof ReusedSha256 ? sha256 : { digestRangeInto: (data, from, to, into, at) => sha256.digestInto(data.subarray(from, to), into, at) };

/** One SHA-256 for many short messages, each hashed whole: no streaming state is kept between calls. */
export class ReusedSha256 implements Sha256Into {
  private readonly w = new Int32Array(64);
  private readonly h = new Int32Array(8);
  /** The message's last partial block, its 0x80 and its bit length: one block or two. */
  private readonly tail = new Uint8Array(128);

  /** SHA-256(data) written to `into` at byte `at`. */
  digestInto(data: Uint8Array, into: Uint8Array, at: number): void {
    this.digestRangeInto(data, 0, data.length, into, at);
  }

  /** SHA-256 of data[from, to) written to `into` at byte `at` (no view of the range is made). */
  digestRangeInto(data: Uint8Array, from: number, to: number, into: Uint8Array, at: number): void {
    const h = this.h;
    h.set(INITIAL);
    const length = to - from;
    let p = from;
    for (const whole = from + (length - (length % 64)); p < whole; p += 64) this.block(data, p);
    const tail = this.tail;
    const rest = to - p;
    for (let i = 0; i < rest; i++) tail[i] = data[p + i]!;
    tail[rest] = 0x80;
    const end = rest < 56 ? 64 : 128;
    tail.fill(0, rest + 1, end - 8);
    // The length in bits, 64-bit big-endian.
    const high = Math.floor(length / 0x20000000);
    const low = (length << 3) >>> 0;
    tail[end - 8] = high >>> 24;
    tail[end - 7] = high >>> 16;
    tail[end - 6] = high >>> 8;
    tail[end - 5] = high;
    tail[end - 4] = low >>> 24;
    tail[end - 3] = low >>> 16;
    tail[end - 2] = low >>> 8;
    tail[end - 1] = low;
    this.block(tail, 0);
    if (end === 128) this.block(tail, 64);
    for (let i = 0; i < 8; i++) {
      const v = h[i]!;
      into[at + 4 * i] = v >>> 24;
      into[at + 4 * i + 1] = v >>> 16;
      into[at + 4 * i + 2] = v >>> 8;
      into[at + 4 * i + 3] = v;
    }
  }

  /** The compression function on the 64 bytes of `d` from `p`; the rounds eight at a time, so that the working variables rotate by name, not by copying. */
  private block(m: Uint8Array, p: number): void {
    const w = this.w;
    for (let i = 0; i < 16; i++, p += 4) w[i] = (m[p]! << 24) | (m[p + 1]! << 16) | (m[p + 2]! << 8) | m[p + 3]!;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      w[i] = ((((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[i - 7]! + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[i - 16]!) | 0;
    }
    const state = this.h;
    let a = state[0]!;
    let b = state[1]!;
    let c = state[2]!;
    let d = state[3]!;
    let e = state[4]!;
    let f = state[5]!;
    let g = state[6]!;
    let h = state[7]!;
    // Round i: T1 = h + Σ1(e) + Ch(e, f, g) + K[i] + W[i]; d += T1; h = T1 + Σ0(a) + Maj(a, b, c); then h is the next round's a,
    // a its b, and so on: eight rounds later every variable is back in its place.
    for (let i = 0; i < 64; i += 8) {
      h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      d = (d + h) | 0;
      h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + ((d & e) ^ (~d & f)) + K[i + 1]! + w[i + 1]!) | 0;
      c = (c + g) | 0;
      g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) ^ (h & b) ^ (a & b))) | 0;
      f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + ((c & d) ^ (~c & e)) + K[i + 2]! + w[i + 2]!) | 0;
      b = (b + f) | 0;
      f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) ^ (g & a) ^ (h & a))) | 0;
      e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + ((b & c) ^ (~b & d)) + K[i + 3]! + w[i + 3]!) | 0;
      a = (a + e) | 0;
      e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) ^ (f & h) ^ (g & h))) | 0;
      d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + ((a & b) ^ (~a & c)) + K[i + 4]! + w[i + 4]!) | 0;
      h = (h + d) | 0;
      d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) ^ (e & g) ^ (f & g))) | 0;
      c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + ((h & a) ^ (~h & b)) + K[i + 5]! + w[i + 5]!) | 0;
      g = (g + c) | 0;
      c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) ^ (d & f) ^ (e & f))) | 0;
      b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + ((g & h) ^ (~g & a)) + K[i + 6]! + w[i + 6]!) | 0;
      f = (f + b) | 0;
      b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) ^ (c & e) ^ (d & e))) | 0;
      a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + ((f & g) ^ (~f & h)) + K[i + 7]! + w[i + 7]!) | 0;
      e = (e + a) | 0;
      a = (a + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0;
    }
    state[0] = (state[0]! + a) | 0;
    state[1] = (state[1]! + b) | 0;
    state[2] = (state[2]! + c) | 0;
    state[3] = (state[3]! + d) | 0;
    state[4] = (state[4]! + e) | 0;
    state[5] = (state[5]! + f) | 0;
    state[6] = (state[6]! + g) | 0;
    state[7] = (state[7]! + h) | 0;
  }
}
