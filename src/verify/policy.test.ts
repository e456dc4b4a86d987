import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "../../test/support/bundles.js";
import { OpensslTsa } from "../../test/support/tsa.js";
import { ed25519FromSeed, ed25519RawPublic, signatureLine, type NoteSigner } from "../crypto/note-signing.js";
import type { BundleDocument, VerificationReport } from "./bundle.js";
import { keyId, logSignedNote, SIG_COSIGNATURE_V1, SIG_ED25519, splitNote, verifierKeyString } from "./note.js";
import { POLICY_CHECKS, readPolicy, verifyWithPolicy, type VerificationPolicy } from "./policy.js";
import { timestampRequest, tokenOfResponse } from "./rfc3161.js";
import { formatTlogProof } from "./tlog-proof.js";

function witness(name: string, type: typeof SIG_ED25519 | typeof SIG_COSIGNATURE_V1 = SIG_COSIGNATURE_V1) {
  const seed = randomBytes(32);
  const pub = ed25519RawPublic(ed25519FromSeed(seed));
  const signer: NoteSigner = { name, keyId: keyId(name, pub, type), type, privateKey: ed25519FromSeed(seed) };
  return { signer, vkey: verifierKeyString(name, pub, type) };
}

const w1 = witness("witness.example/w1");
const w2 = witness("witness.example/w2");
const w3 = witness("witness.example/w3");

/** The bundle's checkpoint with the given witnesses' cosignature lines appended. */
function cosigned(b: BundleDocument, ...witnesses: (typeof w1)[]): BundleDocument {
  const text = splitNote(b.checkpoint).text;
  return { ...b, checkpoint: b.checkpoint + witnesses.map((w) => signatureLine(text, w.signer)).join("") };
}

const built = buildBundle({ size: 5, from: 2, to: 4, payloads: true });
const pinnedKey = built.signer.verifierKey;
const check = (r: VerificationReport, name: string) => r.checks.find((c) => c.name === name);
const run = (b: BundleDocument, policy: VerificationPolicy) => verifyWithPolicy(JSON.stringify(b), { pinnedKey, ...policy });

let tsa: OpensslTsa;
let root: string;
let otherRoot: string;
let stamped: BundleDocument;

beforeAll(async () => {
  tsa = await OpensslTsa.create();
  const note = logSignedNote(built.bundle.checkpoint, built.bundle.origin);
  const sha256 = new Uint8Array(createHash("sha256").update(note).digest());
  const token = Buffer.from(tokenOfResponse(await tsa.reply(timestampRequest(sha256, randomBytes(8))))).toString("base64");
  root = await tsa.caPem();
  otherRoot = await tsa.openssl(["x509", "-in", "other_ca.pem"]);
  stamped = { ...built.bundle, timestamp_token: token };
}, 60_000);
afterAll(() => tsa?.close());

