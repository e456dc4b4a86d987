import type { Context, Hono } from "hono";
import { renderField, type FieldNames } from "../contract/fields.js";
import { invalidArgument } from "../errors.js";
import { parseJsonObject } from "../json.js";
import type { Bundles, ShareLinkView } from "../proofstream/module.js";
import type { Authenticator } from "../tenancy/module.js";

const BUNDLE_ID = /^bundle_[0-9A-HJKMNP-TV-Z]{26}$/;
const SHARE_LINK_ID = /^bsl_[0-9A-HJKMNP-TV-Z]{26}$/;
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Contract field paths as this API names them. */
const REST_FIELDS: FieldNames = [
  ["ttl", "ttlSeconds"],
  ["bundle_id", "bundleId"],
];

/** A share link as the REST routes write it (times as RFC 3339, absent values as null). */
export const shareLinkJson = (l: ShareLinkView) => ({
  id: l.id,
  bundleId: l.bundleId,
  url: l.url || null,
  token: l.token || null,
  expiresAt: l.expiresAt.toISOString(),
  createdAt: l.createdAt.toISOString(),
  revokedAt: l.revokedAt?.toISOString() ?? null,
});

function pathId(c: Context, name: string, field: string, pattern: RegExp): string {
  const id = c.req.param(name) ?? "";
  if (!pattern.test(id)) throw invalidArgument(field, `is not a ${field === "bundleId" ? "bundle" : "share link"} id`);
  return id;
}

/** `{ttlSeconds?, requestId?}`, each of its JSON type; anything else is an error naming the field. */
async function createBody(c: Context): Promise<{ ttlMs?: number; requestId?: string }> {
  const text = await c.req.text();
  const body = text.trim() ? parseJsonObject(text) : {};
  const out: { ttlMs?: number; requestId?: string } = {};
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    if (key === "ttlSeconds") {
      if (typeof value !== "number" || !Number.isSafeInteger(value)) throw invalidArgument(key, "must be a whole number of seconds");
      out.ttlMs = value * 1000;
    } else if (key === "requestId") {
      if (typeof value !== "string" || !REQUEST_ID.test(value)) throw invalidArgument(key, "must be 1 to 64 of A-Z a-z 0-9 _ . : -");
      out.requestId = value;
    } else throw invalidArgument(key, "unknown field");
  }
  return out;
}

/**
 * The REST forms of CreateBundleShareLink and RevokeBundleShareLink, with
 * the tenant's key: `POST /v1/bundles/<id>/share-links` (201, the link with
 * its url and token, shown once) and `DELETE /v1/bundles/<id>/share-links/<link id>`.
 */
export function mountBundleShareRoutes(http: Hono, deps: { bundles: Pick<Bundles, "shares">; authenticator: Pick<Authenticator, "requireTenant"> }): void {
  const rest = <T>(call: Promise<T>): Promise<T> => call.catch((err: unknown) => Promise.reject(renderField(err, REST_FIELDS)));
  http.post("/v1/bundles/:bundleId/share-links", async (c) => {
    const { tenantId } = await deps.authenticator.requireTenant(c.req.header("authorization"));
    const bundleId = pathId(c, "bundleId", "bundleId", BUNDLE_ID);
    const { ttlMs, requestId } = await createBody(c);
    return c.json(shareLinkJson(await rest(deps.bundles.shares.create(tenantId, bundleId, ttlMs, requestId))), 201);
  });
  http.delete("/v1/bundles/:bundleId/share-links/:shareLinkId", async (c) => {
    const { tenantId } = await deps.authenticator.requireTenant(c.req.header("authorization"));
    const bundleId = pathId(c, "bundleId", "bundleId", BUNDLE_ID);
    const id = pathId(c, "shareLinkId", "shareLinkId", SHARE_LINK_ID);
    return c.json(shareLinkJson(await rest(deps.bundles.shares.revoke(tenantId, id, bundleId))));
  });
}
