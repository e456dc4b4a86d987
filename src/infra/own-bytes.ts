/**
 * Bytes of their own: not a slice of a larger buffer (a row read, an
 * announcement decoded, Node's shared 64 KiB buffer pool) that keeping them
 * would pin. Anything that keeps bytes for long takes them through this;
 * bytes that are already their own come back as they are.
 */
export function ownBytes<T extends Uint8Array>(bytes: T): T | Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}
