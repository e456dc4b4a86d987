import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { connectorStats } from "./schema.js";
import type { Diagnostics } from "./types.js";

/** What one ingress request ended in. */
export type Outcome =
  | { kind: "accepted" | "duplicate" | "ping" | "ignored" }
  /** An authenticated failure the tenant must act on: sets the status. */
  | { kind: "auth_failed"; reason: "SECRET_RETIRED" | "OBJECT_STORE_DENIED" }
  /** A refused signature: anyone can send one, so it is counted (and a stale timestamp named) but sets no status. */
  | { kind: "unauthenticated"; reason?: "TIMESTAMP_STALE" }
  | { kind: "replay_conflict" }
  | { kind: "rejected"; reason: string };

interface Delta {
  accepted: number;
  duplicate: number;
  authFailure: number;
  replayConflict: number;
  rejected: number;
  ping: number;
  ignored: number;
  status?: "healthy" | "auth_failed" | "replay_conflict";
  statusAt?: Date;
  lastSuccessAt?: Date;
  lastSuccessKind?: string;
  lastFailureAt?: Date;
  lastFailureReason?: string;
}

const emptyDelta = (): Delta => ({ accepted: 0, duplicate: 0, authFailure: 0, replayConflict: 0, rejected: 0, ping: 0, ignored: 0 });

/**
 * Connector diagnostics without a write per request: outcomes add to an
 * in-memory delta per connector, and flush() writes all deltas in one
 * upsert (counters add up; each "latest" field keeps the later time, so
 * instances flushing in any order agree).
 */
