import { sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import { edgeFromTiles, type RightEdge } from "./merkle/right-edge.js";
import { levelZeroHashes } from "./level-zero-sql.js";

/** What an append needs of a stream: its owner and the right edge of its tree (the size with it). */
export interface StreamState {
  tenantId: string;
  edge: RightEdge;
}

/** The warm set's size and hit rate, for /metrics. */
export interface WarmStreamStats {
  streams: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
}

/**
 * Bytes a state holds beyond its hashes and strings: the object, the
 * Buffer and the cache's per-entry slots (an estimate; measured as
 * heap growth over 100,000 entries of 3-event streams: 437 bytes each,
 * 440 estimated).
 */
const ENTRY_OVERHEAD = 256;

const stateBytes = (streamId: string, s: StreamState) => ENTRY_OVERHEAD + 2 * (streamId.length + s.tenantId.length) + s.edge.hashes.length;

/**
 * The states of the streams this process appends to, in an LRU bounded by
 * bytes: a stream that falls out costs one shared read on its next append.
 * Reads are batched and started as appends arrive: every stream missing
 * from memory that arrives while a read is in flight is read by the next
 * one statement, and that read overlaps the commit before it, so a batch
 * of cold streams waits little more than a batch of warm ones.
 */
export class WarmStreams {
  readonly #lru: LRUCache<string, StreamState>;
  /** Reads of streams not in memory, queued or in flight, until they settle. */
  readonly #reads = new Map<string, Promise<StreamState | null>>();
  #queued = new Map<string, { resolve(state: StreamState | null): void; reject(err: unknown): void }>();
  #reading = false;
  #hits = 0;
  #misses = 0;

  constructor(
    private readonly db: Db,
    readonly maxBytes: number,
  ) {
    this.#lru = new LRUCache({ maxSize: maxBytes, sizeCalculation: (state, streamId) => stateBytes(streamId, state) });
  }

  /** Starts reading the stream's state unless it is in memory or on its way. */
  prefetch(streamId: string): void {
    // A failed read is reported to the commit that awaits the same read; the prefetch itself only starts it.
    if (!this.#lru.has(streamId)) this.#read(streamId).catch(() => {});
  }

  #read(streamId: string): Promise<StreamState | null> {
    const running = this.#reads.get(streamId);
    if (running) return running;
    const read = new Promise<StreamState | null>((resolve, reject) => this.#queued.set(streamId, { resolve, reject }));
    this.#reads.set(streamId, read);
    const settled = () => this.#reads.delete(streamId);
    // Whoever needs it handles a failure; a read nobody took must not end the process.
    read.then(settled, settled);
    if (this.#queued.size === 1 && !this.#reading) setImmediate(() => void this.#pump());
    return read;
  }

  /**
   * Each stream's state for a commit: from memory, else from its read
   * (started now if it was not). `null`: no such stream; undefined: the
   * read failed (the caller's locked path finds out why). A read that
   * started before this process's last commit of the stream may be stale;
   * the commit's compare-and-swap on the size catches that.
   */
  async states(streamIds: readonly string[]): Promise<Map<string, StreamState | null | undefined>> {
    const out = new Map<string, StreamState | null | undefined>();
    const waiting: Array<Promise<unknown>> = [];
    for (const id of streamIds) {
      const cached = this.#lru.get(id);
      if (cached) {
        this.#hits++;
        out.set(id, cached);
      } else {
        this.#misses++;
        waiting.push(
          this.#read(id).then(
            (state) => out.set(id, state),
            () => out.set(id, undefined),
          ),
        );
      }
    }
    await Promise.all(waiting);
    return out;
  }

  set(streamId: string, state: StreamState): void {
    this.#lru.set(streamId, state);
  }

  /**
   * Sets the state unless the one held is of a larger tree: trees only
   * grow, and a background integration that read the stream before this
   * process's own commit must not take the edge back.
   */
  advance(streamId: string, state: StreamState): void {
    const held = this.#lru.get(streamId);
    if (!held || held.edge.size < state.edge.size) this.#lru.set(streamId, state);
  }

  delete(streamId: string): void {
    this.#lru.delete(streamId);
  }

  stats(): WarmStreamStats {
    return { streams: this.#lru.size, bytes: this.#lru.calculatedSize, maxBytes: this.maxBytes, hits: this.#hits, misses: this.#misses };
  }

  /** One statement for every queued stream, then the next batch of them. */
  async #pump(): Promise<void> {
    if (this.#reading || this.#queued.size === 0) return;
    this.#reading = true;
    const batch = this.#queued;
    this.#queued = new Map();
    try {
      const states = await readStreamStates(this.db, [...batch.keys()]);
      for (const [id, waiter] of batch) waiter.resolve(states.get(id) ?? null);
    } catch (err) {
      for (const waiter of batch.values()) waiter.reject(err);
    } finally {
      this.#reading = false;
      void this.#pump();
    }
  }
}

/**
 * The states of many streams in one statement: each stream row with the
 * incomplete tile of each of its levels (at most seven: level 0's from the
 * leaf hashes of its events, the others' rows found by primary key), from
 * one snapshot, so size and tiles agree. Streams that do
 * not exist are absent.
 */
export async function readStreamStates(db: Db, streamIds: readonly string[]): Promise<Map<string, StreamState>> {
  const rows = await db.execute<{ id: string; tenant_id: string; tree_size: string | number; level: number | null; hashes: Buffer | null }>(sql`
    SELECT s.id, s.tenant_id, s.tree_size, p.level, p.hashes
    FROM streams s
    LEFT JOIN LATERAL (
      SELECT l.level, t.hashes FROM generate_series(1, 6) AS l(level)
      JOIN tiles t ON t.stream_id = s.id AND t.level = l.level AND t.idx = s.tree_size >> (8 * (l.level + 1))
      WHERE (s.tree_size >> (8 * l.level)) & 255 <> 0
      UNION ALL
      SELECT 0, ${levelZeroHashes(sql`s.id`, sql`(s.tree_size >> 8)`, sql`(s.tree_size & 255)`)} WHERE s.tree_size & 255 <> 0
    ) p ON true
    WHERE s.id IN (SELECT jsonb_array_elements_text(${JSON.stringify(streamIds)}::jsonb))`);
  const byStream = new Map<string, { tenantId: string; size: number; tiles: Map<number, Buffer> }>();
  for (const row of rows) {
    let stream = byStream.get(row.id);
    if (!stream) byStream.set(row.id, (stream = { tenantId: row.tenant_id, size: Number(row.tree_size), tiles: new Map() }));
    if (row.level !== null && row.hashes) stream.tiles.set(Number(row.level), row.hashes);
  }
  const states = new Map<string, StreamState>();
  for (const [id, { tenantId, size, tiles }] of byStream) {
    try {
      states.set(id, { tenantId, edge: edgeFromTiles(size, (level) => tiles.get(level)) });
    } catch (err) {
      throw new AppError("internal", `stream ${id}: ${(err as Error).message}`);
    }
  }
  return states;
}
