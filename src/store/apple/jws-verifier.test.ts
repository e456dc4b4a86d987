import { X509Certificate } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { makeAppleChain, transactionPayload, type TestAppleChain } from "../../../test/support/apple-chain.js";
import { AppError } from "../../errors.js";
import { AppleJwsVerifier } from "./jws-verifier.js";
import { AppleJwsRejection } from "./rejection.js";

/**
 * Fuzzing the Apple JWS and x5c parser (fast-check): whatever the header,
 * the certificates, the payload or the signature, verify() resolves or
 * rejects with its documented errors (AppleJwsRejection for a JWS that does
 * not verify, AppError invalid_argument for one that is not a JWS), and in
 * time that grows with the input, not beyond.
 */
let chain: TestAppleChain;
let verifier: AppleJwsVerifier;
let genuine: string;
beforeAll(async () => {
  chain = await makeAppleChain();
  verifier = new AppleJwsVerifier({ pinnedRoots: [new X509Certificate(chain.root.pem)], chainCacheSize: 8 });
  genuine = await chain.sign(transactionPayload());
});

const b64url = (text: string | Uint8Array) => Buffer.from(text).toString("base64url");
const BOUND_MS = 250;

async function outcome(jws: string): Promise<string> {
  const at = performance.now();
  try {
    await verifier.verify(jws, {}, "signed_data");
    return "verified";
  } catch (err) {
    if (err instanceof AppleJwsRejection) return err.reason;
    if (err instanceof AppError && err.code === "invalid_argument" && err.details.field === "signed_data") return "invalid_argument";
    throw err;
  } finally {
    expect(performance.now() - at).toBeLessThan(BOUND_MS);
  }
}

describe("fuzzing the Apple JWS verifier", () => {
  it("any x5c, alg and payload: a rejection or invalid_argument, never another error", async () => {
    const [, genuinePayload, genuineSignature] = genuine.split(".") as [string, string, string];
    const cert = fc.oneof(
      fc.constantFrom(...chain.x5c),
      fc.constantFrom(...chain.x5c).chain((c) => fc.nat({ max: c.length }).map((n) => c.slice(0, n))),
      fc.constantFrom(...chain.x5c).chain((c) => fc.nat({ max: c.length - 1 }).map((n) => c.slice(0, n) + (c[n] === "A" ? "B" : "A") + c.slice(n + 1))),
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString("base64")),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const header = fc.record(
      {
        alg: fc.oneof(fc.constant("ES256"), fc.constantFrom("none", "HS256", "RS256", "es256"), fc.jsonValue({ maxDepth: 1 })),
        x5c: fc.oneof(fc.array(cert, { minLength: 3, maxLength: 3 }), fc.array(cert, { maxLength: 40 }), fc.jsonValue({ maxDepth: 3 })),
      },
      { requiredKeys: [] },
    );
    const part = fc.oneof(
      fc.constant(genuinePayload),
      fc.jsonValue({ maxDepth: 3 }).map((v) => b64url(JSON.stringify(v))),
      fc.string({ maxLength: 200 }).map(b64url),
      fc.string({ maxLength: 50 }),
    );
    const signature = fc.oneof(fc.constant(genuineSignature), fc.uint8Array({ maxLength: 128 }).map(b64url), fc.string({ maxLength: 20 }));
    await fc.assert(
      fc.asyncProperty(header, part, signature, async (h, payload, sig) => {
        expect(await outcome(`${b64url(JSON.stringify(h))}.${payload}.${sig}`)).not.toBe("verified");
      }),
      { numRuns: 300 },
    );
    expect(await outcome(genuine)).toBe("verified");
  });

  it("any text: invalid_argument or a rejection", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.array(fc.string({ maxLength: 60 }), { maxLength: 5 }).map((p) => p.join(".")),
        ),
        async (text) => {
          expect(["invalid_argument", "unsupported_algorithm", "chain_invalid", "signature_invalid"]).toContain(await outcome(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a header nested 1 M deep, or 1 MB of x5c entries (the body limit), is refused in time", async () => {
    const deep = b64url(`{"alg":"ES256","x5c":${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}}`);
    expect(await outcome(`${deep}.e30.AA`)).toBe("invalid_argument");
    const wide = b64url(JSON.stringify({ alg: "ES256", x5c: Array.from({ length: Math.ceil(1_000_000 / chain.x5c[0]!.length) }, () => chain.x5c[0]) }));
    expect(await outcome(`${wide}.e30.AA`)).toBe("chain_invalid");
  });
});
