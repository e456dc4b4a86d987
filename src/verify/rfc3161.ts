import * as asn1js from "asn1js";
import { AlgorithmIdentifier, Certificate, ContentInfo, ExtKeyUsage, MessageImprint, PKIStatus, SignedData, TimeStampReq, TimeStampResp, TSTInfo } from "pkijs";
import { equalBytes, fromBase64, toHex } from "./bytes.js";

/**
 * RFC 3161 time-stamp tokens over a checkpoint's note bytes: the request
 * (SHA-256 imprint, a nonce, certReq), reading the response, and checking a
 * token against the TSA roots a caller trusts, each property its own named
 * check so a report says which one failed. pkijs parses the CMS and checks
 * the signature (WebCrypto is its engine: Node's, Deno's, a browser's); the
 * certificate path, the key purpose and the dates are checked here.
 */

export const TIMESTAMP_QUERY_CONTENT_TYPE = "application/timestamp-query";
export const TIMESTAMP_REPLY_CONTENT_TYPE = "application/timestamp-reply";

const OID_SHA256 = "2.16.840.1.101.3.4.2.1";
const OID_TST_INFO = "1.2.840.113549.1.9.16.1.4";
const OID_SIGNED_DATA = "1.2.840.113549.1.7.2";
const OID_DATA = "1.2.840.113549.1.7.1";
const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KP_TIME_STAMPING = "1.3.6.1.5.5.7.3.8";
/** Longest certificate path followed from the TSA's certificate to a trusted root. */
const MAX_PATH = 8;

export type TimestampCheckName = "token" | "imprint" | "nonce" | "signature" | "chain" | "key_usage" | "validity";

export interface TimestampCheck {
  name: TimestampCheckName;
  ok: boolean;
  detail: string;
}

export interface TimestampVerification {
  /** Every check passed. */
  ok: boolean;
  checks: TimestampCheck[];
  /** The TSA's time (TSTInfo genTime), when the token parses. */
  genTime?: Date;
  /** The TSA certificate's subject, when the signer was found. */
  tsa?: string;
}

export class TimestampError extends Error {}

/** The bytes as an ArrayBuffer-backed view (what pkijs's BufferSource parameters take). */
const ab = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => (bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes));

/** A TimeStampReq (v1, SHA-256 imprint, the nonce, certReq TRUE), DER. */
export function timestampRequest(sha256: Uint8Array, nonce: Uint8Array): Uint8Array<ArrayBuffer> {
  if (sha256.length !== 32) throw new TimestampError("the imprint is a SHA-256 (32 bytes)");
  const request = new TimeStampReq({
    version: 1,
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithmId: OID_SHA256, algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: ab(sha256) }),
    }),
    nonce: asn1js.Integer.fromBigInt(nonceValue(nonce)),
    certReq: true,
  });
  return new Uint8Array(request.toSchema().toBER(false));
}

/** The nonce as the integer a token carries. */
export const nonceValue = (nonce: Uint8Array): bigint => BigInt(`0x${toHex(nonce) || "0"}`);

/** The token of a TimeStampResp (DER); a TimestampError when the TSA did not grant one or the answer is not a response. */
export function tokenOfResponse(response: Uint8Array): Uint8Array {
  let resp: TimeStampResp;
  try {
    resp = TimeStampResp.fromBER(ab(response));
  } catch (err) {
    throw new TimestampError(`not a TimeStampResp: ${(err as Error).message}`);
  }
  const status = resp.status.status;
  if (status !== PKIStatus.granted && status !== PKIStatus.grantedWithMods) {
    const text = resp.status.statusStrings?.map((s) => s.valueBlock.value).join("; ");
    throw new TimestampError(`the TSA answered ${PKIStatus[status] ?? `status ${String(status)}`}${text ? `: ${text}` : ""}`);
  }
  if (!resp.timeStampToken) throw new TimestampError("the TSA granted no token");
  return new Uint8Array(resp.timeStampToken.toSchema().toBER(false));
}

/** A DER certificate as given, when it parses; a TimestampError naming it (`label`) when it does not. */
export function certificateFromDer(der: Uint8Array, label: string): Uint8Array {
  try {
    Certificate.fromBER(ab(der));
  } catch (err) {
    throw new TimestampError(`${label} does not parse as a DER certificate: ${(err as Error).message}`);
  }
  return der;
}

