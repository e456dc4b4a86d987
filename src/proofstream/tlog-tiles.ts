import { and, asc, eq, gt, lte } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import { checkpointOf } from "./checkpoints.js";
import { decodeTileIndex, hashesAtLevel, TILE_WIDTH } from "./merkle/tiles.js";
import { streamEvents, streams } from "./schema.js";
import type { StreamRow } from "./streams.js";
import type { TileCache } from "./tile-cache.js";

const STREAM_ID = /^str_[0-9A-HJKMNP-TV-Z]{26}$/;
/** `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in C2SP's x-grouped form. */
const TILE_PATH = /^(entries|[0-9]{1,2})\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([0-9]{1,3}))?$/;

/** A tile as served: its bytes and whether it is full (full tiles never change). */
export interface ServedTile {
  body: Buffer;
  full: boolean;
}

/**
 * Each stream as a C2SP tlog-tiles log: the latest checkpoint, hash tiles
 * and entry bundles (leaf bytes, uint16 length prefixed). `tenantId`
 * undefined reads any tenant's stream (the read path is public when so
 * configured).
 */
export class TlogTiles {
  constructor(private readonly deps: { db: Db; tileCache: TileCache }) {}

  async #stream(streamId: string, tenantId: string | undefined): Promise<StreamRow> {
    if (!STREAM_ID.test(streamId)) throw notFound("stream");
    const [stream] = await this.deps.db
      .select()
      .from(streams)
      .where(and(eq(streams.id, streamId), tenantId ? eq(streams.tenantId, tenantId) : undefined))
      .limit(1);
    if (!stream) throw notFound("stream");
    return stream;
  }

  /** The tenant a stream belongs to (not found when it does not exist). */
  async ownerOf(streamId: string): Promise<string> {
    return (await this.#stream(streamId, undefined)).tenantId;
  }

  /** The latest signed checkpoint note, with its witness cosignature lines. */
  async checkpoint(streamId: string, tenantId: string | undefined): Promise<string> {
    const checkpoint = await checkpointOf(this.deps.db, await this.#stream(streamId, tenantId));
    if (!checkpoint) throw notFound("checkpoint");
    return checkpoint.note;
  }

  /** A hash tile or entry bundle by its C2SP path below `tile/`. */
  async tile(streamId: string, tenantId: string | undefined, path: string): Promise<ServedTile> {
    const stream = await this.#stream(streamId, tenantId);
    const match = TILE_PATH.exec(path);
    const index = match ? decodeTileIndex(match[2]!) : undefined;
    const width = match?.[3] !== undefined ? Number(match[3]) : TILE_WIDTH;
    if (!match || index === undefined || width < 1 || width > TILE_WIDTH || (match[3] !== undefined && width === TILE_WIDTH)) throw notFound("tile");
    const body = match[1] === "entries" ? await this.#entryBundle(stream, index, width) : await this.#hashTile(stream, Number(match[1]), index, width);
    if (!body) throw notFound("tile");
    return { body, full: width === TILE_WIDTH };
  }

  async #hashTile(stream: StreamRow, level: number, index: number, width: number): Promise<Buffer | undefined> {
    if (index * TILE_WIDTH + width > hashesAtLevel(stream.treeSize, level)) return undefined;
    return this.deps.tileCache.tile(this.deps.db, stream.id, { level, index }, width);
  }

  async #entryBundle(stream: StreamRow, index: number, width: number): Promise<Buffer | undefined> {
    const first = index * TILE_WIDTH;
    if (first + width > stream.treeSize) return undefined;
    const rows = await this.deps.db
      .select({ leaf: streamEvents.leaf })
      .from(streamEvents)
      .where(and(eq(streamEvents.streamId, stream.id), gt(streamEvents.seqNo, first), lte(streamEvents.seqNo, first + width)))
      .orderBy(asc(streamEvents.seqNo));
    if (rows.length !== width) return undefined;
    return Buffer.concat(
      rows.flatMap(({ leaf }) => {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(leaf.length);
        return [length, leaf];
      }),
    );
  }
}
