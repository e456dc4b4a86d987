import { createHash } from "node:crypto";
import { AppError } from "../errors.js";
import { textProblem } from "./storable.js";

/**
 * Keyset pagination, the one way every List call pages: a page token wraps
 * the sort key of the last row returned and a fingerprint of the request's
 * filters (opaque to clients); a page fetches one row more than it returns
 * to know whether another follows. A token presented with other filters, or
 * one this server did not make, is refused naming page_token.
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

/** What one page reads: how many rows, after which key, and the filters' fingerprint its next token carries. */
export interface PageWindow {
  /** Rows to fetch: one more than the page. */
  fetch: number;
  limit: number;
  /** The sort key to continue after; undefined on the first page. */
  after: string | undefined;
  fingerprint: string;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

const fingerprintOf = (filter: unknown) =>
  createHash("sha256")
    .update(JSON.stringify(filter ?? null))
    .digest("base64url")
    .slice(0, 11);

const badToken = (problem: string) => new AppError("invalid_argument", `page_token: ${problem}`, { field: "page_token", reason: "PAGE_TOKEN_INVALID" });

/**
 * The window of one page. The token of the next page is bound to the
 * request's other fields (`filter`; by default every field of `req` besides
 * the page fields).
 */
export function pageWindow(req: PageRequest, opts: { size?: number; max?: number; filter?: unknown } = {}): PageWindow {
  const max = opts.max ?? MAX_PAGE_SIZE;
  const limit = Math.min(req.pageSize && req.pageSize > 0 ? req.pageSize : (opts.size ?? DEFAULT_PAGE_SIZE), max);
  const { pageSize: _size, pageToken: _token, ...rest } = req;
  const fingerprint = fingerprintOf(opts.filter ?? rest);
  let after: string | undefined;
  if (req.pageToken) {
    const text = Buffer.from(req.pageToken, "base64url").toString("utf8");
    const dot = text.indexOf(".");
    // Anything this API did not make either does not round-trip or holds what the database refuses.
    if (dot <= 0 || Buffer.from(text, "utf8").toString("base64url") !== req.pageToken || textProblem(text)) throw badToken("is not a token this API made");
    if (text.slice(0, dot) !== fingerprint) throw badToken("was made for a request with other fields; they must not change between pages");
    after = text.slice(dot + 1);
  }
  return { fetch: limit + 1, limit, after, fingerprint };
}

/** The page of `rows` (fetched with `pageWindow`) and the token of the next one. */
export function pageOf<R, T = R>(rows: readonly R[], window: PageWindow, keyOf: (row: R) => string | number, map?: (row: R) => T): Page<T> {
  const items = rows.slice(0, window.limit);
  const last = items[items.length - 1];
  return {
    items: (map ? items.map(map) : items) as T[],
    nextPageToken: rows.length > window.limit && last !== undefined ? nextToken(window, keyOf(last)) : "",
  };
}

/** The token continuing after `key` (for pages cut short by something other than their size). */
export function nextToken(window: PageWindow, key: string | number): string {
  return Buffer.from(`${window.fingerprint}.${key}`, "utf8").toString("base64url");
}
