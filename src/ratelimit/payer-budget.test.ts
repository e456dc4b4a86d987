import { describe, expect, it } from "vitest";
import { leaseChunk, PayerBudget, type LeaseRequest } from "./payer-budget.js";

/** The lease script's arithmetic (module.ts LEASE_SCRIPT), one counter per window. */
class SharedCounter {
  readonly counts = new Map<number, number>();
  answer(request: LeaseRequest, points: number): [granted: number, total: number] {
    const used = this.counts.get(request.window) ?? 0;
    const granted = Math.min(request.want, Math.max(0, points - used - request.charge));
    const total = used + request.charge + granted;
    this.counts.set(request.window, total);
    return [granted, total];
  }
}

const TIMEOUT = 50;

describe("leaseChunk", () => {
  it("is 2 % of the budget, at least 1 and at most 1,000", () => {
    expect(leaseChunk(1)).toBe(1);
    expect(leaseChunk(4)).toBe(1);
    expect(leaseChunk(100)).toBe(2);
    expect(leaseChunk(20_000)).toBe(400);
    expect(leaseChunk(1e9)).toBe(1_000);
  });
});

describe("PayerBudget", () => {
  it("admits the first request of a window on credit, charges it with the first lease, then spends leases", () => {
    const redis = new SharedCounter();
    const b = new PayerBudget({ points: 100, durationSeconds: 1 }, TIMEOUT, 0);
    expect(b.decide(0, true)).toEqual({ kind: "admit", shared: true });
    const lease = b.leaseToSend(0)!;
    expect(lease).toEqual({ window: 0, charge: 1, want: 2, sentAt: 0 });
    expect(b.leaseToSend(0)).toBeUndefined();
    b.leaseAnswered(lease, ...redis.answer(lease, 100));
    expect(b.leased).toBe(2);
    expect(b.decide(1, true)).toEqual({ kind: "admit", shared: true });
    // One left, at the low-water mark: the next lease goes out before it is needed.
    expect(b.leaseToSend(1)).toEqual({ window: 0, charge: 0, want: 2, sentAt: 1 });
    expect(redis.counts.get(0)).toBe(3);
  });

  it("denies once Redis says the window is spent and the leases are gone, until the window ends", () => {
    const redis = new SharedCounter();
    redis.counts.set(0, 3);
    const b = new PayerBudget({ points: 4, durationSeconds: 10 }, TIMEOUT, 1_000);
    expect(b.decide(1_000, true).kind).toBe("admit");
    const lease = b.leaseToSend(1_000)!;
    b.leaseAnswered(lease, ...redis.answer(lease, 4));
    expect(b.spent).toBe(true);
    expect(b.decide(1_001, true)).toEqual({ kind: "deny", retryAfterMs: 8_999 });
    // The next window starts afresh.
    expect(b.decide(10_000, true)).toEqual({ kind: "admit", shared: true });
    expect(b.spent).toBe(false);
  });

  it("stops at `chunk` credit: then waits for a lease while Redis is in time, and admits on its own bucket once the lease is late", () => {
    const b = new PayerBudget({ points: 500, durationSeconds: 1 }, TIMEOUT, 0);
    expect(b.chunk).toBe(10);
    for (let i = 0; i < 10; i++) expect(b.decide(0, true)).toEqual({ kind: "admit", shared: true });
    expect(b.decide(0, true)).toEqual({ kind: "wait" });
    const lease = b.leaseToSend(0)!;
    expect(lease).toEqual({ window: 0, charge: 10, want: 10, sentAt: 0 });
    expect(b.decide(5, true)).toEqual({ kind: "wait" });
    // A request that waited as long as it may.
    expect(b.decide(50, true, false)).toEqual({ kind: "admit", shared: false });
    // The lease is late: Redis is slow for this budget, nobody waits.
    expect(b.decide(51, true)).toEqual({ kind: "admit", shared: false });
    b.leaseAnswered(lease, 10, 20);
    expect(b.decide(52, true)).toEqual({ kind: "admit", shared: true });
    expect(b.leased).toBe(9);
    expect(b.unreported).toBe(2);
  });

  it("with Redis slow or down, enforces the whole budget from its own bucket and owes Redis what it admitted", () => {
    const b = new PayerBudget({ points: 5, durationSeconds: 1 }, TIMEOUT, 0);
    for (let i = 0; i < 5; i++) expect(b.decide(10, false)).toEqual({ kind: "admit", shared: false });
    expect(b.decide(10, false)).toEqual({ kind: "deny", retryAfterMs: 200 });
    expect(b.unreported).toBe(5);
    const lease = b.leaseToSend(20)!;
    expect(lease.charge).toBe(5);
    b.leaseFailed(lease);
    expect(b.unreported).toBe(5);
    expect(b.inflight).toBeUndefined();
  });

  it("forgets the leases and charges of a window that ended, and an answer that comes after it", () => {
    const b = new PayerBudget({ points: 10, durationSeconds: 1 }, TIMEOUT, 990);
    b.decide(990, true);
    const lease = b.leaseToSend(990)!;
    expect(b.decide(1_000, true)).toEqual({ kind: "admit", shared: true });
    b.leaseAnswered(lease, 1, 2);
    expect(b.leased).toBe(0);
    expect(b.unreported).toBe(1);
    b.leaseFailed(lease);
    expect(b.unreported).toBe(1);
  });

  it("is idle a whole window after its last use, unless a lease is in flight", () => {
    const b = new PayerBudget({ points: 10, durationSeconds: 2 }, TIMEOUT, 0);
    b.decide(0, true);
    expect(b.idle(1_999)).toBe(false);
    b.leaseToSend(0);
    expect(b.idle(2_000)).toBe(false);
    b.leaseFailed(b.inflight!);
    expect(b.idle(2_000)).toBe(true);
  });

  it("holds budget + N × chunk per window across N processes whose leases arrive late but in time", () => {
    // A seeded simulation: 3 processes, a request at a random process every 0.25 ms, lease answers after a random delay below the timeout.
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (const points of [4, 100, 2_000]) {
      const redis = new SharedCounter();
      const processes = [0, 1, 2].map(() => ({ budget: new PayerBudget({ points, durationSeconds: 1 }, TIMEOUT, 0), waiting: 0 }));
      let answers: Array<{ at: number; process: (typeof processes)[number]; run: () => void }> = [];
      const admitted = new Map<number, number>();
      let denied = 0;
      const decide = (p: (typeof processes)[number], now: number): boolean => {
        const admission = p.budget.decide(now, true);
        if (admission.kind === "admit") {
          expect(admission.shared).toBe(true);
          const window = Math.floor(now / 1000);
          admitted.set(window, (admitted.get(window) ?? 0) + 1);
        }
        if (admission.kind === "deny") denied++;
        const lease = p.budget.leaseToSend(now);
        if (lease) answers.push({ at: now + random() * (TIMEOUT - 1), process: p, run: () => p.budget.leaseAnswered(lease, ...redis.answer(lease, points)) });
        return admission.kind === "wait";
      };
      for (let now = 0; now < 5_000; now += 0.25) {
        for (const answer of answers.filter((a) => a.at <= now)) {
          answer.run();
          // Requests waiting at that process are decided again.
          const waiting = answer.process.waiting;
          answer.process.waiting = 0;
          for (let i = 0; i < waiting; i++) if (decide(answer.process, now)) answer.process.waiting++;
        }
        answers = answers.filter((a) => a.at > now);
        const p = processes[Math.floor(random() * 3)]!;
        if (decide(p, now)) p.waiting++;
      }
      expect(denied).toBeGreaterThan(0);
      for (const [window, count] of admitted) {
        expect(count, `budget ${points}, window ${window}`).toBeLessThanOrEqual(points + 3 * leaseChunk(points));
        // Leases other processes hold unspent when the window ends are lost to it.
        expect(count, `budget ${points}, window ${window}`).toBeGreaterThanOrEqual(points - 3 * 2 * leaseChunk(points));
      }
    }
  });
});
