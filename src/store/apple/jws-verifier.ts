import { type KeyObject, type X509Certificate } from "node:crypto";
import { compactVerify, errors as joseErrors } from "jose";
import { LRUCache } from "lru-cache";
import { invalidArgument } from "../../errors.js";
import { parseJsonObject } from "../../json.js";
import { APPLE_INTERMEDIATE_OID, APPLE_LEAF_OID, hasExtension, parseCertificate, type ChainCertificate } from "./certificates.js";
import type { OcspChecker } from "./ocsp.js";
import { AppleJwsRejection, type AppleRejectionReason } from "./rejection.js";

/** Apple's names of the environments a signed payload can come from. */
export type AppleEnvironmentName = "Production" | "Sandbox" | "Xcode" | "LocalTesting";

export interface AppleJwsVerifierSettings {
  /** Trust anchors: the third certificate of every chain must be signed by one of them. */
  pinnedRoots: X509Certificate[];
  /** Set when online revocation checks are on: validity is then judged at now, and by OCSP. */
  ocsp?: OcspChecker;
  /** Distinct chains kept parsed and checked. */
  chainCacheSize?: number;
}

/** What the caller knows to expect; unset fields are not checked. */
export interface AppleExpectation {
  bundleId?: string;
  /** The environment, or the environments one of which, the payload must come from. */
  environment?: AppleEnvironmentName | readonly AppleEnvironmentName[];
}

/** Environments whose data Xcode or local StoreKit testing signs with its own certificate, never Apple's chain. */
const LOCALLY_SIGNED = new Set(["Xcode", "LocalTesting"]);

export interface VerifiedAppleJws {
  /** The decoded payload, Apple's field names. */
  payload: Record<string, unknown>;
  /** The payload's signedDate, or now when it has none. */
  signedAt: Date;
  bundleId: string | undefined;
  environment: string | undefined;
}

/** A chain that passed every time-independent check, reduced to what a verify needs. */
interface CheckedChain {
  ok: true;
  leafKey: KeyObject;
  /** Latest notBefore and earliest notAfter of the three certificates, in ms. */
  validFrom: number;
  validTo: number;
  leaf: ChainCertificate;
  intermediate: ChainCertificate;
}

type ChainVerdict = CheckedChain | { ok: false; rejection: AppleJwsRejection };

/**
 * Verifies every Apple-signed JWS (StoreKit 2 transactions and renewal
 * info, App Store Server Notifications, App Store Server API answers): an
 * x5c chain of exactly three certificates, each signed by the next, the
 * last by a pinned root, Apple's marker OIDs on the leaf and the
 * intermediate, an ES256 signature by the leaf, and the certificates valid
 * at the payload's signedDate (offline) or now with OCSP (online).
 *
 * The verdict on a chain is cached by the protected header's text (it holds
 * alg and the x5c bytes and nothing else Apple varies), so a seen chain
 * costs one ECDSA verify and no certificate parsing.
 */
export class AppleJwsVerifier {
  private readonly chains: LRUCache<string, ChainVerdict>;

  constructor(private readonly settings: AppleJwsVerifierSettings) {
    if (settings.pinnedRoots.length === 0) throw new Error("the Apple JWS verifier needs at least one pinned root");
    this.chains = new LRUCache({ max: settings.chainCacheSize ?? 256 });
  }

  get onlineChecks(): boolean {
    return this.settings.ocsp !== undefined;
  }

  /**
   * Verifies `jws` (the contract field `field` names it in errors). Throws
   * AppleJwsRejection when it does not verify, AppError invalid_argument
   * when it is not a JWS at all, AppError unavailable when an OCSP
   * responder cannot be reached (online checks only).
   */
  async verify(jws: string, expect: AppleExpectation = {}, field = "signed_data"): Promise<VerifiedAppleJws> {
    const parts = jws.split(".");
    if (parts.length !== 3 || parts.some((p) => p.length === 0 || !/^[A-Za-z0-9_-]+$/.test(p))) {
      throw invalidArgument(field, "must be a compact JWS (three base64url parts)");
    }
    const headerText = parts[0]!;
    let chain = this.chains.get(headerText);
    if (!chain) {
      chain = this.checkChain(headerText, field);
      this.chains.set(headerText, chain);
    }
    if (!chain.ok) throw locallySigned(parts[1]!) ?? chain.rejection;

    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(jws, chain.leafKey, { algorithms: ["ES256"] }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw new AppleJwsRejection("signature_invalid", "the signature does not verify with the leaf certificate");
      throw err;
    }
    const payload = parseJsonObject(payloadBytes, field, "the JWS payload");

    const signedDate = typeof payload.signedDate === "number" && Number.isFinite(payload.signedDate) ? payload.signedDate : undefined;
    // Offline, a certificate only has to have been valid when Apple signed:
    // old notifications keep verifying after their leaf expires. Online, the
    // chain must be valid now and not revoked.
    const at = this.onlineChecks || signedDate === undefined ? Date.now() : signedDate;
    if (at < chain.validFrom || at > chain.validTo) {
      throw new AppleJwsRejection("certificate_expired", `a certificate of the chain is not valid at ${new Date(at).toISOString()}`);
    }
    if (this.settings.ocsp) {
      await this.settings.ocsp.assertGood(chain.intermediate, this.rootOf(chain.intermediate));
      await this.settings.ocsp.assertGood(chain.leaf, chain.intermediate);
    }

    const bundleId = stringField(payload, "bundleId");
    const environment = stringField(payload, "environment");
    if (expect.bundleId !== undefined && bundleId !== undefined && bundleId !== expect.bundleId) {
      throw new AppleJwsRejection("app_mismatch", "the payload belongs to another bundle id");
    }
    if (environment !== undefined && LOCALLY_SIGNED.has(environment)) throw notAppleSigned(environment);
    const accepted = typeof expect.environment === "string" ? [expect.environment] : expect.environment;
    if (accepted !== undefined && !accepted.includes(environment as AppleEnvironmentName)) {
      throw new AppleJwsRejection("environment_mismatch", `the payload is from ${environment ?? "no"} environment, ${accepted.join(" or ")} expected`);
    }
    return { payload, signedAt: new Date(signedDate ?? at), bundleId, environment };
  }

