import { createHash, KeyObject, sign } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  BasicOCSPResponse,
  CertStatus,
  id_pkix_ocsp_basic,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from "@peculiar/asn1-ocsp";
import { AlgorithmIdentifier, Certificate } from "@peculiar/asn1-x509";
import type * as x509 from "@peculiar/x509";

export type OcspAnswer = "good" | "revoked" | "down";

/**
 * A loopback OCSP responder (RFC 6960 over HTTP POST) for the local chains:
 * it signs answers with the issuer's own key, as Apple's responder does for
 * its chains, and answers each serial as the test says.
 */
export class FakeOcspResponder {
  private readonly issuers = new Map<string, KeyObject>();
  readonly statuses = new Map<string, OcspAnswer>();
  requests = 0;
  url = "";
  private server: Server | undefined;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests++;
        try {
          const body = this.answer(Buffer.concat(chunks));
          if (!body) {
            res.writeHead(503).end();
            return;
          }
          res.writeHead(200, { "content-type": "application/ocsp-response" }).end(body);
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ocsp`;
    return this;
  }

  /** Answers for certificates this issuer signed. */
  addIssuer(cert: x509.X509Certificate, privateKey: CryptoKey): void {
    const asn = AsnConvert.parse(cert.rawData, Certificate);
    const keyHash = createHash("sha1").update(Buffer.from(asn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest("hex");
    this.issuers.set(keyHash, KeyObject.from(privateKey));
  }

  setStatus(cert: x509.X509Certificate, status: OcspAnswer): void {
    this.statuses.set(Buffer.from(AsnConvert.parse(cert.rawData, Certificate).tbsCertificate.serialNumber).toString("hex"), status);
  }

  private answer(der: Buffer): Buffer | undefined {
    const request = AsnConvert.parse(der, OCSPRequest);
    const certId = request.tbsRequest.requestList[0]!.reqCert;
    const serial = Buffer.from(certId.serialNumber).toString("hex");
    const status = this.statuses.get(serial) ?? "good";
    if (status === "down") return undefined;
    const key = this.issuers.get(Buffer.from(certId.issuerKeyHash.buffer).toString("hex"));
    if (!key) throw new Error("unknown issuer");
    const now = Date.now();
    const data = new ResponseData({
      responderID: new ResponderID({ byKey: new OctetString(certId.issuerKeyHash.buffer) }),
      producedAt: new Date(now),
      responses: [
        new SingleResponse({
          certID: certId,
          certStatus: status === "revoked" ? new CertStatus({ revoked: new RevokedInfo({ revocationTime: new Date(now - 60_000) }) }) : new CertStatus({ good: null }),
          thisUpdate: new Date(now - 1000),
          nextUpdate: new Date(now + 3600_000),
        }),
      ],
    });
    const tbs = Buffer.from(AsnConvert.serialize(data));
    const basic = new BasicOCSPResponse({
      tbsResponseData: data,
      signatureAlgorithm: new AlgorithmIdentifier({ algorithm: "1.2.840.10045.4.3.2" }),
      signature: new Uint8Array(sign("sha256", tbs, key)).buffer,
    });
    const response = new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
    });
    return Buffer.from(AsnConvert.serialize(response));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