describe("a caller's policy: each kind of evidence its own check", () => {
  it("without a policy: the offline checks only, nothing added for evidence the document does not carry", async () => {
    const r = await run(built.bundle, {});
    expect(r.valid).toBe(true);
    expect(r.checks.map((c) => c.name)).toEqual(["format", "signature", "leaves", "range_proof", "anchors"]);
  });

  it("witnesses: pass with k of the trusted ones, fail below k or with a forged line, missing when none cosigned, skipped when not asked", async () => {
    const both = cosigned(built.bundle, w1, w2);
    const pass = await run(both, { witnesses: { keys: [w1.vkey, w2.vkey, w3.vkey], k: 2 } });
    expect(check(pass, "witnesses")).toMatchObject({ status: "pass" });
    expect(pass.valid).toBe(true);
    const short = await run(cosigned(built.bundle, w1), { witnesses: { keys: [w1.vkey, w2.vkey], k: 2 } });
    expect(check(short, "witnesses")).toMatchObject({ status: "fail" });
    expect(check(short, "witnesses")!.detail).toMatch(/^1 of the 2 required/);
    expect(short.valid).toBe(false);
    // A line by w2's name and key id whose signature is another witness's: forged.
    const forgedLine = signatureLine(splitNote(built.bundle.checkpoint).text, { ...w3.signer, name: w2.signer.name, keyId: w2.signer.keyId });
    const forged = await run({ ...built.bundle, checkpoint: cosigned(built.bundle, w1).checkpoint + forgedLine }, { witnesses: { keys: [w1.vkey, w2.vkey], k: 1 } });
    expect(check(forged, "witnesses")).toMatchObject({ status: "fail" });
    expect(check(forged, "witnesses")!.detail).toMatch(/witness\.example\/w2 does not verify/);
    const missing = await run(cosigned(built.bundle, w3), { witnesses: { keys: [w1.vkey], k: 1 } });
    expect(check(missing, "witnesses")).toMatchObject({ status: "missing" });
    expect(missing.valid).toBe(false);
    const skipped = await run(both, {});
    expect(check(skipped, "witnesses")).toMatchObject({ status: "skipped" });
    expect(skipped.valid).toBe(true);
    // The other checks are the same whatever the witness outcome: each fails its own check only.
    for (const r of [short, forged, missing]) expect(r.checks.filter((c) => c.status !== "pass" && c.name !== "anchors").map((c) => c.name)).toEqual(["witnesses"]);
  });

  it("timestamp: pass with the right root (PEM or base64 DER), fail with another, missing when asked and not carried, skipped when carried and not asked", async () => {
    const pass = await run(stamped, { tsaRoots: [root] });
    expect(check(pass, "timestamp")).toMatchObject({ status: "pass" });
    expect(pass.valid).toBe(true);
    const der = Buffer.from(root.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    expect(check(await run(stamped, { tsaRoots: [der.toString("base64")] }), "timestamp")).toMatchObject({ status: "pass" });
    expect(check(await run(stamped, { tsaRoots: [new Uint8Array(der)] }), "timestamp")).toMatchObject({ status: "pass" });
    const wrong = await run(stamped, { tsaRoots: [otherRoot] });
    expect(check(wrong, "timestamp")).toMatchObject({ status: "fail" });
    expect(check(wrong, "timestamp")!.detail).toMatch(/chain/);
    expect(wrong.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["timestamp"]);
    const missing = await run(built.bundle, { tsaRoots: [root] });
    expect(check(missing, "timestamp")).toMatchObject({ status: "missing" });
    expect(missing.valid).toBe(false);
    expect(check(await run(stamped, {}), "timestamp")).toMatchObject({ status: "skipped" });
  });

  it("anchors: missing when required and the document carries none; the offline path check when it does", async () => {
    const missing = await run(built.bundle, { requireAnchor: true });
    expect(check(missing, "anchors")).toMatchObject({ status: "missing" });
    expect(missing.valid).toBe(false);
    const anchored = buildBundle({ size: 5, from: 2, to: 4, payloads: true, anchored: true });
    const r = await verifyWithPolicy(JSON.stringify(anchored.bundle), { pinnedKey: anchored.signer.verifierKey, requireAnchor: true });
    expect(check(r, "anchors")).toMatchObject({ status: "offline" });
    expect(r.checks.filter((c) => c.name === "anchors")).toHaveLength(1);
  });

  it("a tlog-proof: witnesses checked on its checkpoint; a timestamp or an anchor asked for is missing (the format carries neither)", async () => {
    const b = cosigned(built.bundle, w1);
    const proof = formatTlogProof({ index: 0, hashes: [], checkpoint: b.checkpoint });
    const r = await verifyWithPolicy(proof, { witnesses: { keys: [w1.vkey], k: 1 }, tsaRoots: [root], requireAnchor: true });
    expect(check(r, "witnesses")).toMatchObject({ status: "pass" });
    expect(check(r, "timestamp")).toMatchObject({ status: "missing" });
    expect(check(r, "anchors")).toMatchObject({ status: "missing" });
  });

  it("a document that is not one: the format fails and no policy check is added", async () => {
    const r = await verifyWithPolicy("{", { tsaRoots: [root], witnesses: { keys: [w1.vkey], k: 1 }, requireAnchor: true });
    expect(r.checks[0]).toMatchObject({ name: "format", status: "fail" });
    expect(r.checks.map((c) => c.name)).not.toContain("timestamp");
  });

  it("reads a policy, naming the field that is not usable", () => {
    expect(readPolicy({ witnesses: { keys: [w1.vkey], k: 2 } })).toMatchObject({ field: "witness_k" });
    expect(readPolicy({ witnesses: { keys: [w1.vkey], k: 0 } })).toMatchObject({ field: "witness_k" });
    expect(readPolicy({ witnesses: { keys: ["nope"], k: 1 } })).toMatchObject({ field: "witness_keys" });
    expect(readPolicy({ witnesses: { keys: [witness("w.example/ed", SIG_ED25519).vkey], k: 1 } })).toMatchObject({
      field: "witness_keys",
      problem: expect.stringMatching(/not a tlog-cosignature key/),
    });
    expect(readPolicy({ witnesses: { keys: [w1.vkey, w1.vkey], k: 1 } })).toMatchObject({ field: "witness_keys", problem: expect.stringMatching(/named twice/) });
    expect(readPolicy({ tsaRoots: ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] })).toMatchObject({ field: "tsa_roots" });
    expect(readPolicy({ tsaRoots: ["not base64 !"] })).toMatchObject({ field: "tsa_roots" });
    expect(readPolicy({ tsaRoots: [] })).toMatchObject({ field: "tsa_roots" });
    expect(readPolicy({ pinnedKey: "x+y+z" })).toMatchObject({ field: "verifier_key" });
    expect(readPolicy({ pinnedKey, witnesses: { keys: [w1.vkey, w2.vkey], k: 2 }, tsaRoots: [root], requireAnchor: true })).toHaveProperty("policy");
  });

  it("a policy field that is not usable fails its own check in the library's report", async () => {
    const r = await run(stamped, { witnesses: { keys: [w1.vkey], k: 5 } });
    expect(check(r, "witnesses")).toMatchObject({ status: "fail", detail: expect.stringMatching(/^the policy's witness_k/) });
    expect(r.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["witnesses"]);
  });

  it("the checks a policy drives are one list, in report order", () => {
    expect(POLICY_CHECKS.map((c) => c.name)).toEqual(["witnesses", "timestamp", "anchors"]);
  });
});

describe("the JSON Schema (schemas/attesto.verification.v1.schema.json)", () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(JSON.parse(readFileSync(new URL("../../schemas/attesto.verification.v1.schema.json", import.meta.url), "utf8")), "verification");
  const report = ajv.getSchema("verification")!;
  const policy = ajv.getSchema("verification#/$defs/policy")!;

  it("describes the reports, every check status included", async () => {
    for (const r of [
      await run(cosigned(stamped, w1), { witnesses: { keys: [w1.vkey], k: 1 }, tsaRoots: [root] }),
      await run(built.bundle, { tsaRoots: [root], requireAnchor: true }),
      await verifyWithPolicy("{"),
    ]) {
      expect(report(r), ajv.errorsText(report.errors)).toBe(true);
    }
    expect(report({ kind: "bundle", valid: true, checks: [{ name: "x", status: "maybe", detail: "" }] })).toBe(false);
  });

  it("describes the policy by its wire names", () => {
    expect(policy({ verifier_key: pinnedKey, witness_keys: [w1.vkey], witness_k: 1, tsa_roots: [root], require_anchor: true }), ajv.errorsText(policy.errors)).toBe(true);
    expect(policy({ witness_keys: [w1.vkey] })).toBe(false);
    expect(policy({ witness_k: 0, witness_keys: [w1.vkey] })).toBe(false);
  });
});
