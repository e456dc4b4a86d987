import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { validationAudit } from "./schema.js";

/** Keyring HMAC context of identifier hashes (HKDF info "hmac/validation_audit.identifier"). */
export const AUDIT_IDENTIFIER_CONTEXT = "validation_audit.identifier";
/** Rows per INSERT statement. */
const BATCH_ROWS = 500;

export type AuditSource = "apple" | "google";

/** What a verification handler reports, after its answer is sent. */
export interface AuditEntry {
  tenantId: string;
  source: AuditSource;
  /** Apple transaction id or Google purchase token; only its keyed hash is kept. */
  identifier: string;
  valid: boolean;
  /** The store's error code when not valid (e.g. Apple's 4040010). */
  errorCode?: string | null;
  latencyMs: number;
  occurredAt?: Date;
}

export interface ValidationAuditSettings {
  enabled: boolean;
  /** Rows held in memory at most; a row past it is dropped and counted. */
  queueSize: number;
  flushIntervalMs: number;
  /** How long close() waits for the last rows to be written. */
  closeTimeoutMs?: number;
}

export interface ValidationAuditStats {
  /** Rows waiting in memory. */
  queued: number;
  /** Rows written since start. */
  written: number;
  /** Rows lost since start: queue full, or their batch failed to insert. */
  dropped: number;
}

type Row = typeof validationAudit.$inferInsert;

/**
 * The validation audit log: `record()` hashes the identifier and queues a row
 * synchronously, and never throws; a background loop writes queued rows in
 * batches (one INSERT per batch). Nothing here can fail or slow a
 * verification: a full queue drops the row, a failed batch is dropped, and
 * both are counted (stats(), exported on /metrics).
 */
export class ValidationAudit {
  readonly #queue: Row[] = [];
  #written = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failing = false;
  #started = false;

  constructor(
    private readonly deps: { db: Db; keyring: Keyring; logger: Logger },
    readonly settings: ValidationAuditSettings,
  ) {}

  /** Hex HMAC-SHA-256 of `tenantId:source:identifier` under the audit subkey. */
  identifierHash(tenantId: string, source: AuditSource, identifier: string): string {
    return this.deps.keyring.hmacHex(AUDIT_IDENTIFIER_CONTEXT, `${tenantId}:${source}:${identifier}`);
  }

  stats(): ValidationAuditStats {
    return { queued: this.#queue.length, written: this.#written, dropped: this.#dropped };
  }

  start(): void {
    if (!this.settings.enabled || this.#started) return;
    this.#started = true;
    this.#timer = setInterval(() => this.#kick(), this.settings.flushIntervalMs);
    this.#timer.unref();
  }

  /** Queues one row; synchronous, never throws, a no-op when the log is off. */
  record(entry: AuditEntry): void {
    if (!this.#started) return;
    try {
      if (this.#queue.length >= this.settings.queueSize) {
        this.#dropped++;
        return;
      }
      this.#queue.push({
        tenantId: entry.tenantId,
        source: entry.source,
        identifierHash: this.identifierHash(entry.tenantId, entry.source, entry.identifier),
        valid: entry.valid,
        errorCode: entry.errorCode ?? null,
        latencyMs: Math.max(0, Math.min(2_147_483_647, Math.round(entry.latencyMs))) || 0,
        occurredAt: entry.occurredAt ?? new Date(),
      });
      // A full batch goes out without waiting for the timer.
      if (this.#queue.length >= BATCH_ROWS) setImmediate(() => this.#kick());
    } catch {
      this.#dropped++;
    }
  }

  /** Stops the timer and writes what is queued, waiting at most closeTimeoutMs; rows left are counted as dropped. */
  async close(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    clearInterval(this.#timer);
    const drained = (async () => {
      while (this.#flushing) await this.#flushing;
      while (this.#queue.length > 0 && !this.#failing) await this.#flushOnce();
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.settings.closeTimeoutMs ?? 5_000)))]);
    clearTimeout(timer);
    this.#dropped += this.#queue.splice(0).length;
  }

  /** Writes everything queued now (tests and shutdown); resolves when the batches are written or dropped. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    while (this.#queue.length > 0) await this.#flushOnce();
  }

  #kick(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    void this.#flushOnce();
  }

  #flushOnce(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const batch = this.#queue.splice(0, BATCH_ROWS);
    this.#flushing = (async () => {
      try {
        await this.deps.db.insert(validationAudit).values(batch);
        this.#written += batch.length;
        if (this.#failing) {
          this.#failing = false;
          this.deps.logger.info("validation audit: writing again");
        }
      } catch (err) {
        this.#dropped += batch.length;
        if (!this.#failing) {
          this.#failing = true;
          // The driver's error code only: a failed query's message would carry the row values.
          this.deps.logger.warn({ code: errorCodeOf(err) }, "validation audit: a batch could not be written; rows are dropped and counted until writes succeed");
        }
      } finally {
        this.#flushing = undefined;
      }
      // More than a batch was waiting: keep going.
      if (this.#queue.length >= BATCH_ROWS) this.#kick();
    })();
    return this.#flushing;
  }
}

function errorCodeOf(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return String(e.cause?.code ?? e.code ?? "unknown");
}
