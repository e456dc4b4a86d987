import { describe, expect, it } from "vitest";
import type { Db } from "../db/db.js";
import { createOnce } from "./module.js";
import { requestIdSettings } from "./settings.js";

const db = {} as Db;

describe("createOnce without a request id store or without a request id", () => {
  it("just creates, in the given database, and answers the result without replaying", async () => {
    const seen: unknown[] = [];
    const create = async (tx: Db) => {
      seen.push(tx);
      return { result: "created", resourceId: "res_1", secret: "s" };
    };
    const replay = async () => {
      throw new Error("a create without a request id is never replayed");
    };
    expect(await createOnce(undefined, db, { scope: "ten_1", method: "CreateThing", requestId: "r1", request: {} }, create, replay)).toBe("created");
    expect(await createOnce(undefined, db, undefined, create, replay)).toBe("created");
    expect(seen).toEqual([db, db]);
  });
});

describe("request id settings", () => {
  it("remember a request id for ten minutes and purge every minute", () => {
    expect(requestIdSettings()).toEqual({ windowMs: 600_000, purgeEveryMs: 60_000 });
  });
});
