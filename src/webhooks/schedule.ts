import type { AttemptErrorKind } from "./schema.js";

/** What an attempt came to, as far as the schedule cares. */
export type AttemptResult =
  { ok: true; statusCode: number; headers: Record<string, string | string[] | undefined> } | { ok: false; errorKind: Exclude<AttemptErrorKind, "none" | "http_status" | "interrupted"> };

export interface AttemptPosition {
  /** This attempt's number, 1-based. */
  number: number;
  /** Interrupted attempts that did not use up the schedule. */
  extraAttempts: number;
  /** The last attempt's number when a redelivery fixed it; else the schedule's length plus extraAttempts. */
  finalAttempt: number | null;
}

export interface Decision {
  errorKind: AttemptErrorKind;
  status: "succeeded" | "failed" | "pending";
  /** Why a delivery failed for good: `gone` (410) or `attempts_exhausted`. */
  reason: "gone" | "attempts_exhausted" | null;
  nextAt: Date | null;
  /** 410 Gone: the subscription is disabled. */
  gone: boolean;
}

/** The number of the last attempt a delivery may make. */
export const lastAttempt = (position: AttemptPosition, schedule: readonly number[]) => position.finalAttempt ?? schedule.length + position.extraAttempts;

/**
 * What follows an attempt: success on 2xx; failed for good on 410 or when
 * the schedule is used up; else the next attempt after the schedule's
 * delay, or later when a 429/503 asks so with Retry-After (up to
 * `retryAfterMaxMs`).
 */
export function decideNext(position: AttemptPosition, result: AttemptResult, schedule: readonly number[], retryAfterMaxMs: number, now = Date.now()): Decision {
  const statusCode = result.ok ? result.statusCode : 0;
  const errorKind: AttemptErrorKind = !result.ok ? result.errorKind : statusCode >= 200 && statusCode < 300 ? "none" : "http_status";
  if (errorKind === "none") return { errorKind, status: "succeeded", reason: null, nextAt: null, gone: false };
  if (statusCode === 410) return { errorKind, status: "failed", reason: "gone", nextAt: null, gone: true };
  if (position.number >= lastAttempt(position, schedule)) return { errorKind, status: "failed", reason: "attempts_exhausted", nextAt: null, gone: false };
  // The next attempt's place in the schedule: interrupted attempts do not count.
  const step = Math.min(Math.max(position.number - position.extraAttempts, 0), schedule.length - 1);
  let delay = schedule[step] ?? 0;
  if (result.ok && (statusCode === 429 || statusCode === 503)) {
    const retryAfter = parseRetryAfter(result.headers["retry-after"], now);
    if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, retryAfterMaxMs));
  }
  return { errorKind, status: "pending", reason: null, nextAt: new Date(now + delay), gone: false };
}

/**
 * An HTTP-date (RFC 9110 5.6.7) starts with a day name in all three of its
 * forms; without this check Date.parse would take "-5" or "1.5" as dates.
 */
const HTTP_DATE = /^\s*(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /;

/** Retry-After as ms: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  if (!HTTP_DATE.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
