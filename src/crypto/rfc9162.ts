import { createHash, hash } from "node:crypto";
import { rfc9162, type Sha256Into } from "../verify/merkle.js";

/**
 * The server's RFC 9162: the verify library's hashing and proofs, computed
 * with node:crypto's SHA-256 (native, and its digests are Buffers, which the
 * server's tiles and rows store as is). Same bytes as the library's own.
 */
export const serverRfc9162 = rfc9162<Buffer>({ create: () => createHash("sha256") });

export const { leafHash, nodeHash, emptyRoot: EMPTY_ROOT, verifyConsistency } = serverRfc9162;

/**
 * node:crypto's SHA-256 in the verify library's hashing interface (VerifyOptions.sha256). The
 * library's own allocation-free SHA-256 is faster for its small messages (a node:crypto call costs
 * about 2 µs, more than hashing a leaf), so the verifiers use that; this one is the native reference
 * the differential spec (verify.test.ts) holds it to.
 */
export const nodeSha256Into: Sha256Into = {
  digestInto: (data, into, at) => void into.set(hash("sha256", data, "buffer"), at),
};
