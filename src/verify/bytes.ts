/**
 * Byte helpers that run the same in Node and in a browser (no Buffer): the
 * verification library is bundled into the /verify page as is.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes; ASCII (every leaf, most payloads) is copied in a loop, which beats TextEncoder's per-call cost on small strings. */
export function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(text);
    out[i] = c;
  }
  return out;
}
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes);

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Each lowercase hex digit's value, 255 for every other character. */
const HEX_VALUE = (() => {
  const table = new Uint8Array(128).fill(255);
  for (let i = 0; i < 16; i++) table["0123456789abcdef".charCodeAt(i)] = i;
  return table;
})();

/**
 * Whether `text` is `length` lowercase hex digits. One table lookup per
 * character, no branch on which: a bundle of 100,000 entries holds 200,000
 * such hashes, and a range check per character costs twice as much.
 */
export function isLowerHex(text: string, length: number): boolean {
  if (text.length !== length) return false;
  let bad = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    bad |= c < 128 ? HEX_VALUE[c]! : 255;
  }
  return bad !== 255;
}

/** Lowercase hex only; undefined for anything else. One pass, no substrings (bundles hold millions of hashes). */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hex.charCodeAt(2 * i);
    const lo = hex.charCodeAt(2 * i + 1);
    const h = hi < 128 ? HEX_VALUE[hi]! : 255;
    const l = lo < 128 ? HEX_VALUE[lo]! : 255;
    if ((h | l) === 255) return undefined;
    out[i] = (h << 4) | l;
  }
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Each character's 6-bit value, 255 for characters outside the alphabet. */
const BASE64_VALUE = (() => {
  const table = new Uint8Array(128).fill(255);
  for (let i = 0; i < BASE64_ALPHABET.length; i++) table[BASE64_ALPHABET.charCodeAt(i)] = i;
  return table;
})();
const base64Value = (code: number) => (code < 128 ? BASE64_VALUE[code]! : 255);

/**
 * Node's Buffer where there is one (the server, the CLI); undefined in a
 * browser. Looked up on globalThis, not imported: this library is bundled
 * into the /verify page as is.
 */
const NodeBuffer = (globalThis as { Buffer?: { from(text: string, encoding: "base64"): Uint8Array } }).Buffer;

/**
 * Standard, padded base64 (RFC 4648 section 4), canonical only; undefined
 * for anything else. Under Node the native decoder runs (a 15 MB `extra`
 * line in a few ms, against 140 ms for the loop). It is lenient, so what it
 * accepts beyond the canonical form is refused around it: a character it
 * skips (whitespace, anything outside the alphabet, a misplaced `=`) leaves
 * fewer bytes than the length promises; the URL-safe `-` and `_`, which it
 * decodes, are looked for; and the last four characters, where non-zero
 * padding bits would hide, go through the portable decoder.
 */
export function fromBase64(text: string): Uint8Array | undefined {
  if (NodeBuffer === undefined || text.length < 64) return fromBase64Portable(text);
  if (text.length % 4 !== 0 || text.includes("-") || text.includes("_") || fromBase64Portable(text.slice(-4)) === undefined) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const decoded = NodeBuffer.from(text, "base64");
  if (decoded.length !== (text.length / 4) * 3 - padding) return undefined;
  return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
}

/**
 * fromBase64 in plain JavaScript (the browser's, and every short text's).
 * One pass over the characters, no regular expression: a backtracking
 * pattern over megabytes of text overflows the stack.
 */
export function fromBase64Portable(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    const a = base64Value(text.charCodeAt(i));
    const b = base64Value(text.charCodeAt(i + 1));
    const last = i + 4 === text.length;
    const c = last && padding === 2 ? 0 : base64Value(text.charCodeAt(i + 2));
    const d = last && padding >= 1 ? 0 : base64Value(text.charCodeAt(i + 3));
    if ((a | b | c | d) === 255) return undefined;
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    out[at++] = bits >> 16;
    if (at < out.length) out[at++] = (bits >> 8) & 0xff;
    if (at < out.length) out[at++] = bits & 0xff;
    // Non-zero padding bits would let two texts name one value.
    if (last && ((padding === 2 && (b & 0x0f) !== 0) || (padding === 1 && (c & 0x03) !== 0))) return undefined;
  }
  return out;
}

/** Whether `hex` is the lowercase hex of the `length` bytes of `bytes` from `at`; compares in place, no string made. */
export function hexEquals(bytes: Uint8Array, at: number, length: number, hex: string): boolean {
  if (hex.length !== 2 * length) return false;
  for (let i = 0; i < length; i++) {
    const hi = hex.charCodeAt(2 * i);
    const lo = hex.charCodeAt(2 * i + 1);
    const h = hi < 128 ? HEX_VALUE[hi]! : 255;
    const l = lo < 128 ? HEX_VALUE[lo]! : 255;
    if ((h | l) === 255 || ((h << 4) | l) !== bytes[at + i]) return false;
  }
  return true;
}

/**
 * UTF-8 of a text into a buffer reused across calls, from byte `at` (the
 * bytes before it are the caller's, e.g. a hash prefix); the buffer grows
 * when a text needs more (then the bytes before `at` are kept).
 */
export class ReusedUtf8 {
  buffer = new Uint8Array(1024);

  /** Writes `text` at `at`; answers where its bytes end in `buffer`. */
  encode(text: string, at = 0): number {
    if (this.buffer.length < at + 3 * text.length) {
      const grown = new Uint8Array(Math.max(2 * this.buffer.length, at + 3 * text.length));
      grown.set(this.buffer.subarray(0, at));
      this.buffer = grown;
    }
    const out = this.buffer;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return at + encoder.encodeInto(text, out.subarray(at)).written;
      out[at + i] = c;
    }
    return at + text.length;
  }
}
