/**
 * JSON written as UTF-8 straight into one reused, growing buffer: what a
 * verifier of 100,000 entries writes each leaf and each payload's canonical
 * form with, instead of building a string per value and encoding it again.
 * The bytes are those of JSON.stringify (strings, finite numbers) and of
 * RFC 8785 (JCS) for values JSON.parse makes; json-bytes.test.ts holds them
 * to both on random values.
 */
export class JsonBytes {
  buffer = new Uint8Array(1024);
  /** Where the next byte goes; the bytes before it are the text so far. */
  at = 0;
  /** A string held a lone surrogate, written as JSON.stringify writes it (`\udxxx`); JCS refuses such a string. */
  loneSurrogate = false;

  /** Starts a text at byte `at` (the bytes before it, e.g. a hash prefix, are kept). */
  reset(at = 0): void {
    this.at = at;
    this.loneSurrogate = false;
  }

  /** Room for `n` more bytes; a grown buffer keeps the text so far. */
  private room(n: number): Uint8Array {
    if (this.at + n > this.buffer.length) {
      const grown = new Uint8Array(Math.max(2 * this.buffer.length, this.at + n));
      grown.set(this.buffer.subarray(0, this.at));
      this.buffer = grown;
    }
    return this.buffer;
  }

  /** Bytes as they are (a fixed piece of ASCII JSON, such as `,"seq_no":`). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length).set(bytes, this.at);
    this.at += bytes.length;
  }

  /** A string as JSON.stringify writes it, in UTF-8. */
  string(s: string): void {
    // At most 6 bytes per UTF-16 unit (`\u001f`), and the quotes.
    const out = this.room(6 * s.length + 2);
    let at = this.at;
    out[at++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) out[at++] = c;
        else at = escape(out, at, c);
      } else if (c < 0x800) {
        out[at++] = 0xc0 | (c >> 6);
        out[at++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        out[at++] = 0xe0 | (c >> 12);
        out[at++] = 0x80 | ((c >> 6) & 0x3f);
        out[at++] = 0x80 | (c & 0x3f);
      } else {
        const d = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (d >= 0xdc00 && d <= 0xdfff) {
          const p = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          out[at++] = 0xf0 | (p >> 18);
          out[at++] = 0x80 | ((p >> 12) & 0x3f);
          out[at++] = 0x80 | ((p >> 6) & 0x3f);
          out[at++] = 0x80 | (p & 0x3f);
          i++;
        } else {
          this.loneSurrogate = true;
          at = unicodeEscape(out, at, c);
        }
      }
    }
    out[at++] = 0x22;
    this.at = at;
  }

  /** A finite number as JSON.stringify writes it (ECMAScript Number::toString; -0 is `0`). */
  number(n: number): void {
    if (Number.isInteger(n) && n > -1e15 && n < 1e15) {
      // Integers below 10^15 print as their digits: written without a string.
      const out = this.room(17);
      let v = n;
      if (v < 0) {
        out[this.at++] = 0x2d;
        v = -v;
      }
      let digits = 1;
      for (let p = 10; p <= v; p *= 10) digits++;
      for (let k = this.at + digits - 1; k >= this.at; k--) {
        out[k] = 0x30 + (v % 10);
        v = Math.floor(v / 10);
      }
      this.at += digits;
      return;
    }
    const text = JSON.stringify(n);
    const out = this.room(text.length);
    for (let i = 0; i < text.length; i++) out[this.at++] = text.charCodeAt(i);
  }

  /**
   * The RFC 8785 canonical form of `value`, for values such as JSON.parse
   * makes (null, booleans, finite numbers, strings, arrays, plain objects).
   * Answers false, the text unfinished, on anything else (undefined, a
   * toJSON method, a non-plain object, a non-finite number, nesting past
   * 1,000, a cycle): a caller then asks the general canonicalizer, whose
   * answer that is. A lone surrogate is written and flagged (`loneSurrogate`).
   */
  jcs(value: unknown, depth = 0): boolean {
    if (value === null) {
      this.raw(NULL);
      return true;
    }
    switch (typeof value) {
      case "string":
        this.string(value);
        return true;
      case "number":
        if (!Number.isFinite(value)) return false;
        this.number(value);
        return true;
      case "boolean":
        this.raw(value ? TRUE : FALSE);
        return true;
      case "object":
        break;
      default:
        return false;
    }
    if (depth >= MAX_DEPTH) return false;
    if (Array.isArray(value)) {
      this.room(1)[this.at++] = 0x5b;
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.room(1)[this.at++] = 0x2c;
        if (!this.jcs(value[i], depth + 1)) return false;
      }
      this.room(1)[this.at++] = 0x5d;
      return true;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    const object = value as Record<string, unknown>;
    if (typeof object.toJSON === "function") return false;
    // Sorted by UTF-16 code units, as JCS orders members: sort()'s default order.
    const keys = Object.keys(object).sort();
    this.room(1)[this.at++] = 0x7b;
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) this.room(1)[this.at++] = 0x2c;
      this.string(keys[i]!);
      this.room(1)[this.at++] = 0x3a;
      if (!this.jcs(object[keys[i]!], depth + 1)) return false;
    }
    this.room(1)[this.at++] = 0x7d;
    return true;
  }
}

const MAX_DEPTH = 1000;
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const NULL = ascii("null");
const TRUE = ascii("true");
const FALSE = ascii("false");
const HEX_DIGITS = ascii("0123456789abcdef");

/** An ASCII character JSON.stringify escapes: the short forms, else `\u00xx`. */
function escape(out: Uint8Array, at: number, c: number): number {
  const short = c === 0x22 ? 0x22 : c === 0x5c ? 0x5c : c === 0x08 ? 0x62 : c === 0x09 ? 0x74 : c === 0x0a ? 0x6e : c === 0x0c ? 0x66 : c === 0x0d ? 0x72 : 0;
  if (short === 0) return unicodeEscape(out, at, c);
  out[at] = 0x5c;
  out[at + 1] = short;
  return at + 2;
}

/** `\uxxxx`, lowercase hex, as JSON.stringify writes control characters and lone surrogates. */
function unicodeEscape(out: Uint8Array, at: number, c: number): number {
  out[at] = 0x5c;
  out[at + 1] = 0x75;
  out[at + 2] = HEX_DIGITS[(c >> 12) & 0xf]!;
  out[at + 3] = HEX_DIGITS[(c >> 8) & 0xf]!;
  out[at + 4] = HEX_DIGITS[(c >> 4) & 0xf]!;
  out[at + 5] = HEX_DIGITS[c & 0xf]!;
  return at + 6;
}
