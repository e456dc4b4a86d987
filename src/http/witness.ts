import type { Hono } from "hono";
import { AppError } from "../errors.js";
import { MAX_ADD_CHECKPOINT_BYTES, TLOG_SIZE_CONTENT_TYPE, type AddCheckpointOutcome, type Witnesses } from "../witness/module.js";

export const WITNESS_ADD_CHECKPOINT_PATH = "/witness/add-checkpoint";

/**
 * Attesto as a C2SP tlog-witness: `POST /witness/add-checkpoint`, with the
 * spec's status codes (the submission prefix is `<base URL>/witness`). No
 * authentication beyond the checkpoint's signature, as the spec has it.
 */
export function mountWitnessRoutes(http: Hono, deps: { witnesses: Pick<Witnesses, "addCheckpoint"> }): void {
  http.post(WITNESS_ADD_CHECKPOINT_PATH, async (c) => {
    const body = await c.req.text();
    if (Buffer.byteLength(body) > MAX_ADD_CHECKPOINT_BYTES) {
      throw new AppError("payload_too_large", `an add-checkpoint body is at most ${MAX_ADD_CHECKPOINT_BYTES} bytes`, { reason: "PAYLOAD_TOO_LARGE", field: "body" });
    }
    const outcome = await deps.witnesses.addCheckpoint(body);
    const text = (status: 200 | 400 | 403 | 404 | 409 | 422, message: string, contentType = "text/plain; charset=utf-8") => c.body(message, status, { "Content-Type": contentType });
    switch (outcome.kind) {
      case "cosigned":
        return text(200, outcome.lines);
      case "malformed":
        return text(400, `${outcome.problem}\n`);
      case "not_a_witness":
        return text(404, "this deployment is not a witness (ATTESTO_WITNESS_KEY is not set)\n");
      case "unknown_origin":
        return text(404, "unknown log origin\n");
      case "no_trusted_signature":
        return text(403, "no signature by a trusted key of this log\n");
      case "size_mismatch":
        return text(409, `${outcome.size}\n`, TLOG_SIZE_CONTENT_TYPE);
      case "root_mismatch":
        return text(409, `a checkpoint of this size with another root was cosigned: fork evidence ${outcome.evidenceId}\n`);
      case "inconsistent":
        return text(422, `the consistency proof does not verify: fork evidence ${outcome.evidenceId}\n`);
      default:
        return assertNever(outcome);
    }
  });
}

function assertNever(outcome: never): never {
  throw new Error(`unhandled add-checkpoint outcome ${(outcome as AddCheckpointOutcome).kind}`);
}
