import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { databaseOutage } from "./errors.js";

/** An error shaped as postgres.js reports a server error: the SQLSTATE in `code`. */
const pgError = (code: string) => Object.assign(new Error("server said no"), { code });

describe("databaseOutage", () => {
  it("answers UNAVAILABLE with a retry time for a database that is there but cannot serve now, a standby's read-only refusal included", () => {
    for (const [state, message] of [
      ["57P01", /unavailable/],
      ["08006", /unavailable/],
      ["53300", /no free connections/],
      ["40001", /unavailable/],
      ["25006", /read-only here \(a failover is under way\)/],
    ] as const) {
      const err = databaseOutage(pgError(state));
      expect(err, state).toBeInstanceOf(AppError);
      expect(err!.code).toBe("unavailable");
      expect(err!.details).toMatchObject({ reason: "DATABASE_UNAVAILABLE", retryAfterSeconds: expect.any(Number) });
      expect(err!.message).toMatch(message);
    }
  });

  it("leaves the caller's errors and the database's refusals of a value alone", () => {
    for (const state of ["23505", "22P02", "42P01", "25P02"]) expect(databaseOutage(pgError(state)), state).toBeUndefined();
    expect(databaseOutage(new AppError("not_found", "x"))).toBeUndefined();
  });
});
