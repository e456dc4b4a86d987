import type { Db } from "../db/db.js";

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

/**
 * What the webhooks module uses of the Proofstreams facade to commit its
 * attempts (the deliveries Proofstream) and prove them: structurally the
 * facade's own methods, declared here so that webhooks, built before the
 * Proofstreams facade (which emits webhook events), imports nothing of it.
 */
export interface DeliveryProofstreams {
  createStream(tenantId: string, name: string, opts: { tx?: Db }): Promise<{ id: string }>;
  append(input: { tenantId: string; streamId: string; sourceRef: string; eventType: string; occurredAt: Date; payload: JsonObject }): Promise<{ event: { seqNo: number } }>;
  /** The event's C2SP tlog-proof against the latest checkpoint; FAILED_PRECONDITION while none covers it. */
  tlogProof(tenantId: string | undefined, streamId: string, seqNo: number): Promise<string>;
}
