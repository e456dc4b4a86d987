import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { Compression } from "@connectrpc/connect/protocol";
import { promisify } from "node:util";
import * as zlib from "node:zlib";

/**
 * Response compression for the RPC surfaces, in place of connect-node's
 * `compressionGzip` and `compressionBrotli` (requests still decompress through
 * theirs, with their size limit). Two costs of theirs are ours to fix:
 *
 * - Their compress always goes through zlib's asynchronous stream: a stream
 *   object, a thread-pool hop and its callbacks for every answer. For the
 *   answers a service mostly gives (1–20 KB: a receipt, a page of events) that
 *   setup is most of the cost: a 1.6 KB receipt took 80–240 µs of CPU that
 *   way, 30 µs in one synchronous call. Bodies up to SYNC_MAX_BYTES compress
 *   synchronously (at most ~150 µs on the event loop, less than serializing
 *   them); larger ones keep the asynchronous path.
 * - Brotli's default quality is 11, its slowest: 25 ms of CPU for a 20 KB page
 *   of events and 257 ms for 200 KB, so any caller naming `br` first in
 *   Accept-Encoding could make each answer cost about 1.2 s of CPU per MB.
 *   Quality 5 is 80 times cheaper for 1–3 % more bytes.
 */
export const SYNC_MAX_BYTES = 32 * 1024;
/** The smallest answer compressed (the servers' compressMinBytes). */
export const COMPRESS_MIN_BYTES = 4 * 1024;
export const BROTLI_QUALITY = 5;

const gzipAsync = promisify(zlib.gzip);
const brotliAsync = promisify(zlib.brotliCompress);

function brotliOptions(size: number): zlib.BrotliOptions {
  return { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size } };
}

const asBytes = (buffer: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);

export const responseGzip: Compression = {
  name: "gzip",
  async compress(bytes) {
    return asBytes(bytes.byteLength <= SYNC_MAX_BYTES ? zlib.gzipSync(bytes) : await gzipAsync(bytes));
  },
  decompress: (bytes, readMaxBytes) => compressionGzip.decompress(bytes, readMaxBytes),
};

export const responseBrotli: Compression = {
  name: "br",
  async compress(bytes) {
    const options = brotliOptions(bytes.byteLength);
    return asBytes(bytes.byteLength <= SYNC_MAX_BYTES ? zlib.brotliCompressSync(bytes, options) : await brotliAsync(bytes, options));
  },
  decompress: (bytes, readMaxBytes) => compressionBrotli.decompress(bytes, readMaxBytes),
};

/** What the RPC surfaces accept and answer with, most preferred first (the client's order decides). */
export const RPC_COMPRESSION: Compression[] = [responseGzip, responseBrotli];
