import { rootFromInclusionProof as rootFromProof } from "../../verify/merkle.js";

/**
 * RFC 9162 proof verification lives in the browser-safe verification library
 * (src/verify), one implementation for the server and every verifier.
 */
export { verifyConsistency, verifyInclusion } from "../../verify/merkle.js";

/** The root an inclusion proof leads to, as a Buffer for the server's code. */
export const rootFromInclusionProof = (leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[]): Buffer =>
  Buffer.from(rootFromProof(leafIndex, treeSize, leafHash, proof));
