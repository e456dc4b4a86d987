import { describe, expect, it } from "vitest";
import { APPLE_HISTORY_MS, GOOGLE_VOIDED_MS, reconcileWindow } from "./reconcile-window.js";

const now = new Date("2026-12-06T12:00:00Z");
const opts = { firstWindowMs: 86_400_000, overlapMs: 300_000, limitMs: APPLE_HISTORY_MS };
const ms = (d: Date) => d.getTime();

describe("reconcileWindow", () => {
  it("starts at the cursor less the overlap, ends now", () => {
    const cursor = new Date(ms(now) - 3_600_000);
    expect(reconcileWindow(now, { cursor, newestStored: new Date(ms(now) - 60_000) }, opts)).toEqual({ start: new Date(ms(cursor) - 300_000), end: now });
  });

  it("without a cursor: from the newest stored notification, else the first window", () => {
    const newest = new Date(ms(now) - 7_200_000);
    expect(ms(reconcileWindow(now, { newestStored: newest }, opts).start)).toBe(ms(newest) - 300_000);
    expect(ms(reconcileWindow(now, {}, opts).start)).toBe(ms(now) - 86_400_000 - 300_000);
  });

  it("never reaches past what the store keeps (Apple 180 days, Google 30), with a margin", () => {
    const ancient = new Date(ms(now) - 400 * 86_400_000);
    expect(ms(reconcileWindow(now, { cursor: ancient }, opts).start)).toBe(ms(now) - APPLE_HISTORY_MS + 3_600_000);
    expect(ms(reconcileWindow(now, { cursor: ancient }, { ...opts, limitMs: GOOGLE_VOIDED_MS }).start)).toBe(ms(now) - GOOGLE_VOIDED_MS + 3_600_000);
  });

  it("a cursor in the future (a clock step back) still gives a window that ends now and does not start after it", () => {
    const w = reconcileWindow(now, { cursor: new Date(ms(now) + 3_600_000) }, opts);
    expect(ms(w.start)).toBeLessThanOrEqual(ms(w.end));
  });
});
