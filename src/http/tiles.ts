import type { Context, Hono } from "hono";
import type { Proofstreams } from "../proofstream/module.js";
import { invalidArgument } from "../errors.js";
import type { Authenticator } from "../tenancy/module.js";

/**
 * Each stream as a C2SP tlog-tiles log under /proofstreams/<id>/: the latest
 * checkpoint, hash tiles and entry bundles (leaf bytes, uint16 length
 * prefixed), plus each event's C2SP tlog-proof at proof/<seq_no>. Public,
 * or for the owning tenant's key, as configured.
 */
/** What the tile routes read: the tlog-tiles reads and proofs of Proofstreams. */
export interface TileReads {
  tiles: Pick<Proofstreams["tiles"], "checkpoint" | "tile">;
  tlogProof: Proofstreams["tlogProof"];
}

export function mountTileRoutes(http: Hono, deps: { proofstreams: TileReads; authenticator: Pick<Authenticator, "requireTenant">; public: boolean }): void {
  const tenantOf = async (c: Context) => (deps.public ? undefined : (await deps.authenticator.requireTenant(c.req.header("authorization"))).tenantId);

  http.get("/proofstreams/:streamId/checkpoint", async (c) => {
    const note = await deps.proofstreams.tiles.checkpoint(c.req.param("streamId"), await tenantOf(c));
    c.header("Cache-Control", "no-cache");
    return c.body(note, 200, { "Content-Type": "text/plain; charset=utf-8" });
  });

  // One event's C2SP tlog-proof against the latest checkpoint, same access as the tiles.
  http.get("/proofstreams/:streamId/proof/:seqNo", async (c) => {
    const streamId = c.req.param("streamId");
    const seqNo = /^[1-9][0-9]{0,15}$/.test(c.req.param("seqNo")) ? Number(c.req.param("seqNo")) : NaN;
    if (!Number.isSafeInteger(seqNo)) throw invalidArgument("seq_no", "must be a positive integer");
    const text = await deps.proofstreams.tlogProof(await tenantOf(c), streamId, seqNo);
    c.header("Cache-Control", "no-cache");
    c.header("Content-Disposition", `attachment; filename="${streamId}-${seqNo}.tlog-proof"`);
    return c.body(text, 200, { "Content-Type": "text/plain; charset=utf-8" });
  });

  http.get("/proofstreams/:streamId/tile/*", async (c) => {
    const path = c.req.path.slice(c.req.path.indexOf("/tile/") + "/tile/".length);
    const tile = await deps.proofstreams.tiles.tile(c.req.param("streamId"), await tenantOf(c), path);
    // Full tiles never change; partial ones are immutable too once served, but get replaced by wider ones.
    c.header("Cache-Control", tile.full ? "public, max-age=31536000, immutable" : "public, max-age=60");
    return c.body(new Uint8Array(tile.body), 200, { "Content-Type": "application/octet-stream" });
  });
}
