import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import type { EventRecord } from "./event-record.js";
import { groupByStream, planBatch } from "./batch-plan.js";
import { leafOf, payloadSha256 } from "./leaf.js";

const STREAM = "str_01J00000000000000000000000";
const occurredAt = new Date("2026-06-07T12:00:00Z");
const receivedAt = new Date("2026-06-07T12:00:01Z");
const input = (sourceRef: string, payload: Record<string, string> = { v: sourceRef }, tenantId = "ten_a") => ({
  tenantId,
  streamId: STREAM,
  sourceRef,
  eventType: "t",
  occurredAt,
  payload,
  payloadSha256: payloadSha256(payload),
});

describe("planBatch", () => {
  it("numbers new events after the tree's size and commits each to its leaf", () => {
    const plan = planBatch(STREAM, [input("a"), input("b")], { tenantId: "ten_a", treeSize: 10 }, new Map(), receivedAt);
    expect(plan.size).toBe(12);
    expect(plan.rows.map((r) => r.seqNo)).toEqual([11, 12]);
    const expected = leafOf({ ...input("a"), streamId: STREAM, seqNo: 11, receivedAt });
    expect(plan.rows[0]!.leaf.equals(expected.leaf)).toBe(true);
    expect(plan.rows[0]!.leafHash.equals(expected.leafHash)).toBe(true);
    expect(plan.results.map((r) => (r as { duplicate: boolean }).duplicate)).toEqual([false, false]);
  });

  it("answers a replay with the stored event, within the batch too, and writes it once", () => {
    const stored = planBatch(STREAM, [input("a")], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt).results[0] as { event: EventRecord };
    const known = new Map([["a", stored.event]]);
    const plan = planBatch(STREAM, [input("a"), input("b"), input("b")], { tenantId: "ten_a", treeSize: 1 }, known, receivedAt);
    expect(plan.rows.map((r) => r.sourceRef)).toEqual(["b"]);
    expect(plan.results.map((r) => (r as { duplicate: boolean }).duplicate)).toEqual([true, false, true]);
    expect((plan.results[0] as { event: EventRecord }).event.seqNo).toBe(1);
    expect((plan.results[2] as { event: EventRecord }).event.seqNo).toBe(2);
  });

  it("refuses a replay with other content as replay_conflict naming source_ref, and writes nothing for it", () => {
    const plan = planBatch(STREAM, [input("a"), input("a", { v: "other" })], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt);
    expect(plan.rows).toHaveLength(1);
    const err = plan.results[1] as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("replay_conflict");
    expect(err.details).toMatchObject({ field: "source_ref", reason: "REPLAY_CONFLICT" });
    expect(err.message).toBe(
      'source_ref "a" was already committed with another payload (its SHA-256 differs): a replay repeats event_type, occurred_at and payload exactly; a new event needs a new source_ref',
    );
  });

  it("names each field a replay changed, with the stored and sent event type and time (issue 26, defect 5: a rerun without --occurred-at)", () => {
    const stored = planBatch(STREAM, [input("a")], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt).results[0] as { event: EventRecord };
    const later = new Date(stored.event.occurredAt.getTime() + 60_000);
    const rerun = { ...input("a"), occurredAt: later };
    const err = planBatch(STREAM, [rerun], { tenantId: "ten_a", treeSize: 1 }, new Map([["a", stored.event]]), receivedAt).results[0] as AppError;
    expect(err.code).toBe("replay_conflict");
    expect(err.message).toContain(`another occurred_at (stored ${stored.event.occurredAt.toISOString()}, sent ${later.toISOString()})`);
    expect(err.message).not.toContain("event_type (");
    const retyped = { ...input("a", { v: "other" }), eventType: "other.type" };
    const both = planBatch(STREAM, [retyped], { tenantId: "ten_a", treeSize: 1 }, new Map([["a", stored.event]]), receivedAt).results[0] as AppError;
    expect(both.message).toContain(`another event_type (stored ${JSON.stringify(stored.event.eventType)}, sent "other.type"), another payload (its SHA-256 differs)`);
  });

  it("treats another tenant's append as a missing stream", () => {
    const plan = planBatch(STREAM, [input("a", undefined, "ten_b")], { tenantId: "ten_a", treeSize: 0 }, new Map(), receivedAt);
    expect((plan.results[0] as AppError).code).toBe("not_found");
    expect(plan.rows).toHaveLength(0);
    expect(plan.size).toBe(0);
  });
});

describe("groupByStream", () => {
  const m = (streamId: string, n: number) => ({ input: { streamId }, n });
  it.each([
    { name: "one stream keeps arrival order", batch: [m("a", 1), m("a", 2), m("a", 3)], want: [["a", [1, 2, 3]]] },
    {
      name: "interleaved streams, each in arrival order, by first arrival",
      batch: [m("b", 1), m("a", 2), m("b", 3), m("c", 4), m("a", 5)],
      want: [
        ["b", [1, 3]],
        ["a", [2, 5]],
        ["c", [4]],
      ],
    },
    { name: "empty", batch: [], want: [] },
  ])("$name", ({ batch, want }) => {
    expect([...groupByStream(batch)].map(([id, members]) => [id, members.map((x) => x.n)])).toEqual(want);
  });
});
