/**
 * `Uint8Array.prototype.toBase64` (TC39 proposal-arraybuffer-base64, native
 * from Node 25) for the Node 24 the service runs on, backed by Buffer's
 * native encoder. @bufbuild/protobuf writes every `bytes` field of a JSON
 * answer with the native method when there is one and with a loop of string
 * concatenations when there is not: half the serializing time of an
 * inclusion proof's answer (20 hashes and a leaf) went to that loop.
 * protobuf-es looks the method up once, when its module loads, so this runs
 * before it in the process (cli/main.ts imports it before the command groups,
 * which load protobuf-es; `--version` and `verify` load neither). Only
 * the encoder: Buffer's base64 decoder skips characters the standard's
 * refuses, so `fromBase64` is left alone.
 */
export function uint8ArrayToBase64(this: Uint8Array, options?: { alphabet?: unknown; omitPadding?: unknown }): string {
  if (!(this instanceof Uint8Array)) throw new TypeError("toBase64 called on an object that is not a Uint8Array");
  if (options !== undefined && (options === null || typeof options !== "object")) throw new TypeError("toBase64: options must be an object");
  const alphabet = options?.alphabet ?? "base64";
  if (alphabet !== "base64" && alphabet !== "base64url") throw new TypeError('toBase64: alphabet must be "base64" or "base64url"');
  if ((this.buffer as ArrayBuffer).detached) throw new TypeError("toBase64 called on a Uint8Array whose buffer is detached");
  const bytes = Buffer.from(this.buffer, this.byteOffset, this.byteLength);
  if (alphabet === "base64") {
    const text = bytes.toString("base64");
    return options?.omitPadding ? text.replace(/=+$/, "") : text;
  }
  // Buffer's base64url never pads; the standard pads unless told not to.
  const text = bytes.toString("base64url");
  return options?.omitPadding || text.length % 4 === 0 ? text : text + "=".repeat(4 - (text.length % 4));
}

/** Installs the encoder where the runtime has none (a no-op from Node 25 on); true when it did. */
export function installUint8ArrayToBase64(): boolean {
  if (typeof (Uint8Array.prototype as { toBase64?: unknown }).toBase64 === "function") return false;
  Object.defineProperty(Uint8Array.prototype, "toBase64", { value: uint8ArrayToBase64, writable: true, configurable: true, enumerable: false });
  return true;
}

installUint8ArrayToBase64();
