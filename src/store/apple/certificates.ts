import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AuthorityInfoAccessSyntax, Certificate, id_ad_ocsp, id_pe_authorityInfoAccess } from "@peculiar/asn1-x509";

/** Apple's marker extension of the App Store receipt-signing leaf. */
export const APPLE_LEAF_OID = "1.2.840.113635.100.6.11.1";
/** Apple's marker extension of the Apple Worldwide Developer Relations intermediate. */
export const APPLE_INTERMEDIATE_OID = "1.2.840.113635.100.6.2.1";

/** A certificate of an x5c chain: node's view for signatures and dates, the ASN.1 view for extensions. */
export interface ChainCertificate {
  x509: X509Certificate;
  asn: Certificate;
}

export function parseCertificate(der: Buffer): ChainCertificate {
  return { x509: new X509Certificate(der), asn: AsnConvert.parse(der, Certificate) };
}

export function hasExtension(cert: ChainCertificate, oid: string): boolean {
  return (cert.asn.tbsCertificate.extensions ?? []).some((ext) => ext.extnID === oid);
}

/** The OCSP responder URL of the certificate's Authority Information Access, if it names one. */
export function ocspUrlOf(cert: ChainCertificate): string | undefined {
  const ext = (cert.asn.tbsCertificate.extensions ?? []).find((e) => e.extnID === id_pe_authorityInfoAccess);
  if (!ext) return undefined;
  const aia = AsnConvert.parse(ext.extnValue, AuthorityInfoAccessSyntax);
  return aia.find((d) => d.accessMethod === id_ad_ocsp)?.accessLocation.uniformResourceIdentifier;
}

/** Reads the PEM files of the pinned roots; a file may hold several certificates. */
export function loadPinnedRoots(files: string[]): X509Certificate[] {
  const roots: X509Certificate[] = [];
  for (const file of files) {
    const pem = readFileSync(file, "utf8");
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new Error(`no certificate in ${file}`);
    for (const block of blocks) roots.push(new X509Certificate(block));
  }
  return roots;
}
