import { fromBase64, utf8 } from "./bytes.js";
import { reportValid, type Check, type VerificationReport } from "./bundle.js";
import { logSignedNote } from "./note.js";
import { certificatesFromPem, TimestampError, verifyTimestampToken } from "./rfc3161.js";

/**
 * The bundle's RFC 3161 token as the report's `timestamp` check, against the
 * TSA roots the caller trusts (PEM). The token is over the checkpoint note
 * as the log signed it (the note without witness cosignature lines). With
 * roots given: `pass`, `fail` (naming the token's checks that failed), or
 * `missing` when the bundle carries none (the caller asked for one, so the
 * report is not valid). Without roots, a carried token is `skipped` (not
 * checked) and no token adds no check. Asynchronous (WebCrypto), so it is
 * added after the offline checks, as the on-chain anchor check is.
 */
export async function checkTimestamp(report: VerificationReport, bundle: { checkpoint?: unknown; timestamp_token?: unknown }, tsaRootsPem?: string): Promise<VerificationReport> {
  if (report.kind !== "bundle" || report.checks[0]?.status !== "pass") return report;
  let roots: Uint8Array[] | undefined;
  if (tsaRootsPem !== undefined) {
    try {
      roots = certificatesFromPem(tsaRootsPem);
    } catch (err) {
      if (!(err instanceof TimestampError)) throw err;
      const checks = [...report.checks, { name: "timestamp" as const, status: "fail" as const, detail: `the trusted TSA roots: ${err.message}` }];
      return { ...report, checks, valid: false };
    }
  }
  const check = await timestampCheck(report.origin, bundle, roots);
  if (!check) return report;
  const checks = [...report.checks, check];
  return { ...report, checks, valid: reportValid(checks) };
}

/**
 * The `timestamp` check of a document's RFC 3161 token against trusted TSA
 * roots (DER; undefined when the caller trusts none): undefined when there is
 * neither a token nor roots (nothing asked, nothing carried).
 */
export async function timestampCheck(origin: string, bundle: { checkpoint?: unknown; timestamp_token?: unknown }, roots: readonly Uint8Array[] | undefined): Promise<Check | undefined> {
  const name = "timestamp";
  const token = bundle.timestamp_token;
  if (token === undefined) return roots === undefined ? undefined : { name, status: "missing", detail: "the document carries no RFC 3161 timestamp token" };
  if (roots === undefined) return { name, status: "skipped", detail: "the document carries an RFC 3161 timestamp token, not checked: no trusted TSA roots given" };
  const der = typeof token === "string" ? fromBase64(token) : undefined;
  if (!der || der.length === 0) return { name, status: "fail", detail: "timestamp_token is not base64" };
  const note = logSignedNote(bundle.checkpoint as string, origin);
  const sha256 = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", utf8(note) as Uint8Array<ArrayBuffer>));
  const verified = await verifyTimestampToken(der, { sha256, roots });
  const failed = verified.checks.filter((c) => !c.ok);
  if (failed.length > 0) return { name, status: "fail", detail: `the token fails ${failed.map((c) => `${c.name} (${c.detail})`).join("; ")}` };
  return {
    name,
    status: "pass",
    detail: `RFC 3161 token by ${verified.tsa ?? "the TSA"} at ${verified.genTime!.toISOString()} over the log's note: ${verified.checks.map((c) => c.name).join(", ")} pass`,
  };
}
