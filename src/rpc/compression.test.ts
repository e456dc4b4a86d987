import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BROTLI_QUALITY, RPC_COMPRESSION, SYNC_MAX_BYTES, responseBrotli, responseGzip } from "./compression.js";

// Bodies either side of the synchronous bound, compressible and not.
const bodies = {
  empty: new Uint8Array(0),
  receipt: new TextEncoder().encode(JSON.stringify({ tlogProof: Array.from({ length: 40 }, () => randomBytes(32).toString("base64")).join("\n") })),
  atBound: new Uint8Array(SYNC_MAX_BYTES).fill(97),
  pastBound: new Uint8Array(randomBytes(SYNC_MAX_BYTES + 1)),
  page: new TextEncoder().encode(JSON.stringify({ events: Array.from({ length: 2000 }, (_, i) => ({ seqNo: i, eventType: "store.purchase" })) })),
};

describe("RPC response compression", () => {
  it("gzip answers decode with plain zlib and with the decompress beside it, on both sides of the synchronous bound", async () => {
    for (const body of Object.values(bodies)) {
      const packed = await responseGzip.compress(body);
      expect(Buffer.from(gunzipSync(packed))).toEqual(Buffer.from(body));
      expect(Buffer.from(await responseGzip.decompress(packed, body.byteLength + 1))).toEqual(Buffer.from(body));
    }
  });

  it("brotli answers decode, and are brotli's output at the bounded quality, not its default 11", async () => {
    for (const body of Object.values(bodies)) {
      const packed = await responseBrotli.compress(body);
      expect(Buffer.from(brotliDecompressSync(packed))).toEqual(Buffer.from(body));
      expect(Buffer.from(await responseBrotli.decompress(packed, body.byteLength + 1))).toEqual(Buffer.from(body));
    }
    expect(BROTLI_QUALITY).toBeLessThan(constants.BROTLI_MAX_QUALITY);
    const params = (quality: number) => ({ params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: bodies.page.byteLength } });
    const ours = Buffer.from(await responseBrotli.compress(bodies.page));
    expect(ours).toEqual(brotliCompressSync(bodies.page, params(BROTLI_QUALITY)));
    expect(ours).not.toEqual(brotliCompressSync(bodies.page, params(constants.BROTLI_MAX_QUALITY)));
  });

  it("keeps connect's request size limit on decompression", async () => {
    const packed = await responseGzip.compress(bodies.page);
    await expect(responseGzip.decompress(packed, 100)).rejects.toThrow(/message is larger than configured readMaxBytes 100 after decompression/);
    const br = await responseBrotli.compress(bodies.page);
    await expect(responseBrotli.decompress(br, 100)).rejects.toThrow(/readMaxBytes 100/);
  });

  it("offers gzip and br, in that order", () => {
    expect(RPC_COMPRESSION.map((c) => c.name)).toEqual(["gzip", "br"]);
  });
});
