import type { VerificationReport } from "../verify/bundle.js";
import { verifyDocument } from "../verify/document.js";
import { PUBLIC_JSON_LIMITS } from "../verify/json.js";

/** A verifier thread's task: one document from anyone, checked by the verification library within the public JSON limits. */
export interface VerifyTask {
  text: string;
  pinnedKey?: string;
}

export default function verify({ text, pinnedKey }: VerifyTask): VerificationReport {
  return verifyDocument(text, { pinnedKey, json: PUBLIC_JSON_LIMITS });
}
