import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { normalizeDbError, withDbErrors } from "../db/errors.js";
import { checkStorableText } from "../db/storable.js";
import { streams } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { newId } from "../ids.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import { requireActiveTenant } from "../tenancy/module.js";
import { algorithmName, newStreamKey, newStreamMlDsaKey, StreamKeys, type NewStreamKey, type StreamKeyHistoryEntry } from "./keys.js";
import { checkKeyName, verifierKeyString } from "./note.js";

export type StreamRow = typeof streams.$inferSelect;

export interface Stream extends StreamRow {
  verifierKey: string;
  previousVerifierKeys: string[];
  /** The current ML-DSA-44 verifier key; empty when the stream signs with Ed25519 alone. */
  mlDsa44VerifierKey: string;
  /** Every key the stream has had, oldest first, with the tree size each took over after and the rotation statement that made it. */
  keyHistory: StreamKeyHistoryEntry[];
}

/** What a new stream is made of. */
export interface NewStreamInput {
  tenantId: string;
  name: string;
  publicBaseUrl: string;
  /** Also sign checkpoints with an ML-DSA-44 key. */
  mlDsa44?: boolean;
}

/** `<public host>/proofstreams/<stream id>`: the checkpoint origin and note key name. */
export function originOf(publicBaseUrl: string, streamId: string): string {
  const origin = `${new URL(publicBaseUrl).host}/proofstreams/${streamId}`;
  checkKeyName(origin);
  return origin;
}

interface NewStream {
  row: Omit<StreamRow, "createdAt">;
  /** The Ed25519 key, then the ML-DSA-44 key when asked for. */
  keys: NewStreamKey[];
}

/** A stream's row and its sealed keys, made in this process (the key pairs are the one cost that cannot be shared). */
function newStream(keyring: Keyring, opts: NewStreamInput): NewStream {
  checkStorableText(opts.name, "name");
  const id = newId("str");
  const origin = originOf(opts.publicBaseUrl, id);
  const keys = [newStreamKey(keyring, id, origin)];
  if (opts.mlDsa44) keys.push(newStreamMlDsaKey(keyring, id, origin));
  return { row: { id, tenantId: opts.tenantId, name: opts.name, origin, treeSize: 0, unintegrated: 0, checkpointSize: 0, keyGeneration: 0 }, keys };
}

/**
 * Streams with their keys in one statement (one round trip, one commit):
 * only those of an active tenant are inserted; returns when each inserted
 * one was created.
 */
async function insertStreams(db: Db, made: readonly NewStream[]): Promise<Map<string, Date>> {
  const json = JSON.stringify(
    made.map(({ row, keys }) => ({
      id: row.id,
      tenant_id: row.tenantId,
      name: row.name,
      origin: row.origin,
      keys: keys.map((key) => ({ key_id: key.keyId, algorithm: key.algorithm, public_key: key.publicKey.toString("hex"), private_key_enc: key.privateKeyEnc.toString("hex") })),
    })),
  );
  // The keys' foreign key is checked at the end of the statement, when the streams are in.
  const rows = await db.execute<{ id: string; created_at: Date | string }>(sql`
    WITH want AS (
      SELECT * FROM jsonb_to_recordset(${json}::jsonb) AS w(id text, tenant_id text, name text, origin text, keys jsonb)
    ), new_streams AS (
      INSERT INTO streams (id, tenant_id, name, origin)
      SELECT w.id, w.tenant_id, w.name, w.origin FROM want w JOIN tenants t ON t.id = w.tenant_id AND t.active
      RETURNING id, created_at
    ), new_keys AS (
      INSERT INTO stream_keys (stream_id, key_id, algorithm, public_key, private_key_enc)
      SELECT w.id, k.key_id, k.algorithm, decode(k.public_key, 'hex'), decode(k.private_key_enc, 'hex')
      FROM want w JOIN new_streams s ON s.id = w.id
      CROSS JOIN LATERAL jsonb_to_recordset(w.keys) AS k(key_id int, algorithm smallint, public_key text, private_key_enc text)
    )
    SELECT id, created_at FROM new_streams`);
  return new Map(rows.map((r) => [r.id, new Date(r.created_at)]));
}

