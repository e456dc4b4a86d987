import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { createLogger } from "../logger.js";
import type { TenantPrincipal } from "../tenancy/types.js";
import { createHttpApp } from "./app.js";
import { Metrics } from "./metrics.js";
import { mountTileRoutes, type TileReads } from "./tiles.js";

/** One stream of one tenant, in memory: what the routes are given and who asked. */
function memoryTiles() {
  const asked: Array<{ call: string; streamId: string; tenantId: string | undefined; arg?: string | number }> = [];
  const reads: TileReads = {
    tiles: {
      checkpoint: async (streamId, tenantId) => {
        asked.push({ call: "checkpoint", streamId, tenantId });
        return "attesto.dev/ps_1\n3\nroot=\n\n— key sig\n";
      },
      tile: async (streamId, tenantId, path) => {
        asked.push({ call: "tile", streamId, tenantId, arg: path });
        return { body: Buffer.from([1, 2, 3]), full: path.endsWith("/000") };
      },
    },
    tlogProof: async (tenantId, streamId, seqNo) => {
      asked.push({ call: "tlogProof", streamId, tenantId, arg: seqNo });
      return "c2sp.org/tlog-proof@v1\n";
    },
  };
  return { reads, asked };
}

const authenticator = {
  requireTenant: async (header: string | null | undefined): Promise<TenantPrincipal> => {
    if (header !== "Bearer atk_good") throw new AppError("unauthenticated", "invalid API key");
    return { kind: "tenant", tenantId: "ten_1", apiKeyId: "key_1" };
  },
};

function appWith(isPublic: boolean) {
  const memory = memoryTiles();
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 1024, readiness: {} });
  mountTileRoutes(app, { proofstreams: memory.reads, authenticator, public: isPublic });
  return { app, asked: memory.asked };
}

describe("tile routes", () => {
  it("serves a public checkpoint as text, not cached, without asking for a key", async () => {
    const { app, asked } = appWith(true);
    const res = await app.request("/proofstreams/ps_1/checkpoint");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(await res.text()).toContain("attesto.dev/ps_1");
    expect(asked).toEqual([{ call: "checkpoint", streamId: "ps_1", tenantId: undefined }]);
  });

  it("asks for the owning tenant's key when not public, and reads as that tenant", async () => {
    const { app, asked } = appWith(false);
    const refused = await app.request("/proofstreams/ps_1/checkpoint");
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    expect(asked).toEqual([]);
    const res = await app.request("/proofstreams/ps_1/checkpoint", { headers: { authorization: "Bearer atk_good" } });
    expect(res.status).toBe(200);
    expect(asked).toEqual([{ call: "checkpoint", streamId: "ps_1", tenantId: "ten_1" }]);
  });

  it("caches full tiles forever and partial ones for a minute, passing the tile path through", async () => {
    const { app, asked } = appWith(true);
    const full = await app.request("/proofstreams/ps_1/tile/0/000");
    expect(full.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(full.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await full.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    const partial = await app.request("/proofstreams/ps_1/tile/0/001.p/5");
    expect(partial.headers.get("cache-control")).toBe("public, max-age=60");
    expect(asked.map((a) => a.arg)).toEqual(["0/000", "0/001.p/5"]);
  });

  it("serves one event's tlog-proof as a download, and refuses a seq_no that is not a positive integer", async () => {
    const { app, asked } = appWith(true);
    const res = await app.request("/proofstreams/ps_1/proof/7");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="ps_1-7.tlog-proof"');
    for (const bad of ["0", "-1", "1.5", "abc", "01", "99999999999999999"]) {
      const refused = await app.request(`/proofstreams/ps_1/proof/${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(((await refused.json()) as { error: { field: string } }).error.field).toBe("seq_no");
    }
    expect(asked).toEqual([{ call: "tlogProof", streamId: "ps_1", tenantId: undefined, arg: 7 }]);
  });
});
