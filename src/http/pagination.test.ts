import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { httpErrorBody } from "./errors.js";
import { MAX_PAGE_TOKEN_LENGTH, restPage } from "./pagination.js";

/** A list route taking one filter, answering what restPage read (or the error it threw). */
function listApp() {
  const app = new Hono();
  app.get("/list", (c) => c.json(restPage(c, ["event_type"])));
  app.onError((err, c) => c.json(httpErrorBody(err as AppError), 400));
  return app;
}

const read = async (query: string) => (await listApp().request(`/list${query}`)).json() as Promise<Record<string, unknown>>;
const fieldOf = async (query: string) => ((await read(query)) as { error?: { field?: string } }).error?.field;

describe("REST list pages", () => {
  it("defaults to page size 0 (the domain's default) and no token", async () => {
    expect(await read("")).toEqual({ pageSize: 0, pageToken: "" });
  });

  it("reads page_size, page_token and the route's own filters", async () => {
    expect(await read("?page_size=20&page_token=abc_-1&event_type=push")).toEqual({ pageSize: 20, pageToken: "abc_-1", event_type: "push" });
    expect(await read("?page_size=500")).toEqual({ pageSize: 500, pageToken: "" });
  });

  it("refuses what it cannot read, naming the parameter: never silently ignored", async () => {
    expect(await fieldOf("?page_size=501")).toBe("page_size");
    expect(await fieldOf("?page_size=-1")).toBe("page_size");
    expect(await fieldOf("?page_size=ten")).toBe("page_size");
    expect(await fieldOf("?page_token=a%2Bb")).toBe("page_token");
    expect(await fieldOf(`?page_token=${"a".repeat(MAX_PAGE_TOKEN_LENGTH + 1)}`)).toBe("page_token");
    expect(await fieldOf("?page_size=1&page_size=2")).toBe("page_size");
    expect(await fieldOf("?pagesize=10")).toBe("pagesize");
    expect(((await read("?color=red")) as { error: { message: string } }).error.message).toContain("this route takes page_size, page_token, event_type");
  });
});

describe("REST query parameters in either spelling", () => {
  it("reads pageSize, pageToken and camelCase filters as page_size, page_token and the snake_case filter", async () => {
    expect(await read("?pageSize=20&pageToken=abc&eventType=push")).toEqual({ pageSize: 20, pageToken: "abc", event_type: "push" });
    expect(await fieldOf("?pageSize=501")).toBe("page_size");
  });

  it("refuses both spellings of one parameter at once, naming its canonical name", async () => {
    expect(await fieldOf("?page_size=1&pageSize=2")).toBe("page_size");
  });
});
