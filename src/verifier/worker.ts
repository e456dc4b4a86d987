import { verifyDocument } from "../verify/document.js";
import type { VerificationReport } from "../verify/bundle.js";

/** A verifier thread's task: one document, checked by the verification library as every verifier checks it. */
export interface VerifyTask {
  text: string;
  pinnedKey?: string;
}

export default function verify({ text, pinnedKey }: VerifyTask): VerificationReport {
  return verifyDocument(text, { pinnedKey });
}
