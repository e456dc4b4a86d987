import { createHash, verify as verifySignature, X509Certificate } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { BasicOCSPResponse, CertID, id_pkix_ocsp_basic, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest } from "@peculiar/asn1-ocsp";
import { AlgorithmIdentifier, ExtendedKeyUsage, id_ce_extKeyUsage, id_kp_OCSPSigning } from "@peculiar/asn1-x509";
import { LRUCache } from "lru-cache";
import { request } from "undici";
import { AppError } from "../../errors.js";
import { ocspUrlOf, parseCertificate, type ChainCertificate } from "./certificates.js";
import { AppleJwsRejection } from "./rejection.js";

const SHA1 = "1.3.14.3.2.26";
/** Signature algorithms an OCSP responder may use, as node's digest names. */
const SIGNATURE_DIGESTS: Record<string, string> = {
  "1.2.840.10045.4.3.2": "sha256", // ecdsa-with-SHA256
  "1.2.840.10045.4.3.3": "sha384", // ecdsa-with-SHA384
  "1.2.840.113549.1.1.11": "sha256", // sha256WithRSAEncryption
  "1.2.840.113549.1.1.12": "sha384", // sha384WithRSAEncryption
};
/** Clock skew tolerated on thisUpdate. */
const SKEW_MS = 5 * 60_000;
/** How long a good answer without nextUpdate is trusted. */
const NO_NEXT_UPDATE_TTL_MS = 60 * 60_000;

export interface OcspSettings {
  timeoutMs: number;
  cacheSize?: number;
}

/**
 * Revocation checks by OCSP (RFC 6960) for the online mode of the Apple
 * verifier. A good answer is cached until its nextUpdate; a revoked one
 * rejects; an unreachable or unusable responder is UNAVAILABLE (retryable),
 * never a pass.
 */
export class OcspChecker {
  private readonly good: LRUCache<string, true>;
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly settings: OcspSettings) {
    this.good = new LRUCache({ max: settings.cacheSize ?? 1024, ttlAutopurge: false });
  }

  async assertGood(cert: ChainCertificate, issuer: ChainCertificate): Promise<void> {
    const key = `${issuer.x509.fingerprint256}/${cert.x509.serialNumber}`;
    if (this.good.get(key)) return;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.check(cert, issuer, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async check(cert: ChainCertificate, issuer: ChainCertificate, key: string): Promise<void> {
    const url = ocspUrlOf(cert);
    if (!url) throw new AppleJwsRejection("chain_invalid", "a certificate names no OCSP responder");
    const certId = new CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
      issuerNameHash: new OctetString(sha1(AsnConvert.serialize(issuer.asn.tbsCertificate.subject))),
      issuerKeyHash: new OctetString(sha1(issuer.asn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)),
      serialNumber: cert.asn.tbsCertificate.serialNumber,
    });
    const body = Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId })] }) })));

    let answer: Buffer;
    try {
      const res = await request(url, {
        method: "POST",
        headers: { "content-type": "application/ocsp-request", accept: "application/ocsp-response" },
        body,
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      answer = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    } catch (err) {
      throw unavailable("the OCSP responder could not be reached", err);
    }

    const single = this.parseAndVerify(answer, issuer, certId);
    const now = Date.now();
    if (single.certStatus.revoked) throw new AppleJwsRejection("certificate_revoked", "a certificate of the chain is revoked");
    if (single.certStatus.good === undefined) throw unavailable("the OCSP responder does not know the certificate");
    if (single.thisUpdate.getTime() > now + SKEW_MS || (single.nextUpdate && single.nextUpdate.getTime() < now)) {
      throw unavailable("the OCSP answer is not current");
    }
    const ttl = single.nextUpdate ? single.nextUpdate.getTime() - now : NO_NEXT_UPDATE_TTL_MS;
    if (ttl > 0) this.good.set(key, true, { ttl });
  }

  /** The single response for certId, from a response whose signature verifies with the issuer or a delegated responder. */
  private parseAndVerify(answer: Buffer, issuer: ChainCertificate, certId: CertID) {
    let basic: BasicOCSPResponse;
    try {
      const response = AsnConvert.parse(answer, OCSPResponse);
      if (response.responseStatus !== OCSPResponseStatus.successful || !response.responseBytes) throw new Error("unsuccessful");
      if (response.responseBytes.responseType !== id_pkix_ocsp_basic) throw new Error("not a basic response");
      basic = AsnConvert.parse(response.responseBytes.response, BasicOCSPResponse);
    } catch (err) {
      throw unavailable("the OCSP answer is unusable", err);
    }
    const digest = SIGNATURE_DIGESTS[basic.signatureAlgorithm.algorithm];
    const signed = basic.tbsResponseDataRaw ?? AsnConvert.serialize(basic.tbsResponseData);
    const signers = [issuer.x509, ...(basic.certs ?? []).map((c) => delegatedResponder(c, issuer.x509)).filter((c) => c !== undefined)];
    const ok = digest !== undefined && signers.some((signer) => verifySignature(digest, Buffer.from(signed), signer.publicKey, Buffer.from(basic.signature)));
    if (!ok) throw unavailable("the OCSP answer's signature does not verify");
    const serial = Buffer.from(certId.serialNumber);
    const single = basic.tbsResponseData.responses.find(
      (r) => Buffer.from(r.certID.serialNumber).equals(serial) && Buffer.from(r.certID.issuerKeyHash.buffer).equals(Buffer.from(certId.issuerKeyHash.buffer)),
    );
    if (!single) throw unavailable("the OCSP answer does not cover the certificate");
    return single;
  }
}

/** A responder certificate the issuer delegated OCSP signing to (RFC 6960 section 4.2.2.2). */
function delegatedResponder(cert: ChainCertificate["asn"], issuer: X509Certificate): X509Certificate | undefined {
  const parsed = parseCertificate(Buffer.from(AsnConvert.serialize(cert)));
  if (!parsed.x509.checkIssued(issuer) || !parsed.x509.verify(issuer.publicKey)) return undefined;
  const eku = (cert.tbsCertificate.extensions ?? []).find((e) => e.extnID === id_ce_extKeyUsage);
  if (!eku || !AsnConvert.parse(eku.extnValue, ExtendedKeyUsage).includes(id_kp_OCSPSigning)) return undefined;
  return parsed.x509;
}

function sha1(data: ArrayBuffer): Buffer {
  return createHash("sha1").update(Buffer.from(data)).digest();
}

function unavailable(message: string, cause?: unknown): AppError {
  return new AppError("unavailable", `revocation check failed: ${message}`, { retryAfterSeconds: 5, reason: "REVOCATION_CHECK_UNAVAILABLE" }, { cause });
}
