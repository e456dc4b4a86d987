import { describe, expect, it } from "vitest";
import { decodeCheckpointAnnouncement, encodeCheckpointAnnouncement } from "./checkpoint-announcement.js";
import { withCosignatures } from "./checkpoints.js";

const record = withCosignatures({
  streamId: "str_01",
  treeSize: 1234,
  rootHash: Buffer.alloc(32, 7),
  note: "attesto.example/x\n1234\nabc=\n\n— key sig\n",
  cosignatures: "— witness.example/w cosig\n",
  cosignatureCount: 1,
  witnessedAt: new Date("2026-12-06T10:00:01.000Z"),
  timestampToken: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]),
  timestampedAt: new Date("2026-12-06T10:00:02.000Z"),
  keyId: -5,
  signedAt: new Date("2026-12-06T10:00:00.123Z"),
});

describe("checkpoint announcements", () => {
  it("carry the whole record through the broadcast", () => {
    expect(decodeCheckpointAnnouncement(encodeCheckpointAnnouncement(record))).toEqual(record);
  });

  it("read an announcement without a timestamp (an earlier version's) as not timestamped yet", () => {
    const { timestampToken: _t, timestampedAt: _at, ...earlier } = JSON.parse(encodeCheckpointAnnouncement(record)) as Record<string, unknown>;
    expect(decodeCheckpointAnnouncement(JSON.stringify(earlier))).toMatchObject({ timestampToken: null, timestampedAt: null, treeSize: 1234 });
  });

  it("drop anything that is not an announcement", () => {
    const good = JSON.parse(encodeCheckpointAnnouncement(record)) as Record<string, unknown>;
    for (const message of [
      "",
      "not json",
      "null",
      "42",
      JSON.stringify({ ...good, treeSize: 0 }),
      JSON.stringify({ ...good, treeSize: 1.5 }),
      JSON.stringify({ ...good, treeSize: "12" }),
      JSON.stringify({ ...good, rootHash: "ab" }),
      JSON.stringify({ ...good, signedAt: "yesterday" }),
      JSON.stringify({ ...good, keyId: null }),
      JSON.stringify({ ...good, note: 5 }),
      JSON.stringify({ ...good, streamId: undefined }),
      JSON.stringify({ ...good, cosignatures: undefined }),
      JSON.stringify({ ...good, cosignatureCount: -1 }),
      JSON.stringify({ ...good, witnessedAt: "soon" }),
      JSON.stringify({ ...good, timestampToken: 7 }),
      JSON.stringify({ ...good, timestampedAt: "soon" }),
    ]) {
      expect(decodeCheckpointAnnouncement(message), message).toBeUndefined();
    }
  });
});