/** The DER certificates of a PEM text (every CERTIFICATE block); a TimestampError when there is none or one does not parse. */
export function certificatesFromPem(pem: string): Uint8Array[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new TimestampError("no CERTIFICATE block in the PEM text");
  return blocks.map((m, i) => {
    const bytes = fromBase64(m[1]!.replace(/\s+/g, ""));
    if (!bytes) throw new TimestampError(`certificate ${i + 1} is not base64`);
    try {
      Certificate.fromBER(ab(bytes));
    } catch (err) {
      throw new TimestampError(`certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
    return bytes;
  });
}

export interface TimestampExpectation {
  /** SHA-256 of the timestamped bytes (the checkpoint note as the log signed it). */
  sha256: Uint8Array;
  /** The trusted TSA roots (DER). */
  roots: readonly Uint8Array[];
  /** The request's nonce, when the caller sent the request (on receipt); a later verifier has none to compare. */
  nonce?: Uint8Array;
}

const subjectOf = (c: Certificate) => c.subject.typesAndValues.map((tv) => `${tv.type === "2.5.4.3" ? "CN" : tv.type}=${tv.value.valueBlock.value}`).join(", ");

/**
 * Checks a TimeStampToken (DER ContentInfo of SignedData of TSTInfo):
 * `imprint` (SHA-256 of the data), `nonce` (when expected), `signature`
 * (the CMS signature and its message digest by the signer certificate the
 * token carries), `chain` (that certificate leads to a trusted root),
 * `key_usage` (critical extended key usage timeStamping only, RFC 3161 2.3)
 * and `validity` (every certificate of the path valid at genTime). Each runs
 * and reports on its own.
 */
export async function verifyTimestampToken(token: Uint8Array, expect: TimestampExpectation): Promise<TimestampVerification> {
  const checks: TimestampCheck[] = [];
  let signed: SignedData;
  let tst: TSTInfo;
  try {
    const info = ContentInfo.fromBER(ab(token));
    if (info.contentType !== OID_SIGNED_DATA) throw new TimestampError("not CMS SignedData");
    signed = new SignedData({ schema: info.content });
    if (signed.encapContentInfo.eContentType !== OID_TST_INFO || !signed.encapContentInfo.eContent) throw new TimestampError("the content is not a TSTInfo");
    tst = TSTInfo.fromBER(signed.encapContentInfo.eContent.getValue());
  } catch (err) {
    const detail = `not an RFC 3161 TimeStampToken: ${(err as Error).message}`;
    return {
      ok: false,
      checks: (["token", "imprint", "signature", "chain", "key_usage", "validity"] as const).map((name) => ({
        name,
        ok: false,
        detail: name === "token" ? detail : "not run: the token does not parse",
      })),
    };
  }
  checks.push({ name: "token", ok: true, detail: `TSTInfo serial ${toHex(new Uint8Array(tst.serialNumber.valueBlock.valueHexView))}, genTime ${tst.genTime.toISOString()}` });

  const imprint = tst.messageImprint;
  const hashed = new Uint8Array(imprint.hashedMessage.valueBlock.valueHexView);
  if (imprint.hashAlgorithm.algorithmId !== OID_SHA256) checks.push({ name: "imprint", ok: false, detail: `the imprint's hash is ${imprint.hashAlgorithm.algorithmId}, not SHA-256` });
  else if (!equalBytes(hashed, expect.sha256)) checks.push({ name: "imprint", ok: false, detail: `the token timestamps ${toHex(hashed)}, not the note's SHA-256 ${toHex(expect.sha256)}` });
  else checks.push({ name: "imprint", ok: true, detail: `SHA-256 ${toHex(hashed)}` });

  if (expect.nonce) {
    const want = nonceValue(expect.nonce);
    const got = tst.nonce?.toBigInt();
    checks.push(
      got === want
        ? { name: "nonce", ok: true, detail: "the request's nonce" }
        : { name: "nonce", ok: false, detail: got === undefined ? "the token carries no nonce" : "the token's nonce is not the request's" },
    );
  }

  const carried = (signed.certificates ?? []).filter((c): c is Certificate => c instanceof Certificate);
  let signer: Certificate | undefined;
  try {
    // The imprint is its own check above, so the CMS is verified as plain signed content: its message digest and signature.
    signed.encapContentInfo.eContentType = OID_DATA;
    const result = await signed.verify({ signer: 0, checkChain: false, extendedMode: true });
    signer = result.signerCertificate ?? undefined;
    checks.push(
      result.signatureVerified
        ? { name: "signature", ok: true, detail: `signed by ${signer ? subjectOf(signer) : "the TSA"}` }
        : { name: "signature", ok: false, detail: result.message || "the signature does not verify" },
    );
  } catch (err) {
    const e = err as { message?: string; signerCertificate?: Certificate | null };
    signer = e.signerCertificate ?? undefined;
    checks.push({ name: "signature", ok: false, detail: e.message ?? String(err) });
  }
  const tsa = signer ? subjectOf(signer) : undefined;
  if (!signer) {
    for (const name of ["chain", "key_usage", "validity"] as const) checks.push({ name, ok: false, detail: "not run: the token names no signer certificate it carries (certReq)" });
    return { ok: false, checks, genTime: tst.genTime, tsa };
  }

  const roots = expect.roots.map((r) => Certificate.fromBER(ab(r)));
  const path = await pathToRoot(signer, carried, roots, expect.roots);
  if (roots.length === 0) checks.push({ name: "chain", ok: false, detail: "no trusted TSA root given" });
  else if (!path) checks.push({ name: "chain", ok: false, detail: `${subjectOf(signer)} does not lead to a trusted TSA root` });
  else checks.push({ name: "chain", ok: true, detail: path.map(subjectOf).join(" <- ") });

  const eku = signer.extensions?.find((x) => x.extnID === OID_EXT_KEY_USAGE);
  const purposes = eku?.parsedValue instanceof ExtKeyUsage ? eku.parsedValue.keyPurposes : [];
  if (!eku) checks.push({ name: "key_usage", ok: false, detail: "the TSA certificate has no extended key usage" });
  else if (!eku.critical) checks.push({ name: "key_usage", ok: false, detail: "the TSA certificate's extended key usage is not critical" });
  else if (purposes.length !== 1 || purposes[0] !== OID_KP_TIME_STAMPING)
    checks.push({ name: "key_usage", ok: false, detail: `the TSA certificate's key purposes are ${purposes.join(", ")}, not timeStamping alone` });
  else checks.push({ name: "key_usage", ok: true, detail: "timeStamping (critical)" });

  const at = tst.genTime.getTime();
  const outside = (path ?? [signer]).filter((c) => at < c.notBefore.value.getTime() || at > c.notAfter.value.getTime());
  checks.push(
    outside.length === 0
      ? { name: "validity", ok: true, detail: `the certificates are valid at genTime ${tst.genTime.toISOString()}` }
      : {
          name: "validity",
          ok: false,
          detail: outside.map((c) => `${subjectOf(c)} is valid ${c.notBefore.value.toISOString()} to ${c.notAfter.value.toISOString()}, not at genTime ${tst.genTime.toISOString()}`).join("; "),
        },
  );
  return { ok: checks.every((c) => c.ok), checks, genTime: tst.genTime, tsa };
}

/** The path from the signer to a trusted root (issuer name and signature at each step; issuers below the root must be CAs), or undefined. */
async function pathToRoot(signer: Certificate, carried: readonly Certificate[], roots: readonly Certificate[], rootsDer: readonly Uint8Array[]): Promise<Certificate[] | undefined> {
  const path = [signer];
  let current = signer;
  const signerDer = new Uint8Array(signer.toSchema().toBER(false));
  if (rootsDer.some((r) => equalBytes(r, signerDer))) return path;
  for (let depth = 0; depth < MAX_PATH; depth++) {
    const signedBy = async (issuer: Certificate) => issuer.subject.isEqual(current.issuer) && (await current.verify(issuer).catch(() => false));
    for (const root of roots) if (await signedBy(root)) return [...path, root];
    let next: Certificate | undefined;
    for (const c of carried) {
      if (path.includes(c) || !isCa(c)) continue;
      if (await signedBy(c)) {
        next = c;
        break;
      }
    }
    if (!next) return undefined;
    path.push(next);
    current = next;
  }
  return undefined;
}

const isCa = (c: Certificate) => {
  const bc = c.extensions?.find((x) => x.extnID === OID_BASIC_CONSTRAINTS)?.parsedValue as { cA?: boolean } | undefined;
  return bc?.cA === true;
};
