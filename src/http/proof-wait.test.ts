import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { proofReceiptJson, proofWaitOf } from "./proof-wait.js";

/** What proofWaitOf makes of a query, or the field its refusal names. */
async function waitOf(query: string): Promise<number | undefined | { field: string }> {
  const app = new Hono();
  let out: number | undefined | { field: string } = undefined;
  app.get("/", (c) => {
    try {
      out = proofWaitOf(c);
    } catch (err) {
      out = { field: String((err as AppError).details?.field) };
    }
    return c.text("ok");
  });
  await app.request(`/${query}`);
  return out;
}

describe("proofWaitOf", () => {
  it("asks for no proof without wait_for_proof, the default wait with it, the given one with proof_timeout", async () => {
    expect(await waitOf("")).toBeUndefined();
    expect(await waitOf("?wait_for_proof=false")).toBeUndefined();
    expect(await waitOf("?wait_for_proof=true")).toBe(0);
    expect(await waitOf("?wait_for_proof=1&proof_timeout=2s")).toBe(2000);
    expect(await waitOf("?wait_for_proof=true&proof_timeout=0.25s")).toBe(250);
    expect(await waitOf("?wait_for_proof=true&proof_timeout=30s")).toBe(30_000);
  });

  it("refuses malformed values naming the field", async () => {
    expect(await waitOf("?wait_for_proof=yes")).toEqual({ field: "wait_for_proof" });
    expect(await waitOf("?proof_timeout=2s")).toEqual({ field: "proof_timeout" });
    expect(await waitOf("?wait_for_proof=true&proof_timeout=2")).toEqual({ field: "proof_timeout" });
    expect(await waitOf("?wait_for_proof=true&proof_timeout=-1s")).toEqual({ field: "proof_timeout" });
    expect(await waitOf("?wait_for_proof=true&proof_timeout=31s")).toEqual({ field: "proof_timeout" });
  });
});

describe("proofReceiptJson", () => {
  it("names the status and carries the proof or the reason", () => {
    expect(proofReceiptJson({ status: "proven", tlogProof: "c2sp.org/tlog-proof@v1\n", checkpointTreeSize: 7 })).toEqual({
      status: "PROVEN",
      tlog_proof: "c2sp.org/tlog-proof@v1\n",
      checkpoint_tree_size: 7,
    });
    expect(proofReceiptJson({ status: "pending", reason: "late" })).toEqual({ status: "PENDING", pending_reason: "late" });
  });
});

describe("proofWaitOf in either spelling", () => {
  it("reads waitForProof and proofTimeout as the same parameters, and leaves other parameters alone", async () => {
    expect(await waitOf("?waitForProof=true&proofTimeout=2s")).toBe(2000);
    expect(await waitOf("?wait_for_proof=true&waitForProof=true")).toEqual({ field: "wait_for_proof" });
    expect(await waitOf("?wait_for_proof=true&token=a&token=b")).toBe(0);
  });
});
