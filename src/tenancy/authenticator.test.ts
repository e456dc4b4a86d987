import { describe, expect, it } from "vitest";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import { createLogger } from "../logger.js";
import { Authenticator } from "./authenticator.js";

/** A database that fails the test if it is used: these paths must decide from the header alone. */
const noDatabase = new Proxy({} as Db, {
  get(_target, property) {
    throw new Error(`the database was used (${String(property)})`);
  },
});

const authenticator = (adminToken: string | undefined) => new Authenticator(noDatabase, { adminToken, cacheMs: 1_000, logger: createLogger("silent") });

async function failure(promise: Promise<unknown>): Promise<{ code: string; reason?: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return { code: err.code, reason: err.details.reason };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("Authenticator, without a database", () => {
  it("reads a Bearer token, whatever the scheme's case and surrounding space, and refuses anything else", () => {
    expect(Authenticator.bearerToken("Bearer abc")).toBe("abc");
    expect(Authenticator.bearerToken("bearer   abc  ")).toBe("abc");
    for (const header of [undefined, null, "", "Bearer", "Bearer a b", "Basic abc", "Token abc"]) {
      expect(() => Authenticator.bearerToken(header), String(header)).toThrow(expect.objectContaining({ code: "unauthenticated", details: { reason: "CREDENTIALS_MISSING" } }));
    }
  });

  it("knows the operator token, and no token at all when none is configured", async () => {
    const withToken = authenticator("operator-secret");
    expect(withToken.isOperatorToken("operator-secret")).toBe(true);
    expect(withToken.isOperatorToken("operator-secre")).toBe(false);
    expect(withToken.isOperatorToken("operator-secretX")).toBe(false);
    expect(await withToken.authenticate("Bearer operator-secret")).toEqual({ kind: "operator" });
    await expect(withToken.requireOperator("Bearer operator-secret")).resolves.toBeUndefined();
    expect(authenticator(undefined).isOperatorToken("")).toBe(false);
  });

  it("refuses a token that is not a key shape without a lookup", async () => {
    const auth = authenticator("operator-secret");
    expect(await failure(auth.authenticate("Bearer atk_short"))).toEqual({ code: "unauthenticated", reason: undefined });
    expect(await failure(auth.requireTenant("Bearer operator-secret"))).toEqual({ code: "permission_denied", reason: undefined });
    expect(await failure(auth.requireOperator("Bearer not-the-token"))).toEqual({ code: "unauthenticated", reason: "OPERATOR_TOKEN_INVALID" });
  });

  it("says operator calls are disabled when no operator token is configured", async () => {
    expect(await failure(authenticator(undefined).requireOperator("Bearer anything"))).toEqual({ code: "permission_denied", reason: "OPERATOR_DISABLED" });
  });
});
