import type { Context } from "hono";
import { invalidArgument } from "../errors.js";
import { MAX_PROOF_TIMEOUT_MS, type ProofReceipt } from "../proofstream/module.js";
import { queryOf } from "./query.js";

/** A protobuf Duration in its JSON form: whole or fractional seconds with an `s`. */
const DURATION = /^(\d{1,5})(?:\.(\d{1,9}))?s$/;

/**
 * `?wait_for_proof=true[&proof_timeout=2.5s]` on a route that commits an
 * event: the same names and the same Duration form as the RPCs'
 * `wait_for_proof` and `proof_timeout` (or `waitForProof`, `proofTimeout`:
 * query.ts). Undefined when no proof was asked for, else the wait in ms (0:
 * the server's default).
 */
export function proofWaitOf(c: Context): number | undefined {
  const { wait_for_proof: wait, proof_timeout: timeout } = queryOf(c, ["wait_for_proof", "proof_timeout"]);
  if (wait !== undefined && !["true", "false", "1", "0"].includes(wait)) throw invalidArgument("wait_for_proof", "must be true or false");
  const waiting = wait === "true" || wait === "1";
  if (timeout === undefined) return waiting ? 0 : undefined;
  if (!waiting) throw invalidArgument("proof_timeout", "applies only with wait_for_proof=true");
  const m = DURATION.exec(timeout);
  if (!m) throw invalidArgument("proof_timeout", 'must be a duration in seconds like "2s" or "0.5s"');
  const ms = Number(m[1]) * 1000 + Number(`0.${m[2] ?? "0"}`) * 1000;
  if (ms > MAX_PROOF_TIMEOUT_MS) throw invalidArgument("proof_timeout", `must be at most ${MAX_PROOF_TIMEOUT_MS / 1000} s`);
  return ms;
}

/** A proof receipt in the ingress answers' snake_case JSON. */
export function proofReceiptJson(r: ProofReceipt) {
  return r.status === "proven" ? { status: "PROVEN", tlog_proof: r.tlogProof, checkpoint_tree_size: r.checkpointTreeSize } : { status: "PENDING", pending_reason: r.reason };
}
