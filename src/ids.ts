import { ulid } from "ulid";

/** Resource ids: a short type prefix and a ULID, so ids sort by creation time. */
export const newId = (prefix: "ten" | "key" | "str" | "evt" | "con" | "sub" | "dlv" | "bat" | "bundle" | "fork") =>
  `${prefix}_${ulid()}`;

/** Opaque page tokens wrap the last id of the page. */
export const encodePageToken = (lastId: string) => Buffer.from(lastId, "utf8").toString("base64url");

export function decodePageToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  return Buffer.from(token, "base64url").toString("utf8");
}

export const pageSizeOf = (requested: number | undefined, fallback = 50, max = 500) =>
  Math.min(requested && requested > 0 ? requested : fallback, max);
