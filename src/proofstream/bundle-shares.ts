import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import { createOnce, type RequestIds } from "../request-ids/module.js";
import { bundles, bundleShareLinks } from "./schema.js";

/** A link lives 7 days unless the request says, and at most 30. */
export const SHARE_TTL_DEFAULT_MS = 7 * 86_400_000;
export const SHARE_TTL_MAX_MS = 30 * 86_400_000;
/** "ats_" and 32 random bytes in base64url (256 bits). */
export const SHARE_TOKEN = /^ats_[A-Za-z0-9_-]{43}$/;

export type ShareLinkRow = typeof bundleShareLinks.$inferSelect;

/** A share link as the facade gives it out: `url` and `token` only where the token is known (at creation). */
export interface ShareLinkView extends Omit<ShareLinkRow, "tokenSha256" | "tenantId"> {
  url: string;
  token: string;
}

const sha256 = (token: string) => createHash("sha256").update(token, "utf8").digest();

/** A new token: never logged, never stored (its SHA-256 is). */
export const newShareToken = () => `ats_${randomBytes(32).toString("base64url")}`;

/** A requested lifetime, checked: unset is the default; negative, zero or beyond the maximum is refused naming `field`. */
export function shareTtlMs(field: string, ttlMs: number | undefined): number {
  if (ttlMs === undefined) return SHARE_TTL_DEFAULT_MS;
  if (!(ttlMs > 0)) throw invalidArgument(field, "must be positive");
  if (ttlMs > SHARE_TTL_MAX_MS) throw invalidArgument(field, `must be at most ${SHARE_TTL_MAX_MS / 86_400_000} days`);
  return ttlMs;
}

/**
 * Bundle share links (issue 26, defect 6): an unguessable, expiring,
 * revocable URL of the /verify page that fetches one bundle without an API
 * key. The token travels in the URL fragment (browsers send no fragment to
 * servers or in Referer) and, from the page, in a request header (no path or
 * query of the public route holds it, so no access log does); the table holds
 * its SHA-256 only, and the public route looks a link up by that hash: an
 * unknown, expired or revoked token is one indexed miss, answered alike.
 */
export class BundleShares {
  constructor(
    private readonly deps: { db: Db; requestIds?: RequestIds },
    private readonly publicBaseUrl: () => string,
  ) {}

  /** The /verify page URL of a token, the token in the fragment. */
  url(token: string): string {
    return `${this.publicBaseUrl().replace(/\/+$/, "")}/verify#share=${token}`;
  }

  /** CreateBundleShareLink: a link to a bundle of the tenant (pending or ready). A repeated `requestId` returns the first link, token included. */
  async create(tenantId: string, bundleId: string, ttlMs: number | undefined, requestId?: string): Promise<ShareLinkView> {
    const ttl = shareTtlMs("ttl", ttlMs);
    return createOnce(
      this.deps.requestIds,
      this.deps.db,
      requestId ? { scope: tenantId, method: "CreateBundleShareLink", requestId, request: { bundleId, ttlMs: ttl } } : undefined,
      async (tx) => {
        const [bundle] = await tx
          .select({ id: bundles.id })
          .from(bundles)
          .where(and(eq(bundles.id, bundleId), eq(bundles.tenantId, tenantId)))
          .limit(1);
        if (!bundle) throw notFound("bundle");
        const token = newShareToken();
        const link = await this.insert(tx, tenantId, bundleId, token, ttl);
        return { result: link, resourceId: link.id, secret: token };
      },
      async (id, token) => ({ ...(await this.get(tenantId, id)), url: token ? this.url(token) : "", token: token ?? "" }),
    );
  }

  /** Stores a link of a token (the bundle is the caller's to check). */
  async insert(db: Db, tenantId: string, bundleId: string, token: string, ttlMs: number): Promise<ShareLinkView> {
    const [row] = await db
      .insert(bundleShareLinks)
      .values({ id: newId("bsl"), tenantId, bundleId, tokenSha256: sha256(token), expiresAt: sql`now() + make_interval(secs => ${ttlMs / 1000})` })
      .returning();
    return view(row!, this.url(token), token);
  }

  /** A link of the tenant, without its token. */
  async get(tenantId: string, id: string): Promise<ShareLinkView> {
    const [row] = await this.deps.db
      .select()
      .from(bundleShareLinks)
      .where(and(eq(bundleShareLinks.id, id), eq(bundleShareLinks.tenantId, tenantId)))
      .limit(1);
    if (!row) throw notFound("share link");
    return view(row);
  }

  /** RevokeBundleShareLink: idempotent; a revoked link keeps its first revocation time. */
  async revoke(tenantId: string, id: string, bundleId?: string): Promise<ShareLinkView> {
    const mine = and(eq(bundleShareLinks.id, id), eq(bundleShareLinks.tenantId, tenantId), bundleId ? eq(bundleShareLinks.bundleId, bundleId) : undefined);
    const [row] = await this.deps.db
      .update(bundleShareLinks)
      .set({ revokedAt: sql`coalesce(${bundleShareLinks.revokedAt}, now())` })
      .where(mine)
      .returning();
    if (!row) throw notFound("share link");
    return view(row);
  }

  /** A link of a token while it works (neither expired nor revoked), else undefined. */
  async live(token: string): Promise<ShareLinkRow | undefined> {
    const [row] = await this.deps.db
      .select()
      .from(bundleShareLinks)
      .where(and(eq(bundleShareLinks.tokenSha256, sha256(token)), isNull(bundleShareLinks.revokedAt), gt(bundleShareLinks.expiresAt, sql`now()`)))
      .limit(1);
    return row;
  }

  /**
   * The public fetch: the bundle a working token names. A malformed token is
   * the caller's error; an unknown, expired or revoked one is one answer,
   * NOT_FOUND, so a response tells nothing about which.
   */
  async sharedBundleId(token: string, field: string): Promise<string> {
    if (!SHARE_TOKEN.test(token)) throw invalidArgument(field, "is not a share token (ats_ and 43 base64url characters)");
    const link = await this.live(token);
    if (!link) throw new AppError("not_found", "share link not found, expired or revoked");
    return link.bundleId;
  }
}

function view(row: ShareLinkRow, url = "", token = ""): ShareLinkView {
  const { tokenSha256: _hash, tenantId: _tenant, ...rest } = row;
  return { ...rest, url, token };
}
