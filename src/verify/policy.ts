import { fromBase64 } from "./bytes.js";
import { notABundle, reportValid, verifyBundle, type Check, type CheckName, type VerificationReport, type VerifyOptions } from "./bundle.js";
import { readJson } from "./json.js";
import { NoteError, parseVerifierKey, SIG_COSIGNATURE_V1, splitNote, openNote, type NoteVerifier } from "./note.js";
import { certificateFromDer, certificatesFromPem, TimestampError } from "./rfc3161.js";
import { timestampCheck } from "./timestamp.js";
import { isTlogProof, parseTlogProof, TlogProofError } from "./tlog-proof.js";
import { verifyTlogProof } from "./document.js";

/*
 * A second entry of the verification library beside index.ts: it reads RFC
 * 3161 tokens with pkijs (CMS, X.509 on WebCrypto), some 400 KB that the
 * core entry (signatures, proofs, anchors on @noble) does not carry. Still
 * no Node-only API: the /verify page is built from it.
 */

/**
 * What a caller trusts and asks of a document, the same on every verifier
 * surface (the CLI, VerifyBundle, POST /v2/verify, the /verify page, the
 * @attesto/verify library). Each kind of evidence is its own named check:
 * asked for and carried, it passes or fails; asked for and not carried, it
 * is `missing` (the report is not valid); carried but not asked for, it is
 * `skipped` (present, not checked); neither, it is not reported.
 */
export interface VerificationPolicy {
  /** The log's note verifier key (`<origin>+<key id>+<key>`), obtained out of band: the `signature` check. */
  pinnedKey?: string;
  /** Witnesses the caller trusts (C2SP tlog-cosignature verifier keys, type 0x04) and how many must have cosigned the checkpoint: the `witnesses` check. */
  witnesses?: { keys: readonly string[]; k: number };
  /** Trusted RFC 3161 TSA roots: PEM texts (each one or more CERTIFICATE blocks), base64 DER, or DER bytes: the `timestamp` check. */
  tsaRoots?: readonly (string | Uint8Array)[];
  /** The document must carry at least one anchor receipt: the `anchors` check is `missing` without one. */
  requireAnchor?: boolean;
}

/** The policy's fields by the names the wire uses (VerifyBundleRequest, POST /v2/verify), so a refusal names the one to fix. */
export type PolicyField = "verifier_key" | "witness_keys" | "witness_k" | "tsa_roots" | "require_anchor";

/** The most witness keys and TSA roots a policy may name (a policy from anyone costs a key parse or a certificate parse each). */
export const MAX_POLICY_WITNESSES = 64;
export const MAX_POLICY_TSA_ROOTS = 32;

/** A policy read and checked once: parsed keys and DER roots. */
export interface ParsedPolicy {
  pinnedKey?: string;
  witnesses?: { verifiers: NoteVerifier[]; k: number };
  tsaRoots?: Uint8Array[];
  requireAnchor: boolean;
}

export type PolicyReading = { policy: ParsedPolicy } | { field: PolicyField; problem: string };

/** Reads a policy; the first field that is not usable, and why, when one is not (a server answers it as a 4xx naming the field). */
export function readPolicy(input: VerificationPolicy): PolicyReading {
  const policy: ParsedPolicy = { requireAnchor: input.requireAnchor === true };
  if (input.pinnedKey !== undefined && input.pinnedKey.trim() !== "") {
    try {
      parseVerifierKey(input.pinnedKey.trim());
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
      return { field: "verifier_key", problem: `is not a note verifier key: ${err.message}` };
    }
    policy.pinnedKey = input.pinnedKey.trim();
  }
  if (input.witnesses !== undefined) {
    const { keys, k } = input.witnesses;
    if (keys.length === 0) return { field: "witness_keys", problem: "name at least one witness key when a witness policy is given" };
    if (keys.length > MAX_POLICY_WITNESSES) return { field: "witness_keys", problem: `at most ${MAX_POLICY_WITNESSES} witness keys` };
    const verifiers: NoteVerifier[] = [];
    for (const [i, key] of keys.entries()) {
      let v: NoteVerifier;
      try {
        v = parseVerifierKey(key.trim());
      } catch (err) {
        if (!(err instanceof NoteError)) throw err;
        return { field: "witness_keys", problem: `key ${i + 1} is not a note verifier key: ${err.message}` };
      }
      if (v.type !== SIG_COSIGNATURE_V1) return { field: "witness_keys", problem: `key ${i + 1} (${v.name}) is not a tlog-cosignature key (type 0x04, cosignature/v1)` };
      if (verifiers.some((w) => w.name === v.name && w.keyId === v.keyId)) return { field: "witness_keys", problem: `key ${i + 1} (${v.name}) is named twice` };
      verifiers.push(v);
    }
    if (!Number.isSafeInteger(k) || k < 1 || k > verifiers.length) return { field: "witness_k", problem: `must be a whole number from 1 to the number of witness keys (${verifiers.length})` };
    policy.witnesses = { verifiers, k };
  }
  if (input.tsaRoots !== undefined) {
    if (input.tsaRoots.length === 0) return { field: "tsa_roots", problem: "name at least one root certificate when TSA roots are given" };
    if (input.tsaRoots.length > MAX_POLICY_TSA_ROOTS) return { field: "tsa_roots", problem: `at most ${MAX_POLICY_TSA_ROOTS} roots` };
    const roots: Uint8Array[] = [];
    try {
      for (const [i, root] of input.tsaRoots.entries()) roots.push(...rootCertificates(root, `root ${i + 1}`));
    } catch (err) {
      if (!(err instanceof TimestampError)) throw err;
      return { field: "tsa_roots", problem: err.message };
    }
    if (roots.length > MAX_POLICY_TSA_ROOTS) return { field: "tsa_roots", problem: `at most ${MAX_POLICY_TSA_ROOTS} roots` };
    policy.tsaRoots = roots;
  }
  return { policy };
}

