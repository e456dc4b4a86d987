import { describe, expect, it } from "vitest";
import { leafAround, leafBytes } from "./leaf.js";

describe("leafAround", () => {
  const base = {
    streamId: "str_01ARZ3NDEKTSV4RRFFQ69G5FAV",
    eventType: "purchase.verified",
    occurredAt: new Date("2026-06-07T12:00:00.123Z"),
    receivedAt: new Date("2026-06-07T12:00:01.456Z"),
    payloadSha256: "ab".repeat(32),
  };

  it("puts any seq_no between its halves to give the leaf's bytes", () => {
    for (const sourceRef of ["plain", 'quo"te ,"seq_no":0,"source_ref":', "ünï\u2028cødé 🚀", "\\"]) {
      const { before, after } = leafAround({ ...base, sourceRef });
      for (const seqNo of [1, 9, 10, 255, 256, 65_536, 9_007_199_254_740_991]) {
        expect(Buffer.from(before + String(seqNo) + after, "utf8").equals(leafBytes({ ...base, sourceRef, seqNo }))).toBe(true);
      }
    }
  });
});
