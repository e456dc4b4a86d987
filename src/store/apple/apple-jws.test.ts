import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { loadPinnedRoots } from "./certificates.js";
import { OcspChecker } from "./ocsp.js";
import { AppleJwsVerifier } from "./jws-verifier.js";
import { AppleJwsRejection, type AppleRejectionReason } from "./rejection.js";
import { projectRoot } from "../../paths.js";
import { FakeOcspResponder } from "../../../test/support/ocsp-responder.js";
import { makeAppleChain, makeRoot, transactionPayload, type TestAppleChain } from "../../../test/support/apple-chain.js";

const DAY = 86_400_000;

async function rejectionOf(promise: Promise<unknown>): Promise<AppleRejectionReason | "verified"> {
  try {
    await promise;
    return "verified";
  } catch (err) {
    if (err instanceof AppleJwsRejection) return err.reason;
    throw err;
  }
}

describe("Apple JWS verifier (local chain)", () => {
  let chain: TestAppleChain;
  let verifier: AppleJwsVerifier;

  beforeAll(async () => {
    chain = await makeAppleChain();
    verifier = new AppleJwsVerifier({ pinnedRoots: [new X509Certificate(chain.root.pem)] });
  });

  it("verifies a transaction signed by a pinned chain and returns the payload", async () => {
    const payload = transactionPayload();
    const verified = await verifier.verify(await chain.sign(payload), { bundleId: "com.example.app", environment: "Sandbox" });
    expect(verified.payload).toEqual(payload);
    expect(verified.signedAt.getTime()).toBe(payload.signedDate);
    expect(verified.bundleId).toBe("com.example.app");
    expect(verified.environment).toBe("Sandbox");
  });

  it("finds bundle id and environment inside a notification's data", async () => {
    const jws = await chain.sign({ notificationType: "TEST", notificationUUID: "u-1", data: { bundleId: "com.example.app", environment: "Production" }, signedDate: Date.now() });
    const verified = await verifier.verify(jws, { bundleId: "com.example.app", environment: "Production" });
    expect(verified.environment).toBe("Production");
    expect(await rejectionOf(verifier.verify(jws, { bundleId: "com.other.app" }))).toBe("app_mismatch");
  });

  it("rejects a leaf without Apple's OID", async () => {
    const bad = await makeAppleChain({ root: chain.root, leafOid: false });
    expect(await rejectionOf(verifier.verify(await bad.sign(transactionPayload())))).toBe("chain_invalid");
  });

  it("rejects an intermediate without Apple's OID", async () => {
    const bad = await makeAppleChain({ root: chain.root, intermediateOid: false });
    expect(await rejectionOf(verifier.verify(await bad.sign(transactionPayload())))).toBe("chain_invalid");
  });

  it("rejects a two-certificate chain", async () => {
    const jws = await chain.sign(transactionPayload(), { x5c: chain.x5c.slice(0, 2) });
    expect(await rejectionOf(verifier.verify(jws))).toBe("chain_invalid");
  });

  it("rejects a chain under a root that is not pinned", async () => {
    const foreign = await makeAppleChain();
    expect(await rejectionOf(verifier.verify(await foreign.sign(transactionPayload())))).toBe("chain_invalid");
  });

  it("rejects a chain whose last certificate claims the pinned root's name but another key", async () => {
    const impostorRoot = await makeRoot("Test Apple Root CA - G3");
    const impostor = await makeAppleChain({ root: impostorRoot });
    expect(await rejectionOf(verifier.verify(await impostor.sign(transactionPayload())))).toBe("chain_invalid");
  });

  it("rejects a signature by another key under a valid chain", async () => {
    const other = await makeAppleChain({ root: chain.root });
    // Signed by other's leaf key, but presenting chain's certificates.
    const jws = await other.sign(transactionPayload(), { x5c: chain.x5c });
    expect(await rejectionOf(verifier.verify(jws))).toBe("signature_invalid");
  });

  it("rejects a payload tampered by one byte", async () => {
    const jws = await chain.sign(transactionPayload());
    const [h, p, s] = jws.split(".") as [string, string, string];
    const bytes = Buffer.from(p, "base64url");
    const at = bytes.indexOf("2000000847061981") + 3;
    bytes[at] = bytes[at]! ^ 1;
    expect(await rejectionOf(verifier.verify(`${h}.${bytes.toString("base64url")}.${s}`))).toBe("signature_invalid");
  });

  it("rejects a leaf that had expired at signedDate, and accepts one valid then", async () => {
    const old = await makeAppleChain({ root: chain.root, leafNotBefore: new Date(Date.now() - 400 * DAY), leafNotAfter: new Date(Date.now() - 100 * DAY) });
    expect(await rejectionOf(verifier.verify(await old.sign(transactionPayload({ signedDate: Date.now() - 50 * DAY }))))).toBe("certificate_expired");
    const verified = await verifier.verify(await old.sign(transactionPayload({ signedDate: Date.now() - 200 * DAY })));
    expect(verified.signedAt.getTime()).toBeLessThan(Date.now() - 199 * DAY);
  });

  it("rejects the wrong bundle id and the wrong environment", async () => {
    const jws = await chain.sign(transactionPayload());
    expect(await rejectionOf(verifier.verify(jws, { bundleId: "com.other.app" }))).toBe("app_mismatch");
    expect(await rejectionOf(verifier.verify(jws, { environment: "Production" }))).toBe("environment_mismatch");
  });

  it("rejects an alg other than ES256", async () => {
    const jws = await chain.sign(transactionPayload(), { alg: "HS256" });
    expect(await rejectionOf(verifier.verify(jws))).toBe("unsupported_algorithm");
  });

  it("answers a string that is not a JWS with invalid_argument naming the field", async () => {
    for (const junk of ["", "abc", "a.b", "a.b.c.d", "%%%.b.c", `${Buffer.from("[1]").toString("base64url")}.YQ.YQ`]) {
      const err = await verifier.verify(junk, {}, "signed_payload").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("invalid_argument");
      expect((err as AppError).details.field).toBe("signed_payload");
    }
  });

  it("keeps the verdict on a chain: a seen chain verifies without parsing certificates", async () => {
    const jws = await chain.sign(transactionPayload());
    await verifier.verify(jws);
    const rounds = 200;
    const started = process.cpuUsage();
    for (let i = 0; i < rounds; i++) await verifier.verify(jws);
    const used = process.cpuUsage(started);
    const cpuMsPerVerify = (used.user + used.system) / 1000 / rounds;
    // The bound: a verify of an already-seen chain stays under 1 ms of CPU.
    expect(cpuMsPerVerify).toBeLessThan(1);
  });
});

