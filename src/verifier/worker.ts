import { setPriority } from "node:os";
import type { VerificationReport } from "../verify/bundle.js";
import { verifyDocument } from "../verify/document.js";
import { PUBLIC_JSON_LIMITS } from "../verify/json.js";

/** A verifier thread's task: one document from anyone, checked by the verification library within the public JSON limits. */
export interface VerifyTask {
  text: string;
  pinnedKey?: string;
}

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

export default function verify({ text, pinnedKey }: VerifyTask): VerificationReport {
  return verifyDocument(text, { pinnedKey, json: PUBLIC_JSON_LIMITS });
}