  /** The checks that do not depend on time or payload; their verdict is cached. */
  private checkChain(headerText: string, field: string): ChainVerdict {
    const header = parseJsonObject(Buffer.from(headerText, "base64url"), field, "the JWS header");
    const reject = (reason: AppleRejectionReason, message: string): ChainVerdict => ({ ok: false, rejection: new AppleJwsRejection(reason, message) });
    if (header.alg !== "ES256") return reject("unsupported_algorithm", "alg must be ES256");
    const x5c = header.x5c;
    if (!Array.isArray(x5c) || x5c.length !== 3 || !x5c.every((c) => typeof c === "string")) {
      return reject("chain_invalid", "x5c must hold exactly three certificates");
    }
    let certs: ChainCertificate[];
    try {
      certs = (x5c as string[]).map((c) => parseCertificate(Buffer.from(c, "base64")));
    } catch {
      return reject("chain_invalid", "x5c holds a certificate that does not parse");
    }
    const [leaf, intermediate, top] = certs as [ChainCertificate, ChainCertificate, ChainCertificate];
    if (!signedBy(leaf.x509, intermediate.x509) || !signedBy(intermediate.x509, top.x509)) {
      return reject("chain_invalid", "each certificate must be signed by the next");
    }
    if (!this.settings.pinnedRoots.some((root) => signedBy(top.x509, root))) {
      return reject("chain_invalid", "the chain does not end at a pinned root");
    }
    if (!intermediate.x509.ca) return reject("chain_invalid", "the intermediate is not a CA certificate");
    if (!hasExtension(leaf, APPLE_LEAF_OID)) return reject("chain_invalid", "the leaf lacks Apple's receipt-signing extension");
    if (!hasExtension(intermediate, APPLE_INTERMEDIATE_OID)) return reject("chain_invalid", "the intermediate lacks Apple's WWDR extension");
    const leafKey = leaf.x509.publicKey;
    if (leafKey.asymmetricKeyType !== "ec" || leafKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      return reject("chain_invalid", "the leaf key is not an EC P-256 key");
    }
    const validFrom = Math.max(...certs.map((c) => Date.parse(c.x509.validFrom)));
    const validTo = Math.min(...certs.map((c) => Date.parse(c.x509.validTo)));
    return { ok: true, leafKey, validFrom, validTo, leaf, intermediate };
  }

  /** The pinned root that issued a chain's intermediate (the chain's third certificate is a copy of it or signed by it). */
  private rootOf(intermediate: ChainCertificate): ChainCertificate {
    const root = this.settings.pinnedRoots.find((r) => signedBy(intermediate.x509, r));
    if (!root) throw new AppleJwsRejection("chain_invalid", "the intermediate is not issued by a pinned root");
    return parseCertificate(Buffer.from(root.raw));
  }
}

/**
 * A payload whose chain failed and which says it comes from Xcode or local
 * StoreKit testing: the reason is that it is not Apple-signed at all (Xcode
 * signs with its own certificate), not a broken chain. The payload is only
 * read, never trusted, to choose the message.
 */
function locallySigned(payloadText: string): AppleJwsRejection | undefined {
  let environment: unknown;
  try {
    environment = stringField(JSON.parse(Buffer.from(payloadText, "base64url").toString("utf8")) as Record<string, unknown>, "environment");
  } catch {
    return undefined;
  }
  return typeof environment === "string" && LOCALLY_SIGNED.has(environment) ? notAppleSigned(environment) : undefined;
}

const notAppleSigned = (environment: string) =>
  new AppleJwsRejection(
    "not_apple_signed",
    `the payload is from the ${environment} environment (StoreKit testing), signed by Xcode's local certificate, not by Apple: verify it on the device, not here`,
  );

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** A string field of the payload, also where notifications nest it (data, summary, externalPurchaseToken). */
function stringField(payload: Record<string, unknown>, name: string): string | undefined {
  for (const holder of [payload, payload.data, payload.summary, payload.externalPurchaseToken]) {
    if (holder && typeof holder === "object" && typeof (holder as Record<string, unknown>)[name] === "string") {
      return (holder as Record<string, string>)[name];
    }
  }
  return undefined;
}
