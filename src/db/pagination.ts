import { invalidArgument } from "../errors.js";
import { textProblem } from "./storable.js";

/**
 * Keyset pagination, the one way every List call pages: a page token wraps
 * the sort key of the last row returned (opaque to clients), a page fetches
 * one row more than it returns to know whether another follows.
 */
export interface PageRequest {
  pageSize?: number;
  pageToken?: string;
}

export interface Page<T> {
  items: T[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** How many rows to fetch (one more than the page) and the key to continue after (undefined on the first page). */
export function pageWindow(req: PageRequest, defaults: { size?: number; max?: number } = {}): { fetch: number; limit: number; after: string | undefined } {
  const max = defaults.max ?? MAX_PAGE_SIZE;
  const limit = Math.min(req.pageSize && req.pageSize > 0 ? req.pageSize : (defaults.size ?? DEFAULT_PAGE_SIZE), max);
  return { fetch: limit + 1, limit, after: req.pageToken ? decodeToken(req.pageToken) : undefined };
}

/** A page token back to its key; anything this service did not issue (it would not round-trip, or holds what the database refuses) is the caller's error. */
function decodeToken(token: string): string {
  const key = Buffer.from(token, "base64url").toString("utf8");
  if (Buffer.from(key, "utf8").toString("base64url") !== token.replace(/=+$/, "") || textProblem(key)) {
    throw invalidArgument("page_token", "is not a page token this service issued");
  }
  return key;
}

/** The page of `rows` (fetched with `pageWindow`) and the token of the next one. */
export function pageOf<R, T = R>(rows: readonly R[], limit: number, keyOf: (row: R) => string | number, map?: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: (map ? items.map(map) : items) as T[],
    nextPageToken: rows.length > limit && last !== undefined ? Buffer.from(String(keyOf(last)), "utf8").toString("base64url") : "",
  };
}
