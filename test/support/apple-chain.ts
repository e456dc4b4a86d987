import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import * as x509 from "@peculiar/x509";
import { CompactSign } from "jose";
import { APPLE_INTERMEDIATE_OID, APPLE_LEAF_OID } from "../../src/store/apple/certificates.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY = 86_400_000;
/** DER NULL: the value Apple puts in its marker extensions. */
const DER_NULL = new Uint8Array([0x05, 0x00]);

export interface ChainOptions {
  leafOid?: boolean;
  intermediateOid?: boolean;
  /** Leaf validity; defaults to a year around now. */
  leafNotBefore?: Date;
  leafNotAfter?: Date;
  /** The OCSP responder the leaf and the intermediate name (online checks). */
  ocspUrl?: string;
  /** Sign the intermediate with this root instead of a fresh one (several chains under one root). */
  root?: TestRoot;
}

export interface TestRoot {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

/** A local chain root → intermediate → leaf shaped like Apple's, and a signer of JWS with it. */
export interface TestAppleChain {
  root: TestRoot;
  intermediate: { cert: x509.X509Certificate; keys: CryptoKeyPair };
  leaf: { cert: x509.X509Certificate; keys: CryptoKeyPair };
  /** base64 DER, leaf first, as in an x5c header. */
  x5c: string[];
  sign(payload: Record<string, unknown>, header?: { x5c?: string[]; alg?: string }): Promise<string>;
}

export async function makeRoot(name = "Test Apple Root CA - G3"): Promise<TestRoot> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}, O=Attesto Tests, C=US`,
    keys,
    signingAlgorithm: SIGN,
    notBefore: new Date(Date.now() - 3650 * DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { cert, keys, pem: cert.toString("pem") };
}

export async function makeAppleChain(options: ChainOptions = {}): Promise<TestAppleChain> {
  const root = options.root ?? (await makeRoot());
  const aia = options.ocspUrl ? [new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName("url", options.ocspUrl)] })] : [];
  const intermediateKeys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const intermediate = await x509.X509CertificateGenerator.create({
    subject: "CN=Test Apple Worldwide Developer Relations Certification Authority, OU=G6, O=Attesto Tests, C=US",
    issuer: root.cert.subject,
    publicKey: intermediateKeys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: SIGN,
    notBefore: new Date(Date.now() - 1000 * DAY),
    notAfter: new Date(Date.now() + 1000 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...(options.intermediateOid === false ? [] : [new x509.Extension(APPLE_INTERMEDIATE_OID, false, DER_NULL)]),
      ...aia,
    ],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    subject: "CN=Test Prod ECC Mac App Store and iTunes Store Receipt Signing, O=Attesto Tests, C=US",
    issuer: intermediate.subject,
    publicKey: leafKeys.publicKey,
    signingKey: intermediateKeys.privateKey,
    signingAlgorithm: SIGN,
    notBefore: options.leafNotBefore ?? new Date(Date.now() - 200 * DAY),
    notAfter: options.leafNotAfter ?? new Date(Date.now() + 200 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(options.leafOid === false ? [] : [new x509.Extension(APPLE_LEAF_OID, false, DER_NULL)]),
      ...aia,
    ],
  });
  const x5c = [leaf, intermediate, root.cert].map((c) => Buffer.from(c.rawData).toString("base64"));
  return {
    root,
    intermediate: { cert: intermediate, keys: intermediateKeys },
    leaf: { cert: leaf, keys: leafKeys },
    x5c,
    async sign(payload, header = {}) {
      const alg = header.alg ?? "ES256";
      const key = alg === "ES256" ? leafKeys.privateKey : new Uint8Array(32).fill(7);
      return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg, x5c: header.x5c ?? x5c }).sign(key);
    },
  };
}

/** Writes a root's PEM where the server's pinned-roots setting can name it. */
export async function writeRootPem(dir: string, root: TestRoot, name = "root.pem"): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, root.pem);
  return file;
}

/** A StoreKit 2 style transaction payload. */
export function transactionPayload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    transactionId: "2000000847061981",
    originalTransactionId: "2000000847061981",
    bundleId: "com.example.app",
    productId: "com.example.app.pro",
    purchaseDate: now - 60_000,
    originalPurchaseDate: now - 60_000,
    quantity: 1,
    type: "Consumable",
    inAppOwnershipType: "PURCHASED",
    signedDate: now,
    environment: "Sandbox",
    transactionReason: "PURCHASE",
    storefront: "USA",
    price: 990,
    currency: "USD",
    ...overrides,
  };
}