describe("Apple JWS verifier (genuine Apple data)", () => {
  const fixture = readFileSync(path.join(projectRoot(), "test/fixtures/apple/sandbox-transaction.jws"), "utf8").trim();
  const pinnedRoots = loadPinnedRoots([path.join(projectRoot(), "certs/apple/AppleRootCA-G3.pem")]);

  it("chains to the shipped Apple Root CA G3 and verifies offline at its signedDate", async () => {
    const verifier = new AppleJwsVerifier({ pinnedRoots });
    const verified = await verifier.verify(fixture, { bundleId: "com.goodheartapp", environment: "Sandbox" });
    expect(verified.payload.transactionId).toBe("2000000847061981");
    expect(verified.signedAt.toISOString()).toBe("2025-02-10T04:29:32.561Z");
    // The leaf is long expired today: only the signedDate rule lets it verify.
    const leaf = new X509Certificate(Buffer.from((JSON.parse(Buffer.from(fixture.split(".")[0]!, "base64url").toString()) as { x5c: string[] }).x5c[0]!, "base64"));
    expect(Date.parse(leaf.validTo)).toBeLessThan(Date.now());
  });

  it("does not verify against a root that is not Apple's", async () => {
    const verifier = new AppleJwsVerifier({ pinnedRoots: [new X509Certificate((await makeRoot()).pem)] });
    expect(await rejectionOf(verifier.verify(fixture))).toBe("chain_invalid");
  });

  it("is answered as another app's and another environment's when those are expected", async () => {
    const verifier = new AppleJwsVerifier({ pinnedRoots });
    expect(await rejectionOf(verifier.verify(fixture, { bundleId: "com.example.app" }))).toBe("app_mismatch");
    expect(await rejectionOf(verifier.verify(fixture, { environment: "Production" }))).toBe("environment_mismatch");
  });
});

