import { createHash, hash } from "node:crypto";
import { rfc9162, type Sha256Into } from "../verify/merkle.js";

/**
 * The server's RFC 9162: the verify library's hashing and proofs, computed
 * with node:crypto's SHA-256 (native, and its digests are Buffers, which the
 * server's tiles and rows store as is). Same bytes as the library's own.
 */
export const serverRfc9162 = rfc9162<Buffer>({ create: () => createHash("sha256") });

export const { leafHash, nodeHash, emptyRoot: EMPTY_ROOT, verifyConsistency } = serverRfc9162;

/** node:crypto's SHA-256 for the verify library's hot loops (VerifyOptions.sha256): native, one call per message (no Hash object). */
export const nodeSha256Into: Sha256Into = {
  digestInto: (data, into, at) => void into.set(hash("sha256", data, "buffer"), at),
};
