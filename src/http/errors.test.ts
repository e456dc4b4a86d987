import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError, invalidArgument } from "../errors.js";
import { errorResponse, httpErrorBody, httpStatusOf } from "./errors.js";

describe("the plain HTTP error mapping", () => {
  it("gives each error code its HTTP status", () => {
    expect(httpStatusOf("invalid_argument")).toBe(400);
    expect(httpStatusOf("unauthenticated")).toBe(401);
    expect(httpStatusOf("permission_denied")).toBe(403);
    expect(httpStatusOf("not_found")).toBe(404);
    expect(httpStatusOf("already_exists")).toBe(409);
    expect(httpStatusOf("replay_conflict")).toBe(409);
    expect(httpStatusOf("failed_precondition")).toBe(412);
    expect(httpStatusOf("payload_too_large")).toBe(413);
    expect(httpStatusOf("resource_exhausted")).toBe(429);
    expect(httpStatusOf("internal")).toBe(500);
    expect(httpStatusOf("unimplemented")).toBe(501);
    expect(httpStatusOf("unavailable")).toBe(503);
  });

  it("renders the field, the reason and the retry time only when there is one", () => {
    expect(httpErrorBody(invalidArgument("page_size", "must be a whole number"))).toEqual({
      error: { code: "invalid_argument", message: "page_size: must be a whole number", field: "page_size", reason: "FIELD_INVALID" },
    });
    const bare = httpErrorBody(new AppError("internal", "internal error")).error;
    expect(Object.keys(bare)).not.toContain("field");
    expect(Object.keys(bare)).not.toContain("retry_after_seconds");
    expect(httpErrorBody(new AppError("unavailable", "down", { retryAfterSeconds: 3 })).error.retry_after_seconds).toBe(3);
  });

  it("answers with the status, the body and Retry-After when the error has a retry time", async () => {
    const app = new Hono();
    app.get("/later", (c) => errorResponse(c, new AppError("unavailable", "database unavailable", { retryAfterSeconds: 2 })));
    app.get("/never", (c) => errorResponse(c, new AppError("not_found", "gone")));
    const later = await app.request("/later");
    expect([later.status, later.headers.get("retry-after")]).toEqual([503, "2"]);
    const never = await app.request("/never");
    expect([never.status, never.headers.get("retry-after")]).toEqual([404, null]);
    expect(((await never.json()) as { error: { message: string } }).error.message).toBe("gone");
  });
});
