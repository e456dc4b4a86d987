import { setPriority } from "node:os";
import { nodeSha256Into } from "../crypto/rfc9162.js";
import type { VerificationReport } from "../verify/bundle.js";
import { PUBLIC_JSON_LIMITS } from "../verify/json.js";
import { verifyWithPolicy, type VerificationPolicy } from "../verify/policy.js";
import { verifyTimestampToken, type TimestampExpectation, type TimestampVerification } from "../verify/rfc3161.js";

/**
 * A verifier thread's task: one document from anyone, checked by the
 * verification library within the public JSON limits. A request body comes
 * as its bytes, moved to the thread (no copy) and decoded there, so a 16 MB
 * document costs the event loop neither a decode nor a clone.
 */
export interface VerifyTask {
  document: string | ArrayBuffer;
  /** The caller's policy (pinned key, witnesses and k, TSA roots, required anchor), already read by the edge. */
  policy: VerificationPolicy;
}

/** As a request body is read as text (Request.text()): malformed UTF-8 becomes U+FFFD, and the checks report what it breaks. */
const bodyDecoder = new TextDecoder();

// Documents from anyone yield the CPU to everything else the process does: on Linux a nice value
// is per thread, and 0 names the calling thread, so only this verifier thread runs at the lowest
// priority, and the event loop (tenants' requests, /healthz) keeps its share when cores are busy.
// Elsewhere (where it would name the process) or without the permission, it is left as it is.
if (process.platform === "linux") {
  try {
    setPriority(0, 19);
  } catch {
    // not permitted here: the thread keeps the process's priority
  }
}

export default function verify({ document, policy }: VerifyTask): Promise<VerificationReport> {
  const text = typeof document === "string" ? document : bodyDecoder.decode(document);
  return verifyWithPolicy(text, policy, { json: PUBLIC_JSON_LIMITS, sha256: nodeSha256Into });
}

/** A token a configured TSA just answered with, and what it must hold (the TSA client's check on receipt). */
export interface TimestampTask {
  token: Uint8Array;
  expect: TimestampExpectation;
}

/**
 * Checks a TSA's token on a verifier thread: parsing the CMS and walking the
 * certificate path costs 5–30 ms of CPU per token, which on the event loop
 * would stall every request the process answers meanwhile (one token per
 * checkpoint, so per stream and second).
 */
export function verifyTimestamp({ token, expect }: TimestampTask): Promise<TimestampVerification> {
  return verifyTimestampToken(token, expect);
}
