import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { withDeadline } from "./outages.js";

describe("the request deadline", () => {
  it("answers UNAVAILABLE DEADLINE_EXCEEDED saying the work may have taken effect and how a retry finds out", async () => {
    const never = new Promise<never>(() => {});
    const err = await withDeadline(5, () => never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    const { code, message, details } = err as AppError;
    expect(code).toBe("unavailable");
    expect(details).toMatchObject({ reason: "DEADLINE_EXCEEDED", retryAfterSeconds: 1 });
    expect(message).toContain("within 5 ms");
    expect(message).toContain("may have committed");
    expect(message).toContain("same source_ref");
    expect(message).toContain("request_id");
  });

  it("passes the work's own answer through, and 0 means no deadline", async () => {
    await expect(withDeadline(1_000, async () => 7)).resolves.toBe(7);
    await expect(withDeadline(0, () => new Promise((resolve) => setTimeout(() => resolve("late"), 20)))).resolves.toBe("late");
  });
});
