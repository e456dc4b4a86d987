import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpensslTsa } from "../../test/support/tsa.js";
import type { VerificationReport } from "./bundle.js";
import { timestampRequest, tokenOfResponse } from "./rfc3161.js";
import { checkTimestamp } from "./timestamp.js";
import { reportText, verifyExitCode, VERIFY_EXIT } from "./report-text.js";

const origin = "attesto.example/proofstreams/str_01";
const logNote = `${origin}\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— ${origin} AAAAAQAAAAA=\n`;
// As served: the log's note followed by a witness's cosignature line, which the token is not over.
const served = `${logNote.slice(0, -1)}\n— witness.example/w BBBBBQAAAAA=\n`;

let tsa: OpensslTsa;
let token: string;
let root: string;

beforeAll(async () => {
  tsa = await OpensslTsa.create();
  const sha256 = new Uint8Array(createHash("sha256").update(logNote).digest());
  token = Buffer.from(tokenOfResponse(await tsa.reply(timestampRequest(sha256, randomBytes(8))))).toString("base64");
  root = await tsa.caPem();
}, 60_000);
afterAll(() => tsa?.close());

const offline = (): VerificationReport => ({
  kind: "bundle",
  valid: true,
  checks: [{ name: "format", status: "pass", detail: "" }],
  stream_id: "str_01",
  origin,
  from_seq_no: 1,
  to_seq_no: 3,
  checkpoint_size: 3,
  entries: 3,
  anchors: 0,
});
const timestampOf = (r: VerificationReport) => r.checks.find((c) => c.name === "timestamp");

describe("the bundle's timestamp check", () => {
  it("passes a token over the log's note against the TSA's root (cosignature lines are not part of it)", async () => {
    const r = await checkTimestamp(offline(), { checkpoint: served, timestamp_token: token }, root);
    expect(timestampOf(r)).toMatchObject({ status: "pass" });
    expect(r.valid).toBe(true);
  });

  it("says missing, not valid, when the caller gives roots and the bundle carries no token", async () => {
    const r = await checkTimestamp(offline(), { checkpoint: served }, root);
    expect(timestampOf(r)).toMatchObject({ status: "missing" });
    expect(r.valid).toBe(false);
    expect(verifyExitCode(r)).toBe(VERIFY_EXIT.failed);
    expect(reportText(r)).toContain("NOT VALID");
  });

  it("skips a carried token without roots, and adds nothing when there is neither", async () => {
    const skipped = await checkTimestamp(offline(), { checkpoint: served, timestamp_token: token });
    expect(timestampOf(skipped)).toMatchObject({ status: "skipped" });
    expect(skipped.valid).toBe(true);
    expect(timestampOf(await checkTimestamp(offline(), { checkpoint: served }))).toBeUndefined();
  });

  it("fails a token over another note, one that is not base64, and roots that are not PEM", async () => {
    const other = await checkTimestamp(offline(), { checkpoint: served.replace("\n3\n", "\n4\n"), timestamp_token: token }, root);
    expect(timestampOf(other)).toMatchObject({ status: "fail" });
    expect(timestampOf(other)!.detail).toMatch(/^the token fails imprint/);
    expect(timestampOf(await checkTimestamp(offline(), { checkpoint: served, timestamp_token: "@@" }, root))).toMatchObject({ status: "fail", detail: "timestamp_token is not base64" });
    expect(timestampOf(await checkTimestamp(offline(), { checkpoint: served, timestamp_token: token }, "not pem"))!.detail).toMatch(/trusted TSA roots/);
  });

  it("leaves a report whose document is not a bundle as it is", async () => {
    const notBundle = { ...offline(), checks: [{ name: "format" as const, status: "fail" as const, detail: "" }], valid: false };
    expect(await checkTimestamp(notBundle, { checkpoint: served, timestamp_token: token }, root)).toBe(notBundle);
  });
});
