import { Writable } from "node:stream";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, it } from "vitest";
import { createLogger, safeError, wantsPrettyLogs } from "./logger.js";

function capture() {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  return { logger: createLogger("info", sink as never), lines };
}

/** A database error as postgres.js throws it, wrapped by Drizzle with the statement and its parameters. */
function failedQuery(param: string) {
  const pgError = Object.assign(new Error('duplicate key value violates unique constraint "events_source_ref"'), {
    name: "PostgresError",
    code: "23505",
    severity: "ERROR",
    detail: `Key (source_ref)=(${param}) already exists.`,
    constraint_name: "events_source_ref",
  });
  return new DrizzleQueryError("INSERT INTO events VALUES ($1)", [param], pgError);
}

describe("errors in logs", () => {
  it("a database error keeps its SQLSTATE, message and constraint, never the statement, parameters or detail", () => {
    const secret = "payload-bytes-and-key-hash-5f3a";
    const { logger, lines } = capture();
    logger.error({ err: failedQuery(secret) }, "rpc failed");
    logger.warn({ err: failedQuery(secret).message }, "as a message string");
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain(secret);
    expect(JSON.parse(lines[0]!).err).toEqual({
      type: "PostgresError",
      message: 'duplicate key value violates unique constraint "events_source_ref"',
      code: "23505",
      constraint: "events_source_ref",
      severity: "ERROR",
    });
    expect(JSON.parse(lines[1]!).err).toMatch(/withheld/);
  });

  it("other errors keep type, message, code, stack and cause", () => {
    const err = Object.assign(new Error("outer", { cause: new Error("inner") }), { code: "ECONNREFUSED" });
    const safe = safeError(err) as Record<string, unknown>;
    expect(safe).toMatchObject({ type: "Error", message: "outer", code: "ECONNREFUSED", cause: { message: "inner" } });
    expect(String(safe.stack)).toContain("logger.test.ts");
  });
});

describe("wantsPrettyLogs", () => {
  it("is pretty on a terminal in development, JSON in production or into a pipe", () => {
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: undefined })).toBe(true);
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: "development" })).toBe(true);
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: "production" })).toBe(false);
    expect(wantsPrettyLogs("auto", { isTty: false, nodeEnv: undefined })).toBe(false);
  });

  it("does what ATTESTO_LOG_FORMAT says when it is not auto", () => {
    expect(wantsPrettyLogs("json", { isTty: true, nodeEnv: undefined })).toBe(false);
    expect(wantsPrettyLogs("pretty", { isTty: false, nodeEnv: "production" })).toBe(true);
  });
});
