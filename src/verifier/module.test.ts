import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { auditPath, buildBundle } from "../../test/support/bundles.js";
import { OpensslTsa } from "../../test/support/tsa.js";
import { AppError } from "../errors.js";
import { verifyDocument } from "../verify/document.js";
import { leafBytesOf } from "../verify/leaf.js";
import { certificatesFromPem, timestampRequest, tokenOfResponse, verifyTimestampToken } from "../verify/rfc3161.js";
import { formatTlogProof } from "../verify/tlog-proof.js";
import { Verifier, type VerifierSettings } from "./module.js";

let verifier: Verifier | undefined;
afterEach(async () => {
  await verifier?.close();
  verifier = undefined;
});
const started = async (settings: VerifierSettings) => {
  verifier = new Verifier(settings);
  await verifier.start();
  return verifier;
};
const reasonOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return "verified";
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).details.reason;
  }
};

describe("the verifier threads", () => {
  const { bundle, signer } = buildBundle({ size: 40, from: 3, to: 30, payloads: true });
  const text = JSON.stringify(bundle);

  it("answer what the library answers", async () => {
    const v = await started({ threads: 1, queue: 4, budgetMs: 10_000 });
    expect(await v.verify(text, { pinnedKey: signer.verifierKey })).toEqual(verifyDocument(text, { pinnedKey: signer.verifierKey }));
    expect((await v.verify("{", {})).checks[0]).toMatchObject({ name: "format", status: "fail" });
    // A tlog-proof on the thread and in this one: the same report, good or tampered.
    const built = buildBundle({ size: 9, from: 1, to: 9, payloads: false });
    const entry = built.bundle.entries[4]!;
    const proof = formatTlogProof({ extra: leafBytesOf({ ...entry, stream_id: built.bundle.stream_id }), index: 4, hashes: auditPath(built.leaves, 4), checkpoint: built.bundle.checkpoint });
    const tampered = proof.replace("\nindex 4\n", "\nindex 5\n");
    for (const doc of [proof, tampered]) {
      expect(await v.verify(doc, { pinnedKey: built.signer.verifierKey })).toEqual(verifyDocument(doc, { pinnedKey: built.signer.verifierKey }));
    }
    expect((await v.verify(proof, { pinnedKey: built.signer.verifierKey })).valid).toBe(true);
  });

  it("take a body's bytes by moving them (the caller's buffer is detached) and answer as for its text", async () => {
    const v = await started({ threads: 1, queue: 4, budgetMs: 10_000 });
    const body = new TextEncoder().encode(text).buffer as ArrayBuffer;
    expect(await v.verify(body, { pinnedKey: signer.verifierKey })).toEqual(verifyDocument(text, { pinnedKey: signer.verifierKey }));
    expect(body.byteLength).toBe(0);
    // Bytes that are not UTF-8 decode as Request.text() would (U+FFFD), and the checks say what breaks.
    const mangled = new Uint8Array([0x7b, 0xff, 0x7d]).buffer;
    expect((await v.verify(mangled, {})).checks[0]).toMatchObject({ name: "format", status: "fail" });
  });

  it.runIf(process.platform === "linux")("run at the lowest priority, and only they: the event loop's thread keeps its own", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const niceOf = (tid: string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    const before = new Set(readdirSync("/proc/self/task"));
    const v = await started({ threads: 1, queue: 4, budgetMs: 10_000 });
    await v.verify(text, { pinnedKey: signer.verifierKey });
    const added = readdirSync("/proc/self/task").filter((tid) => !before.has(tid));
    expect(added.map(niceOf)).toContain(19);
    expect(niceOf(String(process.pid))).toBe(0);
  });

  it("stop a document past its budget with DEADLINE_EXCEEDED (503, retry later or verify offline)", async () => {
    const big = buildBundle({ size: 4000, from: 1, to: 4000, payloads: true });
    const v = await started({ threads: 1, queue: 4, budgetMs: 5 });
    const at = Date.now();
    expect(await reasonOf(v.verify(JSON.stringify(big.bundle), {}))).toBe("DEADLINE_EXCEEDED");
    expect(Date.now() - at).toBeLessThan(1_000);
  });

  it("refuse at once when every thread is busy and the queue is full", async () => {
    const big = JSON.stringify(buildBundle({ size: 3000, from: 1, to: 3000, payloads: true }).bundle);
    const v = await started({ threads: 1, queue: 1, budgetMs: 20_000 });
    const results = await Promise.all([reasonOf(v.verify(big, {})), reasonOf(v.verify(big, {})), reasonOf(v.verify(big, {}))]);
    expect(results).toEqual(["verified", "verified", "SERVER_BUSY"]);
  });

  it("check a TSA's token as the library does, good or not", async () => {
    const tsa = await OpensslTsa.create();
    try {
      const roots = certificatesFromPem(await tsa.caPem());
      const sha256 = new Uint8Array(createHash("sha256").update("a note").digest());
      const nonce = new Uint8Array(randomBytes(8));
      const token = tokenOfResponse(await tsa.reply(timestampRequest(sha256, nonce)));
      const v = await started({ threads: 1, queue: 4, budgetMs: 10_000 });
      const onThread = await v.verifyTimestampToken(token, { sha256, roots, nonce });
      expect(onThread).toEqual(await verifyTimestampToken(token, { sha256, roots, nonce }));
      expect(onThread.ok).toBe(true);
      expect(onThread.genTime).toBeInstanceOf(Date);
      const otherNonce = await v.verifyTimestampToken(token, { sha256, roots, nonce: new Uint8Array(randomBytes(8)) });
      expect(otherNonce.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["nonce"]);
      const untrusted = await v.verifyTimestampToken(token, { sha256, roots: [], nonce });
      expect(untrusted.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["chain"]);
    } finally {
      tsa.close();
    }
  }, 60_000);
});