/** One root as given: DER bytes, a PEM text (every CERTIFICATE block), or base64 DER. */
function rootCertificates(root: string | Uint8Array, label: string): Uint8Array[] {
  if (typeof root !== "string") return [certificateFromDer(root, label)];
  if (root.includes("-----BEGIN")) {
    try {
      return certificatesFromPem(root);
    } catch (err) {
      if (err instanceof TimestampError) throw new TimestampError(`${label}: ${err.message}`);
      throw err;
    }
  }
  const der = fromBase64(root.replace(/\s+/g, ""));
  if (!der || der.length === 0) throw new TimestampError(`${label} is neither PEM nor base64 DER`);
  return [certificateFromDer(der, label)];
}

/** What a policy check reads of a document whose format check passed. */
export interface PolicyEvidence {
  kind: VerificationReport["kind"];
  origin: string;
  /** The checkpoint note as carried, with its cosignature lines. */
  checkpoint: string;
  /** The bundle's RFC 3161 token (a tlog-proof carries none). */
  timestampToken?: unknown;
  anchors: number;
}

/**
 * One policy-driven check: its report line, or undefined when the policy
 * does not ask for it and the document carries none of it. A check beside
 * these (e.g. a key-rotation chain) is one more entry of POLICY_CHECKS.
 * A result named like a check the offline verification already made
 * (anchors) takes that check's place.
 */
export interface PolicyCheck {
  name: CheckName;
  run(evidence: PolicyEvidence, policy: ParsedPolicy): Check | undefined | Promise<Check | undefined>;
}

/** The `witnesses` check: k of the trusted witnesses cosigned the checkpoint (C2SP tlog-cosignature, cosignature/v1). */
export const witnessesCheck: PolicyCheck = {
  name: "witnesses",
  run({ checkpoint, origin }, policy) {
    const name = "witnesses";
    const cosignatureLines = splitNote(checkpoint).signatures.filter((s) => s.name !== origin);
    if (!policy.witnesses) {
      if (cosignatureLines.length === 0) return undefined;
      return { name, status: "skipped", detail: `${cosignatureLines.length} cosignature line${cosignatureLines.length === 1 ? "" : "s"} carried, not checked: no trusted witness keys given` };
    }
    const { verifiers, k } = policy.witnesses;
    const trustedLines = verifiers.filter((v) => cosignatureLines.some((s) => s.name === v.name && s.keyId === v.keyId));
    if (trustedLines.length === 0)
      return { name, status: "missing", detail: `the checkpoint carries no cosignature by a trusted witness (0 of the ${k} required; ${cosignatureLines.length} other cosignature lines)` };
    const opened = openNote(checkpoint, verifiers);
    const bad = trustedLines.filter((v) => !opened.verifiedBy.includes(v));
    const good = opened.verifiedBy.map((v) => `${v.name} (time ${opened.timestamps.get(v) ?? "?"})`);
    if (bad.length > 0) return { name, status: "fail", detail: `the cosignature of ${bad.map((v) => v.name).join(", ")} does not verify${good.length ? `; verified: ${good.join(", ")}` : ""}` };
    if (opened.verifiedBy.length < k) return { name, status: "fail", detail: `${opened.verifiedBy.length} of the ${k} required trusted witnesses cosigned: ${good.join(", ")}` };
    return { name, status: "pass", detail: `${opened.verifiedBy.length} trusted witness${opened.verifiedBy.length === 1 ? "" : "es"} cosigned (${k} required): ${good.join(", ")}` };
  },
};

