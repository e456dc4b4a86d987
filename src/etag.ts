import { createHash } from "node:crypto";
import { AppError } from "./errors.js";

/**
 * The etag of a resource as its caller sees it (AIP-154): a digest of
 * every field it shows, so any change — by another operator, by the
 * delivery engine disabling a gone endpoint, by a rotation — changes it.
 */
export function etagOf(visible: unknown): string {
  return createHash("sha256").update(JSON.stringify(visible)).digest("base64url").slice(0, 22);
}

/** Refuses a change made against a stale read; an empty etag asks for no check. */
export function checkEtag(sent: string | undefined, current: string, what: string): void {
  if (sent && sent !== current) {
    throw new AppError("aborted", `etag: the ${what} changed since it was read; read it again and retry`, { field: "etag", reason: "ETAG_MISMATCH" });
  }
}