export class ConnectorStats {
  #pending = new Map<string, Delta>();
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { db: Db; logger: Logger }) {}

  record(connectorId: string, outcome: Outcome, at = new Date()): void {
    let d = this.#pending.get(connectorId);
    if (!d) {
      d = emptyDelta();
      this.#pending.set(connectorId, d);
    }
    const status = (s: Delta["status"]) => {
      d.status = s;
      d.statusAt = at;
    };
    switch (outcome.kind) {
      case "accepted":
      case "duplicate":
      case "ping":
      case "ignored":
        if (outcome.kind === "accepted") d.accepted++;
        else if (outcome.kind === "duplicate") d.duplicate++;
        else if (outcome.kind === "ping") d.ping++;
        else d.ignored++;
        status("healthy");
        d.lastSuccessAt = at;
        d.lastSuccessKind = outcome.kind;
        return;
      case "auth_failed":
        d.authFailure++;
        status("auth_failed");
        d.lastFailureAt = at;
        d.lastFailureReason = outcome.reason;
        return;
      case "unauthenticated":
        d.authFailure++;
        if (outcome.reason) {
          d.lastFailureAt = at;
          d.lastFailureReason = outcome.reason;
        }
        return;
      case "replay_conflict":
        d.replayConflict++;
        status("replay_conflict");
        d.lastFailureAt = at;
        d.lastFailureReason = "replay_conflict";
        return;
      case "rejected":
        d.rejected++;
        d.lastFailureAt = at;
        d.lastFailureReason = outcome.reason;
        return;
    }
  }

  /** Writes the pending deltas (one statement); concurrent calls run one after another. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const iso = (d: Date | undefined) => d?.toISOString() ?? null;
    const rows = [...batch].map(([id, d]) => ({
      connector_id: id,
      accepted: d.accepted,
      duplicate: d.duplicate,
      auth_failure: d.authFailure,
      replay_conflict: d.replayConflict,
      rejected: d.rejected,
      ping: d.ping,
      ignored: d.ignored,
      status: d.status ?? null,
      status_at: iso(d.statusAt),
      last_success_at: iso(d.lastSuccessAt),
      last_success_kind: d.lastSuccessKind ?? null,
      last_failure_at: iso(d.lastFailureAt),
      last_failure_reason: d.lastFailureReason ?? null,
    }));
    try {
      await this.deps.db.execute(sql`
        INSERT INTO connector_stats AS s (connector_id, accepted_count, duplicate_count, auth_failure_count, replay_conflict_count, rejected_count,
          ping_count, ignored_count, status, status_at, last_success_at, last_success_kind, last_failure_at, last_failure_reason)
        SELECT r.connector_id, r.accepted, r.duplicate, r.auth_failure, r.replay_conflict, r.rejected, r.ping, r.ignored, r.status, r.status_at,
          r.last_success_at, r.last_success_kind, r.last_failure_at, r.last_failure_reason
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(connector_id text, accepted bigint, duplicate bigint, auth_failure bigint,
          replay_conflict bigint, rejected bigint, ping bigint, ignored bigint, status text, status_at timestamptz, last_success_at timestamptz,
          last_success_kind text, last_failure_at timestamptz, last_failure_reason text)
        WHERE EXISTS (SELECT 1 FROM connectors c WHERE c.id = r.connector_id)
        ON CONFLICT (connector_id) DO UPDATE SET
          accepted_count = s.accepted_count + excluded.accepted_count,
          duplicate_count = s.duplicate_count + excluded.duplicate_count,
          auth_failure_count = s.auth_failure_count + excluded.auth_failure_count,
          replay_conflict_count = s.replay_conflict_count + excluded.replay_conflict_count,
          rejected_count = s.rejected_count + excluded.rejected_count,
          ping_count = s.ping_count + excluded.ping_count,
          ignored_count = s.ignored_count + excluded.ignored_count,
          status = CASE WHEN s.status_at IS NULL OR excluded.status_at >= s.status_at THEN COALESCE(excluded.status, s.status) ELSE s.status END,
          status_at = GREATEST(s.status_at, excluded.status_at),
          last_success_kind = CASE WHEN s.last_success_at IS NULL OR excluded.last_success_at >= s.last_success_at
            THEN COALESCE(excluded.last_success_kind, s.last_success_kind) ELSE s.last_success_kind END,
          last_success_at = GREATEST(s.last_success_at, excluded.last_success_at),
          last_failure_reason = CASE WHEN s.last_failure_at IS NULL OR excluded.last_failure_at >= s.last_failure_at
            THEN COALESCE(excluded.last_failure_reason, s.last_failure_reason) ELSE s.last_failure_reason END,
          last_failure_at = GREATEST(s.last_failure_at, excluded.last_failure_at)`);
    } catch (err) {
      // Counts are diagnostics: losing a flush must not fail requests. Put them back for the next one.
      for (const [id, d] of batch) mergeInto(this.#pending, id, d);
      this.deps.logger.warn({ err: (err as Error).message, connectors: batch.size }, "could not flush connector diagnostics");
    }
  }

  /** The stored diagnostics of a connector (flush first to include this instance's pending outcomes). */
  async read(connectorId: string, revoked: boolean): Promise<Diagnostics> {
    const [row] = await this.deps.db.select().from(connectorStats).where(eq(connectorStats.connectorId, connectorId)).limit(1);
    return {
      connectorId,
      status: revoked ? "revoked" : (row?.status ?? "idle"),
      lastSuccessAt: row?.lastSuccessAt ?? null,
      lastSuccessKind: row?.lastSuccessKind ?? "",
      lastFailureAt: row?.lastFailureAt ?? null,
      lastFailureReason: row?.lastFailureReason ?? "",
      counters: {
        accepted: row?.acceptedCount ?? 0,
        duplicate: row?.duplicateCount ?? 0,
        authFailure: row?.authFailureCount ?? 0,
        replayConflict: row?.replayConflictCount ?? 0,
        rejected: row?.rejectedCount ?? 0,
        ping: row?.pingCount ?? 0,
        ignored: row?.ignoredCount ?? 0,
      },
    };
  }
}

function mergeInto(pending: Map<string, Delta>, id: string, older: Delta): void {
  const d = pending.get(id);
  if (!d) {
    pending.set(id, older);
    return;
  }
  for (const k of ["accepted", "duplicate", "authFailure", "replayConflict", "rejected", "ping", "ignored"] as const) d[k] += older[k];
  if (!d.statusAt) Object.assign(d, { status: older.status, statusAt: older.statusAt });
  if (!d.lastSuccessAt) Object.assign(d, { lastSuccessAt: older.lastSuccessAt, lastSuccessKind: older.lastSuccessKind });
  if (!d.lastFailureAt) Object.assign(d, { lastFailureAt: older.lastFailureAt, lastFailureReason: older.lastFailureReason });
}