/** The `timestamp` check: the RFC 3161 token over the log's note leads to a trusted TSA root. */
export const timestampPolicyCheck: PolicyCheck = {
  name: "timestamp",
  run: ({ origin, checkpoint, timestampToken }, policy) => timestampCheck(origin, { checkpoint, timestamp_token: timestampToken }, policy.tsaRoots),
};

/** The `anchors` requirement: a document without a receipt is `missing` when the policy asks for one (the receipts themselves are checked offline already). */
export const anchorRequirement: PolicyCheck = {
  name: "anchors",
  run: ({ anchors }, policy) =>
    policy.requireAnchor && anchors === 0 ? { name: "anchors", status: "missing", detail: "the policy requires an anchor receipt and the document carries none" } : undefined,
};

/** The policy-driven checks, in report order. */
export const POLICY_CHECKS: readonly PolicyCheck[] = [witnessesCheck, timestampPolicyCheck, anchorRequirement];

/**
 * The document verified against a caller's policy: the offline checks
 * (format, signature with the pinned key, leaves, proofs, anchor paths),
 * then each policy check. A policy field that is not usable fails the check
 * it belongs to (servers refuse such a request before, naming the field).
 * Asynchronous: the timestamp check runs on WebCrypto.
 */
export async function verifyWithPolicy(text: string, input: VerificationPolicy = {}, options: Omit<VerifyOptions, "pinnedKey"> = {}): Promise<VerificationReport> {
  const reading = readPolicy(input);
  const policy: ParsedPolicy = "policy" in reading ? reading.policy : { requireAnchor: input.requireAnchor === true, pinnedKey: input.pinnedKey };
  const verifyOptions: VerifyOptions = { ...options, pinnedKey: input.pinnedKey };
  let report: VerificationReport;
  let evidence: PolicyEvidence | undefined;
  if (isTlogProof(text)) {
    report = verifyTlogProof(text, verifyOptions);
    if (report.checks[0]?.status === "pass") evidence = { kind: report.kind, origin: report.origin, checkpoint: tlogCheckpoint(text), anchors: 0 };
  } else {
    const read = readJson(text, options.json);
    report = "value" in read ? verifyBundle(read.value, verifyOptions) : notABundle(`the document ${read.problem}`);
    if ("value" in read && report.checks[0]?.status === "pass") {
      const doc = read.value as { checkpoint: string; timestamp_token?: unknown };
      evidence = { kind: report.kind, origin: report.origin, checkpoint: doc.checkpoint, timestampToken: doc.timestamp_token, anchors: report.anchors };
    }
  }
  return applyPolicy(report, evidence, policy, "field" in reading ? reading : undefined);
}

const tlogCheckpoint = (text: string): string => {
  try {
    return parseTlogProof(text).checkpoint;
  } catch (err) {
    if (err instanceof TlogProofError) return "";
    throw err;
  }
};

/** Which check a policy field belongs to. */
const CHECK_OF_FIELD: Record<PolicyField, CheckName> = { verifier_key: "signature", witness_keys: "witnesses", witness_k: "witnesses", tsa_roots: "timestamp", require_anchor: "anchors" };

/** Adds (or puts in place of the offline check of the same name) each policy check's line; the report as it is when its format failed. */
export async function applyPolicy(
  report: VerificationReport,
  evidence: PolicyEvidence | undefined,
  policy: ParsedPolicy,
  unusable?: { field: PolicyField; problem: string },
): Promise<VerificationReport> {
  if (!evidence) return report;
  const checks = [...report.checks];
  const put = (check: Check) => {
    const at = checks.findIndex((c) => c.name === check.name);
    if (at >= 0) checks[at] = check;
    else checks.push(check);
  };
  for (const policyCheck of POLICY_CHECKS) {
    if (unusable && CHECK_OF_FIELD[unusable.field] === policyCheck.name) {
      put({ name: policyCheck.name, status: "fail", detail: `the policy's ${unusable.field} ${unusable.problem}` });
      continue;
    }
    const check = await policyCheck.run(evidence, policy);
    if (check) put(check);
  }
  return { ...report, checks, valid: reportValid(checks) };
}
