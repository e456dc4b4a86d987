/**
 * SHA-256 (FIPS 180-4) for the verifier's hot loops: a bundle of 100,000
 * entries hashes 300,000 short messages (each leaf, each payload, each tree
 * node), where what costs is not the compression but what surrounds it.
 * node:crypto's one-shot `hash` spends 1.9 µs a call on its own (arguments,
 * a Buffer per digest), noble's reused state half as much again as its
 * compression (a DataView per call, a copy into its block buffer, its state
 * cloned); this reads the message's words straight from the caller's bytes
 * and writes the digest into the caller's buffer, with no allocation per
 * message. Plain JavaScript: the /verify page runs it as the CLI does.
 * sha256.test.ts holds it to node:crypto's digests at every length around
 * the block boundaries, and on random messages and ranges.
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

  /**
   * The compression function on the 64 bytes of `m` from `p`, sixteen rounds at a time: the message schedule's last
   * sixteen words live in variables (each group of rounds first moves them sixteen on), and the working variables rotate
   * by name, not by copying. Round i: T1 = h + Σ1(e) + Ch(e, f, g) + K[i] + W[i]; d += T1; h = T1 + Σ0(a) + Maj(a, b, c);
   * then h is the next round's a, a its b, and so on, each back in its place eight rounds later.
   */
  private block(m: Uint8Array, p: number): void {
    let w0 = (m[p + 0]! << 24) | (m[p + 1]! << 16) | (m[p + 2]! << 8) | m[p + 3]!;
    let w1 = (m[p + 4]! << 24) | (m[p + 5]! << 16) | (m[p + 6]! << 8) | m[p + 7]!;
    let w2 = (m[p + 8]! << 24) | (m[p + 9]! << 16) | (m[p + 10]! << 8) | m[p + 11]!;
    let w3 = (m[p + 12]! << 24) | (m[p + 13]! << 16) | (m[p + 14]! << 8) | m[p + 15]!;
    let w4 = (m[p + 16]! << 24) | (m[p + 17]! << 16) | (m[p + 18]! << 8) | m[p + 19]!;
    let w5 = (m[p + 20]! << 24) | (m[p + 21]! << 16) | (m[p + 22]! << 8) | m[p + 23]!;
    let w6 = (m[p + 24]! << 24) | (m[p + 25]! << 16) | (m[p + 26]! << 8) | m[p + 27]!;
    let w7 = (m[p + 28]! << 24) | (m[p + 29]! << 16) | (m[p + 30]! << 8) | m[p + 31]!;
    let w8 = (m[p + 32]! << 24) | (m[p + 33]! << 16) | (m[p + 34]! << 8) | m[p + 35]!;
    let w9 = (m[p + 36]! << 24) | (m[p + 37]! << 16) | (m[p + 38]! << 8) | m[p + 39]!;
    let w10 = (m[p + 40]! << 24) | (m[p + 41]! << 16) | (m[p + 42]! << 8) | m[p + 43]!;
    let w11 = (m[p + 44]! << 24) | (m[p + 45]! << 16) | (m[p + 46]! << 8) | m[p + 47]!;
    let w12 = (m[p + 48]! << 24) | (m[p + 49]! << 16) | (m[p + 50]! << 8) | m[p + 51]!;
    let w13 = (m[p + 52]! << 24) | (m[p + 53]! << 16) | (m[p + 54]! << 8) | m[p + 55]!;
    let w14 = (m[p + 56]! << 24) | (m[p + 57]! << 16) | (m[p + 58]! << 8) | m[p + 59]!;
    let w15 = (m[p + 60]! << 24) | (m[p + 61]! << 16) | (m[p + 62]! << 8) | m[p + 63]!;
    const state = this.h;
    let a = state[0]!;
    let b = state[1]!;
    let c = state[2]!;
    let d = state[3]!;
    let e = state[4]!;
    let f = state[5]!;
    let g = state[6]!;
    let h = state[7]!;
    for (let i = 0; i < 64; i += 16) {
      if (i > 0) {
        w0 = ((((w14 >>> 17) | (w14 << 15)) ^ ((w14 >>> 19) | (w14 << 13)) ^ (w14 >>> 10)) + w9 + (((w1 >>> 7) | (w1 << 25)) ^ ((w1 >>> 18) | (w1 << 14)) ^ (w1 >>> 3)) + w0) | 0;
        w1 = ((((w15 >>> 17) | (w15 << 15)) ^ ((w15 >>> 19) | (w15 << 13)) ^ (w15 >>> 10)) + w10 + (((w2 >>> 7) | (w2 << 25)) ^ ((w2 >>> 18) | (w2 << 14)) ^ (w2 >>> 3)) + w1) | 0;
        w2 = ((((w0 >>> 17) | (w0 << 15)) ^ ((w0 >>> 19) | (w0 << 13)) ^ (w0 >>> 10)) + w11 + (((w3 >>> 7) | (w3 << 25)) ^ ((w3 >>> 18) | (w3 << 14)) ^ (w3 >>> 3)) + w2) | 0;
        w3 = ((((w1 >>> 17) | (w1 << 15)) ^ ((w1 >>> 19) | (w1 << 13)) ^ (w1 >>> 10)) + w12 + (((w4 >>> 7) | (w4 << 25)) ^ ((w4 >>> 18) | (w4 << 14)) ^ (w4 >>> 3)) + w3) | 0;
        w4 = ((((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)) + w13 + (((w5 >>> 7) | (w5 << 25)) ^ ((w5 >>> 18) | (w5 << 14)) ^ (w5 >>> 3)) + w4) | 0;
        w5 = ((((w3 >>> 17) | (w3 << 15)) ^ ((w3 >>> 19) | (w3 << 13)) ^ (w3 >>> 10)) + w14 + (((w6 >>> 7) | (w6 << 25)) ^ ((w6 >>> 18) | (w6 << 14)) ^ (w6 >>> 3)) + w5) | 0;
        w6 = ((((w4 >>> 17) | (w4 << 15)) ^ ((w4 >>> 19) | (w4 << 13)) ^ (w4 >>> 10)) + w15 + (((w7 >>> 7) | (w7 << 25)) ^ ((w7 >>> 18) | (w7 << 14)) ^ (w7 >>> 3)) + w6) | 0;
        w7 = ((((w5 >>> 17) | (w5 << 15)) ^ ((w5 >>> 19) | (w5 << 13)) ^ (w5 >>> 10)) + w0 + (((w8 >>> 7) | (w8 << 25)) ^ ((w8 >>> 18) | (w8 << 14)) ^ (w8 >>> 3)) + w7) | 0;
        w8 = ((((w6 >>> 17) | (w6 << 15)) ^ ((w6 >>> 19) | (w6 << 13)) ^ (w6 >>> 10)) + w1 + (((w9 >>> 7) | (w9 << 25)) ^ ((w9 >>> 18) | (w9 << 14)) ^ (w9 >>> 3)) + w8) | 0;
        w9 = ((((w7 >>> 17) | (w7 << 15)) ^ ((w7 >>> 19) | (w7 << 13)) ^ (w7 >>> 10)) + w2 + (((w10 >>> 7) | (w10 << 25)) ^ ((w10 >>> 18) | (w10 << 14)) ^ (w10 >>> 3)) + w9) | 0;
        w10 = ((((w8 >>> 17) | (w8 << 15)) ^ ((w8 >>> 19) | (w8 << 13)) ^ (w8 >>> 10)) + w3 + (((w11 >>> 7) | (w11 << 25)) ^ ((w11 >>> 18) | (w11 << 14)) ^ (w11 >>> 3)) + w10) | 0;
        w11 = ((((w9 >>> 17) | (w9 << 15)) ^ ((w9 >>> 19) | (w9 << 13)) ^ (w9 >>> 10)) + w4 + (((w12 >>> 7) | (w12 << 25)) ^ ((w12 >>> 18) | (w12 << 14)) ^ (w12 >>> 3)) + w11) | 0;
        w12 = ((((w10 >>> 17) | (w10 << 15)) ^ ((w10 >>> 19) | (w10 << 13)) ^ (w10 >>> 10)) + w5 + (((w13 >>> 7) | (w13 << 25)) ^ ((w13 >>> 18) | (w13 << 14)) ^ (w13 >>> 3)) + w12) | 0;
        w13 = ((((w11 >>> 17) | (w11 << 15)) ^ ((w11 >>> 19) | (w11 << 13)) ^ (w11 >>> 10)) + w6 + (((w14 >>> 7) | (w14 << 25)) ^ ((w14 >>> 18) | (w14 << 14)) ^ (w14 >>> 3)) + w13) | 0;
        w14 = ((((w12 >>> 17) | (w12 << 15)) ^ ((w12 >>> 19) | (w12 << 13)) ^ (w12 >>> 10)) + w7 + (((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)) + w14) | 0;
        w15 = ((((w13 >>> 17) | (w13 << 15)) ^ ((w13 >>> 19) | (w13 << 13)) ^ (w13 >>> 10)) + w8 + (((w0 >>> 7) | (w0 << 25)) ^ ((w0 >>> 18) | (w0 << 14)) ^ (w0 >>> 3)) + w15) | 0;
      }
      h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i + 0]! + w0) | 0;
      d = (d + h) | 0;
      h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + ((d & e) ^ (~d & f)) + K[i + 1]! + w1) | 0;
      c = (c + g) | 0;
      g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) ^ (h & b) ^ (a & b))) | 0;
      f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + ((c & d) ^ (~c & e)) + K[i + 2]! + w2) | 0;
      b = (b + f) | 0;
      f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) ^ (g & a) ^ (h & a))) | 0;
      e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + ((b & c) ^ (~b & d)) + K[i + 3]! + w3) | 0;
      a = (a + e) | 0;
      e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) ^ (f & h) ^ (g & h))) | 0;
      d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + ((a & b) ^ (~a & c)) + K[i + 4]! + w4) | 0;
      h = (h + d) | 0;
      d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) ^ (e & g) ^ (f & g))) | 0;
      c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + ((h & a) ^ (~h & b)) + K[i + 5]! + w5) | 0;
      g = (g + c) | 0;
      c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) ^ (d & f) ^ (e & f))) | 0;
      b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + ((g & h) ^ (~g & a)) + K[i + 6]! + w6) | 0;
      f = (f + b) | 0;
      b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) ^ (c & e) ^ (d & e))) | 0;
      a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + ((f & g) ^ (~f & h)) + K[i + 7]! + w7) | 0;
      e = (e + a) | 0;
      a = (a + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0;
      h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i + 8]! + w8) | 0;
      d = (d + h) | 0;
      h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + ((d & e) ^ (~d & f)) + K[i + 9]! + w9) | 0;
      c = (c + g) | 0;
      g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) ^ (h & b) ^ (a & b))) | 0;
      f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + ((c & d) ^ (~c & e)) + K[i + 10]! + w10) | 0;
      b = (b + f) | 0;
      f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) ^ (g & a) ^ (h & a))) | 0;
      e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + ((b & c) ^ (~b & d)) + K[i + 11]! + w11) | 0;
      a = (a + e) | 0;
      e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) ^ (f & h) ^ (g & h))) | 0;
      d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + ((a & b) ^ (~a & c)) + K[i + 12]! + w12) | 0;
      h = (h + d) | 0;
      d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) ^ (e & g) ^ (f & g))) | 0;
      c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + ((h & a) ^ (~h & b)) + K[i + 13]! + w13) | 0;
      g = (g + c) | 0;
      c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) ^ (d & f) ^ (e & f))) | 0;
      b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + ((g & h) ^ (~g & a)) + K[i + 14]! + w14) | 0;
      f = (f + b) | 0;
      b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) ^ (c & e) ^ (d & e))) | 0;
      a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + ((f & g) ^ (~f & h)) + K[i + 15]! + w15) | 0;
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