/** The answer for a stream just inserted: what getStream would read, without reading it. */
const created = ({ row, keys }: NewStream, createdAt: Date): Stream => ({
  ...row,
  createdAt,
  verifierKey: verifierKeyString(row.origin, keys[0]!.publicKey),
  previousVerifierKeys: [],
  mlDsa44VerifierKey: keys[1] ? verifierKeyString(row.origin, keys[1].publicKey, keys[1].algorithm) : "",
  // The keys' rows take the statement's time (now() of one statement), which is the stream's.
  keyHistory: keys.map((k) => ({
    verifierKey: verifierKeyString(row.origin, k.publicKey, k.algorithm),
    algorithm: algorithmName(k.algorithm),
    generation: 0,
    takesOverAfter: 0,
    createdAt,
    retiredAt: null,
    rotationStatement: "",
  })),
});

/** Why a tenant's streams were not inserted: missing or deactivated. */
async function refused(db: Db, tenantId: string): Promise<AppError> {
  try {
    await requireActiveTenant(db, tenantId);
    return new AppError("internal", "the stream was not created");
  } catch (err) {
    return normalizeDbError(err);
  }
}

/** A new stream with its own signing key, in one statement (inside `db` when it is a transaction). */
export async function createStream(db: Db, keyring: Keyring, opts: NewStreamInput): Promise<Stream> {
  const made = newStream(keyring, opts);
  const inserted = await withDbErrors(() => insertStreams(db, [made]));
  const createdAt = inserted.get(made.row.id);
  if (!createdAt) throw await refused(db, opts.tenantId);
  return created(made, createdAt);
}

/**
 * CreateStream with group commit, as appends have it: while one insert
 * runs, the streams asked for meanwhile (of any tenants) gather, and the
 * next statement inserts them all. A name PostgreSQL would refuse fails
 * before it joins a batch; a tenant that is missing or deactivated fails
 * only its own streams.
 */
export class StreamCreator {
  #pending: Array<{ made: NewStream; resolve(stream: Stream): void; reject(err: unknown): void }> = [];
  #running = false;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly maxBatch = 512,
  ) {}

  create(opts: NewStreamInput): Promise<Stream> {
    let made: NewStream;
    try {
      made = newStream(this.keyring, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ made, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.maxBatch);
      try {
        const inserted = await insertStreams(
          this.db,
          batch.map((p) => p.made),
        );
        const refusals = new Map<string, Promise<AppError>>();
        for (const p of batch) {
          const createdAt = inserted.get(p.made.row.id);
          if (createdAt) {
            p.resolve(created(p.made, createdAt));
            continue;
          }
          const { tenantId } = p.made.row;
          if (!refusals.has(tenantId)) refusals.set(tenantId, refused(this.db, tenantId));
          void refusals.get(tenantId)!.then((err) => p.reject(err));
        }
      } catch (err) {
        const error = normalizeDbError(err);
        for (const p of batch) p.reject(error);
      }
    }
    this.#running = false;
  }
}

/** The stream row, only for its own tenant: another tenant's stream is not found. */
export async function getStreamRow(db: Db, tenantId: string, streamId: string): Promise<StreamRow> {
  const [row] = await db
    .select()
    .from(streams)
    .where(and(eq(streams.id, streamId), eq(streams.tenantId, tenantId)))
    .limit(1);
  if (!row) throw notFound("stream");
  return row;
}

export async function getStream(db: Db, tenantId: string, streamId: string): Promise<Stream> {
  return withKeys(db, await getStreamRow(db, tenantId, streamId));
}

/** Newest first. */
export async function listStreams(db: Db, tenantId: string, page: { pageSize?: number; pageToken?: string }): Promise<{ streams: Stream[]; nextPageToken: string }> {
  const win = pageWindow(page);
  const { fetch, after: before } = win;
  const rows = await db
    .select()
    .from(streams)
    .where(and(eq(streams.tenantId, tenantId), before ? lt(streams.id, before) : undefined))
    .orderBy(desc(streams.id))
    .limit(fetch);
  const { items, nextPageToken } = pageOf(rows, win, (r) => r.id);
  return { streams: await Promise.all(items.map((r) => withKeys(db, r))), nextPageToken };
}

async function withKeys(db: Db, row: StreamRow): Promise<Stream> {
  const keys = await StreamKeys.verifierKeys(db, row.id, row.origin);
  // The events appended: those sequenced on a contended stream count before the background integration hashes them into the tree.
  return { ...row, treeSize: row.treeSize + row.unintegrated, verifierKey: keys.current, previousVerifierKeys: keys.previous, mlDsa44VerifierKey: keys.mlDsa44, keyHistory: keys.history };
}
