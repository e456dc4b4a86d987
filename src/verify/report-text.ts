import type { VerificationReport } from "./bundle.js";

/**
 * A verification report for people, and the exit code a command-line
 * verifier answers with: one wording for `attesto verify` and the
 * installable `attesto-verify` (packages/verify).
 */

/** Exit codes of a command-line verifier: 0 valid, 1 a check failed or evidence asked for is missing, 2 nothing failed but no key was pinned. */
export const VERIFY_EXIT = { valid: 0, failed: 1, unpinned: 2 } as const;

const MARKS: Record<string, string> = { pass: "✔", fail: "✘", unpinned: "⚠", skipped: "–", offline: "◌", missing: "✘" };
const failedOrMissing = (report: VerificationReport) => report.checks.some((c) => c.status === "fail" || c.status === "missing");

export function verifyExitCode(report: VerificationReport): number {
  return report.valid ? VERIFY_EXIT.valid : failedOrMissing(report) ? VERIFY_EXIT.failed : VERIFY_EXIT.unpinned;
}

/** The report as lines: what was checked, each check with its mark, and the verdict. `pinFlag` names how a key is pinned. */
export function reportText(report: VerificationReport, pinFlag = "--key"): string {
  const range = report.from_seq_no === report.to_seq_no ? `event ${report.from_seq_no}` : `events ${report.from_seq_no}..${report.to_seq_no}`;
  const head = `${report.kind} of ${report.stream_id || "?"} (${report.origin || "?"}): ${range}, checkpoint size ${report.checkpoint_size}`;
  const lines = report.checks.map((c) => `${MARKS[c.status]} ${c.name}: ${c.status} — ${c.detail}`);
  const verdict = report.valid ? "VALID" : failedOrMissing(report) ? "NOT VALID" : `NOT TRUSTED (pin the stream's verifier key with ${pinFlag})`;
  return [head, ...lines, verdict].join("\n");
}
