import { createHash } from "node:crypto";
import { and, eq, gt, lte, sql } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { isUniqueViolation } from "../db/errors.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { requestIds } from "./schema.js";
import { SECRET_CONTEXT } from "./sealed.js";
import type { RequestIdSettings } from "./settings.js";

/** One Create call's request id: who sent it, to which RPC, and what it asked. */
/** Where this module keeps values sealed with the keyring (`attesto reseal`). */
export { sealedColumns } from "./sealed.js";
export interface RequestKey {
  scope: string;
  method: string;
  requestId: string;
  /** The request's other fields, in any stable form (hashed, never stored). */
  request: unknown;
}

/** What a Create stores so a retry can answer the same. */
export interface Created<T> {
  result: T;
  resourceId: string;
  /** The one-time secret the answer showed, if any. */
  secret?: string;
}

/**
 * Create calls made at most once per request_id (AIP-155). The first call
 * creates the resource and records, in the same transaction, its id and
 * sealed one-time secret; a retry within the window answers from that
 * record (the resource re-read, the secret unsealed) instead of creating a
 * second resource whose secret would be lost with the first answer.
 * Concurrent retries race on the primary key: one creates, the others read
 * what it recorded.
 */
export class RequestIds {
  #purge: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { db: Db; keyring: Keyring; logger: Logger },
    readonly settings: RequestIdSettings,
  ) {}

  async start(): Promise<void> {
    this.#purge = setInterval(() => {
      this.deps.db
        .delete(requestIds)
        .where(lte(requestIds.createdAt, this.#windowStart()))
        .catch((err: unknown) => this.deps.logger.warn({ err: String(err) }, "request id purge failed"));
    }, this.settings.purgeEveryMs);
    this.#purge.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#purge);
  }

  /**
   * Runs `create` (inside a transaction) unless `key` was seen within the
   * window; then answers `replay(resourceId, secret)` instead. Without a key
   * it just creates.
   */
  async once<T>(key: RequestKey | undefined, create: (tx: Db) => Promise<Created<T>>, replay: (resourceId: string, secret: string | undefined) => Promise<T>): Promise<T> {
    if (!key) return (await create(this.deps.db)).result;
    const fingerprint = createHash("sha256").update(JSON.stringify(key.request)).digest("hex");
    const earlier = await this.#find(key, fingerprint);
    if (earlier) return replay(earlier.resourceId, earlier.secret);
    try {
      return await this.deps.db.transaction(async (tx) => {
        // An expired row of the same id would block the insert: it is forgotten now.
        await tx.delete(requestIds).where(and(this.#keyIs(key), lte(requestIds.createdAt, this.#windowStart())));
        const created = await create(tx as unknown as Db);
        await tx.insert(requestIds).values({
          scope: key.scope,
          method: key.method,
          requestId: key.requestId,
          fingerprint,
          resourceId: created.resourceId,
          secretEnc: created.secret ? this.deps.keyring.encrypt(SECRET_CONTEXT, created.secret, this.#aad(key)) : null,
        });
        return created.result;
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // A concurrent call with the same id won the race: answer what it recorded.
      const winner = await this.#find(key, fingerprint);
      if (!winner) throw err;
      return replay(winner.resourceId, winner.secret);
    }
  }

  async #find(key: RequestKey, fingerprint: string): Promise<{ resourceId: string; secret: string | undefined } | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(requestIds)
      .where(and(this.#keyIs(key), gt(requestIds.createdAt, this.#windowStart())))
      .limit(1);
    if (!row) return undefined;
    if (row.fingerprint !== fingerprint) {
      throw new AppError("already_exists", `request_id was already used for another ${key.method} request`, { field: "request_id", reason: "REQUEST_ID_REUSED" });
    }
    return { resourceId: row.resourceId, secret: row.secretEnc ? this.deps.keyring.decryptText(SECRET_CONTEXT, row.secretEnc, this.#aad(key)) : undefined };
  }

  #keyIs(key: RequestKey) {
    return and(eq(requestIds.scope, key.scope), eq(requestIds.method, key.method), eq(requestIds.requestId, key.requestId));
  }

  #windowStart() {
    return sql`now() - make_interval(secs => ${this.settings.windowMs / 1000})`;
  }

  #aad(key: RequestKey): string {
    return `${key.scope}/${key.method}/${key.requestId}`;
  }
}

/**
 * `requestIds.once(...)` for modules built with or without the store (the
 * CLI builds them without: an operator at the console needs no retries);
 * without a request id or a store it just creates.
 */
export function createOnce<T>(
  requestIds: RequestIds | undefined,
  db: Db,
  key: RequestKey | undefined,
  create: (tx: Db) => Promise<Created<T>>,
  replay: (resourceId: string, secret: string | undefined) => Promise<T>,
): Promise<T> {
  if (!requestIds || !key?.requestId) return create(db).then((c) => c.result);
  return requestIds.once(key, create, replay);
}
