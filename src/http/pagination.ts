import type { Context } from "hono";
import { invalidArgument } from "../errors.js";
import { MAX_PAGE_SIZE } from "../db/pagination.js";
import { queryOf } from "./query.js";

/** Longest page token accepted (the contract's limit). */
export const MAX_PAGE_TOKEN_LENGTH = 512;

/**
 * The page of a REST list, from `?page_size=` (absent or 0: 50; at most 500)
 * and `?page_token=` (the previous answer's `nextPageToken`), plus the
 * route's own filters by name; each also in camelCase (`pageSize`, query.ts).
 * Any other query parameter is an error naming it: a misspelt parameter is
 * never silently ignored.
 */
export function restPage<K extends string>(c: Context, filters: readonly K[] = []): { pageSize: number; pageToken: string } & Partial<Record<K, string>> {
  const out: Record<string, string | number> = { pageSize: 0, pageToken: "" };
  for (const [name, value] of Object.entries(queryOf(c))) {
    if (name === "page_size") {
      if (!/^\d{1,6}$/.test(value)) throw invalidArgument("page_size", "must be a whole number");
      const size = Number(value);
      if (size > MAX_PAGE_SIZE) throw invalidArgument("page_size", `must be at most ${MAX_PAGE_SIZE}`);
      out.pageSize = size;
    } else if (name === "page_token") {
      if (value.length > MAX_PAGE_TOKEN_LENGTH || !/^[A-Za-z0-9_-]*$/.test(value)) throw invalidArgument("page_token", "is not a page token from this API");
      out.pageToken = value;
    } else if ((filters as readonly string[]).includes(name)) {
      out[name] = value;
    } else {
      throw invalidArgument(name, `unknown query parameter (this route takes page_size, page_token${filters.map((f) => `, ${f}`).join("")})`);
    }
  }
  return out as { pageSize: number; pageToken: string } & Partial<Record<K, string>>;
}
