import type { Db } from "./db/db.js";

/**
 * Where domain modules announce what happened (`proofstream.checkpointed`,
 * `proofstream.fork_detected`, ...). `emit` runs inside the caller's
 * transaction, so the announcement commits or rolls back with the change;
 * the webhooks module implements it with its outbox.
 */
export interface DomainEventSink {
  emit(tx: Db, tenantId: string, type: string, data: Record<string, unknown>): Promise<void>;
}
