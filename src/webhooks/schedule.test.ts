import { describe, expect, it } from "vitest";
import { decideNext, lastAttempt, parseRetryAfter, type AttemptResult } from "./schedule.js";

const SCHEDULE = [0, 30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000];
const NOW = Date.parse("2026-06-07T12:00:00Z");
const ok = (statusCode: number, headers: Record<string, string> = {}): AttemptResult => ({ ok: true, statusCode, headers });
const at = (number: number, extraAttempts = 0, finalAttempt: number | null = null) => ({ number, extraAttempts, finalAttempt });

describe("decideNext: what follows an attempt", () => {
  it.each([
    ["2xx succeeds", at(1), ok(204), { status: "succeeded", errorKind: "none", nextAt: null }],
    ["299 succeeds", at(3), ok(299), { status: "succeeded", errorKind: "none" }],
    ["410 fails for good and disables", at(1), ok(410), { status: "failed", reason: "gone", gone: true }],
    ["500 on attempt 1 waits 30 s", at(1), ok(500), { status: "pending", errorKind: "http_status", nextAt: new Date(NOW + 30_000) }],
    ["a timeout on attempt 2 waits 2 min", at(2), { ok: false, errorKind: "timeout" } as AttemptResult, { status: "pending", errorKind: "timeout", nextAt: new Date(NOW + 120_000) }],
    ["attempt 6 failing waits 24 h for the 7th", at(6), ok(502), { status: "pending", nextAt: new Date(NOW + 86_400_000) }],
    ["attempt 7 failing ends the schedule", at(7), ok(500), { status: "failed", reason: "attempts_exhausted", nextAt: null }],
    ["an interrupted attempt does not use up the schedule", at(3, 1), ok(500), { status: "pending", nextAt: new Date(NOW + 120_000) }],
    ["with one free interruption the 8th is the last", at(8, 1), ok(500), { status: "failed", reason: "attempts_exhausted" }],
    ["a redelivery's fixed last attempt", at(9, 0, 9), ok(500), { status: "failed", reason: "attempts_exhausted" }],
    ["a redelivery before its last attempt", at(8, 0, 9), ok(500), { status: "pending", nextAt: new Date(NOW + 86_400_000) }],
    ["an internal failure is retried", at(1), { ok: false, errorKind: "internal" } as AttemptResult, { status: "pending", errorKind: "internal" }],
  ])("%s", (_name, position, result, expected) => {
    expect(decideNext(position, result, SCHEDULE, 86_400_000, NOW)).toMatchObject(expected);
  });

  it("honours Retry-After on 429 and 503 up to the cap, never shortening the schedule", () => {
    expect(decideNext(at(1), ok(429, { "retry-after": "90" }), SCHEDULE, 3_600_000, NOW).nextAt).toEqual(new Date(NOW + 90_000));
    expect(decideNext(at(1), ok(503, { "retry-after": "5" }), SCHEDULE, 3_600_000, NOW).nextAt).toEqual(new Date(NOW + 30_000));
    expect(decideNext(at(1), ok(429, { "retry-after": "999999" }), SCHEDULE, 3_600_000, NOW).nextAt).toEqual(new Date(NOW + 3_600_000));
    // Only 429 and 503 are asked about.
    expect(decideNext(at(1), ok(500, { "retry-after": "90" }), SCHEDULE, 3_600_000, NOW).nextAt).toEqual(new Date(NOW + 30_000));
  });

  it("counts the last attempt from the schedule, the free interruptions and a fixed final attempt", () => {
    expect(lastAttempt(at(1), SCHEDULE)).toBe(7);
    expect(lastAttempt(at(1, 2), SCHEDULE)).toBe(9);
    expect(lastAttempt(at(1, 2, 4), SCHEDULE)).toBe(4);
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120_000],
    [" 7 ", 7_000],
    ["0", 0],
    ["Sun, 07 Jun 2026 12:01:30 GMT", 90_000],
    ["Sun, 07 Jun 2026 11:59:00 GMT", 0],
    [["15", "30"], 15_000],
  ] as const)("reads %j", (value, ms) => {
    expect(parseRetryAfter(value as string | string[], NOW)).toBe(ms);
  });

  it.each([undefined, "", "soon", "-5", "1.5"])("ignores %j", (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});
