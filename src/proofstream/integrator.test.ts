import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Integrator } from "./integrator.js";

/** An integrate function that records its calls and resolves or fails when told. */
function recorder() {
  const calls: Array<Map<string, number>> = [];
  const pending: Array<{ resolve(): void; reject(err: Error): void }> = [];
  const integrate = (targets: ReadonlyMap<string, number>) =>
    new Promise<void>((resolve, reject) => {
      calls.push(new Map(targets));
      pending.push({ resolve, reject });
    });
  return { calls, pending, integrate };
}

/** An Integrator (20 ms) whose first run, of stream "a" to 1, has started and waits on `pending[0]`. */
async function firstRunStarted() {
  const { calls, pending, integrate } = recorder();
  const integrator = new Integrator(integrate, () => {}, 20);
  integrator.due("a", 1);
  await vi.advanceTimersByTimeAsync(20);
  return { calls, pending, integrator };
}

describe("Integrator", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("takes every stream due within its interval in one call, each at its highest size", async () => {
    const { calls, pending, integrate } = recorder();
    const integrator = new Integrator(integrate, () => {}, 20);
    integrator.due("a", 3);
    integrator.due("b", 7);
    integrator.due("a", 9);
    integrator.due("a", 5);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(19);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([
      new Map([
        ["a", 9],
        ["b", 7],
      ]),
    ]);
    pending[0]!.resolve();
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(1);
    expect(integrator.pending).toBe(0);
  });

  it("never runs two calls at once: what comes due during a run waits for its end and the next interval", async () => {
    const { calls, pending, integrator } = await firstRunStarted();
    integrator.due("a", 2);
    integrator.due("c", 4);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toHaveLength(1);
    pending[0]!.resolve();
    await vi.advanceTimersByTimeAsync(20);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(
      new Map([
        ["a", 2],
        ["c", 4],
      ]),
    );
  });

  it("keeps what a failed run held, reports it, and tries again later, backing off", async () => {
    const { calls, pending, integrate } = recorder();
    const errors: string[][] = [];
    const integrator = new Integrator(integrate, (_err, ids) => errors.push(ids), 20);
    integrator.due("a", 5);
    await vi.advanceTimersByTimeAsync(20);
    integrator.due("a", 3); // lower than what is in flight: the retry still asks for 5
    pending[0]!.reject(new Error("database away"));
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toEqual([["a"]]);
    // The first retry waits twice the interval.
    await vi.advanceTimersByTimeAsync(39);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(new Map([["a", 5]]));
    pending[1]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    // Success resets the pace.
    integrator.due("b", 1);
    await vi.advanceTimersByTimeAsync(20);
    expect(calls).toHaveLength(3);
  });

  it("flush runs what is due now, after the run in progress; close runs it and takes nothing more", async () => {
    const { calls, pending, integrator } = await firstRunStarted();
    integrator.due("b", 2);
    let flushed = false;
    const flush = integrator.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    pending[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(2);
    expect(flushed).toBe(false);
    pending[1]!.resolve();
    await flush;
    expect(calls[1]).toEqual(new Map([["b", 2]]));

    integrator.due("c", 3);
    const closing = integrator.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[2]).toEqual(new Map([["c", 3]]));
    pending[2]!.resolve();
    await closing;
    integrator.due("d", 4);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(3);
  });
});
