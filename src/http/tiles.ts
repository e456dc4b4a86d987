import { and, asc, eq, gt, lte } from "drizzle-orm";
import type { Context, Hono } from "hono";
import type { Db } from "../db/db.js";
import { events, streams } from "../db/schema.js";
import { invalidArgument, notFound } from "../errors.js";
import { checkpointOf } from "../proofstream/checkpoints.js";
import { decodeTileIndex, hashesAtLevel, TILE_WIDTH } from "../proofstream/merkle/tiles.js";
import type { Proofstreams } from "../proofstream/module.js";
import { inclusionProof } from "../proofstream/proofs.js";
import { tlogProofOf } from "../proofstream/tlog-proof.js";
import type { Authenticator } from "../tenancy/authenticator.js";

const STREAM_ID = /^str_[0-9A-HJKMNP-TV-Z]{26}$/;
/** `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in C2SP's x-grouped form. */
const TILE_PATH = /^(entries|[0-9]{1,2})\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([0-9]{1,3}))?$/;

/**
 * Each stream as a C2SP tlog-tiles log under /proofstreams/<id>/: the latest
 * checkpoint, hash tiles and entry bundles (leaf bytes, uint16 length
 * prefixed), plus each event's C2SP tlog-proof at proof/<seq_no>. Public,
 * or for the owning tenant's key, as configured.
 */
export function mountTileRoutes(http: Hono, deps: { db: Db; proofstreams: Proofstreams; authenticator: Authenticator; public: boolean }): void {
  const { db } = deps;

  const streamFor = async (c: Context) => {
    const id = c.req.param("streamId") ?? "";
    if (!STREAM_ID.test(id)) throw notFound("stream");
    const tenantId = deps.public ? undefined : (await deps.authenticator.requireTenant(c.req.header("authorization"))).tenantId;
    const [stream] = await db
      .select()
      .from(streams)
      .where(and(eq(streams.id, id), tenantId ? eq(streams.tenantId, tenantId) : undefined))
      .limit(1);
    if (!stream) throw notFound("stream");
    return stream;
  };

  // Errors thrown here are answered by the app's one error handler.
  http.get("/proofstreams/:streamId/checkpoint", async (c) => {
    const checkpoint = await checkpointOf(db, await streamFor(c));
    if (!checkpoint) throw notFound("checkpoint");
    c.header("Cache-Control", "no-cache");
    return c.body(checkpoint.note, 200, { "Content-Type": "text/plain; charset=utf-8" });
  });

  // One event's C2SP tlog-proof against the latest checkpoint (DESIGN section 5), same access as the tiles.
  http.get("/proofstreams/:streamId/proof/:seqNo", async (c) => {
    const stream = await streamFor(c);
    const seqNo = /^[1-9][0-9]{0,15}$/.test(c.req.param("seqNo")) ? Number(c.req.param("seqNo")) : NaN;
    if (!Number.isSafeInteger(seqNo)) throw invalidArgument("seq_no", "must be a positive integer");
    const proof = await inclusionProof(db, deps.proofstreams, stream.tenantId, stream.id, { seqNo });
    c.header("Cache-Control", "no-cache");
    c.header("Content-Disposition", `attachment; filename="${stream.id}-${seqNo}.tlog-proof"`);
    return c.body(await tlogProofOf(db, stream.id, proof), 200, { "Content-Type": "text/plain; charset=utf-8" });
  });

  http.get("/proofstreams/:streamId/tile/*", async (c) => {
    const stream = await streamFor(c);
      const rest = c.req.path.slice(c.req.path.indexOf("/tile/") + "/tile/".length);
      const match = TILE_PATH.exec(rest);
      const index = match ? decodeTileIndex(match[2]!) : undefined;
      const width = match?.[3] !== undefined ? Number(match[3]) : TILE_WIDTH;
      if (!match || index === undefined || width < 1 || width > TILE_WIDTH || (match[3] !== undefined && width === TILE_WIDTH)) throw notFound("tile");
      const body = match[1] === "entries" ? await entryBundle(db, stream.id, stream.treeSize, index, width) : await hashTile(deps.proofstreams, db, stream, Number(match[1]), index, width);
      if (!body) throw notFound("tile");
      // Full tiles never change; partial ones are immutable too once served, but get replaced by wider ones.
      c.header("Cache-Control", width === TILE_WIDTH ? "public, max-age=31536000, immutable" : "public, max-age=60");
      return c.body(new Uint8Array(body), 200, { "Content-Type": "application/octet-stream" });
  });
}

async function hashTile(proofstreams: Proofstreams, db: Db, stream: { id: string; treeSize: number }, level: number, index: number, width: number): Promise<Buffer | undefined> {
  if (index * TILE_WIDTH + width > hashesAtLevel(stream.treeSize, level)) return undefined;
  return proofstreams.tileStore.tile(db, stream.id, { level, index }, width);
}

async function entryBundle(db: Db, streamId: string, treeSize: number, index: number, width: number): Promise<Buffer | undefined> {
  const first = index * TILE_WIDTH;
  if (first + width > treeSize) return undefined;
  const rows = await db
    .select({ leaf: events.leaf })
    .from(events)
    .where(and(eq(events.streamId, streamId), gt(events.seqNo, first), lte(events.seqNo, first + width)))
    .orderBy(asc(events.seqNo));
  if (rows.length !== width) return undefined;
  return Buffer.concat(
    rows.flatMap(({ leaf }) => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(leaf.length);
      return [length, leaf];
    }),
  );
}