describe("Apple JWS verifier (online checks: OCSP at now)", () => {
  let responder: FakeOcspResponder;
  let chain: TestAppleChain;

  beforeAll(async () => {
    responder = await new FakeOcspResponder().start();
    chain = await makeAppleChain({ ocspUrl: responder.url });
    responder.addIssuer(chain.root.cert, chain.root.keys.privateKey);
    responder.addIssuer(chain.intermediate.cert, chain.intermediate.keys.privateKey);
    return () => responder.close();
  });

  const onlineVerifier = () => new AppleJwsVerifier({ pinnedRoots: [new X509Certificate(chain.root.pem)], ocsp: new OcspChecker({ timeoutMs: 2000 }) });

  it("verifies when the responder says good, and caches the answer until nextUpdate", async () => {
    const verifier = onlineVerifier();
    const before = responder.requests;
    await verifier.verify(await chain.sign(transactionPayload()));
    expect(responder.requests - before).toBe(2); // leaf and intermediate
    await verifier.verify(await chain.sign(transactionPayload({ transactionId: "2" })));
    expect(responder.requests - before).toBe(2);
  });

  it("judges validity at now, not at signedDate", async () => {
    const old = await makeAppleChain({ root: chain.root, ocspUrl: responder.url, leafNotBefore: new Date(Date.now() - 400 * DAY), leafNotAfter: new Date(Date.now() - 100 * DAY) });
    const jws = await old.sign(transactionPayload({ signedDate: Date.now() - 200 * DAY }));
    expect(await rejectionOf(onlineVerifier().verify(jws))).toBe("certificate_expired");
    expect(await rejectionOf(new AppleJwsVerifier({ pinnedRoots: [new X509Certificate(chain.root.pem)] }).verify(jws))).toBe("verified");
  });

  it("rejects a revoked leaf", async () => {
    const revoked = await makeAppleChain({ root: chain.root, ocspUrl: responder.url });
    responder.addIssuer(revoked.intermediate.cert, revoked.intermediate.keys.privateKey);
    responder.setStatus(revoked.leaf.cert, "revoked");
    expect(await rejectionOf(onlineVerifier().verify(await revoked.sign(transactionPayload())))).toBe("certificate_revoked");
  });

  it("answers UNAVAILABLE (retryable), never a pass, when the responder fails", async () => {
    const unlucky = await makeAppleChain({ root: chain.root, ocspUrl: responder.url });
    responder.addIssuer(unlucky.intermediate.cert, unlucky.intermediate.keys.privateKey);
    responder.setStatus(unlucky.leaf.cert, "down");
    const err = await onlineVerifier()
      .verify(await unlucky.sign(transactionPayload()))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("unavailable");
    expect((err as AppError).details.retryAfterSeconds).toBeGreaterThan(0);
  });

  it("answers UNAVAILABLE when the responder cannot be reached at all", async () => {
    const unreachable = await makeAppleChain({ root: chain.root, ocspUrl: "http://127.0.0.1:1/ocsp" });
    const err = await onlineVerifier()
      .verify(await unreachable.sign(transactionPayload()))
      .catch((e: unknown) => e);
    expect((err as AppError).code).toBe("unavailable");
  });
});
