import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError, invalidArgument } from "../errors.js";
import type { Bundles } from "../proofstream/module.js";
import type { Authenticator } from "../tenancy/module.js";
import { requestPolicy, type Verifier } from "../verifier/module.js";
import { errorResponse } from "./errors.js";
import { verifyPageHtml, verifyPageScript } from "../verify-page/assets.js";
import { checkOk } from "../verify/bundle.js";

const BUNDLE_ID = /^bundle_[0-9A-HJKMNP-TV-Z]{26}$/;
export const VERIFY_PATH = "/v2/verify";
/** The public fetch of a shared bundle, and the header its token comes in. */
export const SHARED_BUNDLE_PATH = "/v1/shared-bundle";
export const SHARE_TOKEN_HEADER = "x-attesto-share-token";

/**
 * Public verification (DESIGN section 4): `POST /v2/verify` checks a bundle
 * or tlog-proof sent as the request body, `GET /verify` is the page that
 * checks one in the browser (nothing is uploaded), and
 * `GET /bundles/<id>/download` streams a ready bundle (access as for the
 * tile read path: the owning tenant's key, or public when tiles are), and
 * `GET /v1/shared-bundle` streams the bundle of a share link's token.
 */
export function mountVerifyRoutes(http: Hono, deps: { bundles: Bundles; authenticator: Authenticator; verifier: Verifier; publicDownloads: boolean; verifyMaxBytes: number }): void {
  http.post(
    VERIFY_PATH,
    bodyLimit({
      maxSize: deps.verifyMaxBytes,
      onError: (c) => errorResponse(c, new AppError("payload_too_large", `the document exceeds ${deps.verifyMaxBytes} bytes`, { field: "body" })),
    }),
    async (c) => {
      const key = c.req.query("verifier_key") ?? c.req.header("x-attesto-verifier-key");
      if (key !== undefined && key.length > 1024) throw invalidArgument("verifier_key", "is too long");
      const policy = requestPolicy({
        verifierKey: key,
        witnessKeys: c.req.queries("witness_keys") ?? [],
        witnessK: wholeNumber(c.req.query("witness_k"), "witness_k"),
        tsaRoots: c.req.queries("tsa_roots") ?? [],
        requireAnchor: flag(c.req.query("require_anchor"), "require_anchor"),
      });
      // The body's bytes go to the verifier thread as they are: moved, not copied, and decoded there.
      const body = await c.req.arrayBuffer();
      if (onlyWhitespace(new Uint8Array(body))) throw invalidArgument("body", "send the bundle JSON or the tlog-proof text as the request body");
      const report = await deps.verifier.verify(body, policy);
      return c.json({ ...report, checks: report.checks.map((check) => ({ ...check, ok: checkOk(check) })) });
    },
  );

  http.get("/verify", (c) => {
    // The page runs only its own script and talks only to its own origin (the optional bundle download).
    c.header("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'");
    // A share link's token is in the fragment, which no Referer carries anyway; no page URL leaves with a link either.
    c.header("Referrer-Policy", "no-referrer");
    return c.html(verifyPageHtml);
  });

  http.get("/verify/verify.js", async (c) => {
    c.header("Cache-Control", "no-cache");
    return c.body(await verifyPageScript(), 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });

  http.get("/bundles/:bundleId/download", async (c: Context) => {
    const id = c.req.param("bundleId") ?? "";
    if (!BUNDLE_ID.test(id)) throw invalidArgument("bundle_id", "is not a bundle id");
    const tenantId = deps.publicDownloads ? undefined : (await deps.authenticator.requireTenant(c.req.header("authorization"))).tenantId;
    return download(c, deps.bundles, await deps.bundles.readyRow(tenantId, id));
  });

  // A share link's bundle, for anyone holding its token. The token comes in a header, so no path or
  // query (access logs, proxies) holds it; unknown, expired and revoked tokens answer one 404.
  http.get(SHARED_BUNDLE_PATH, async (c: Context) => {
    const token = c.req.header(SHARE_TOKEN_HEADER);
    if (!token) throw invalidArgument(SHARE_TOKEN_HEADER, "send the share link's token (the part after #share= of its URL) in this header");
    const bundleId = await deps.bundles.shares.sharedBundleId(token, SHARE_TOKEN_HEADER);
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    return download(c, deps.bundles, await deps.bundles.readyRow(undefined, bundleId));
  });
}

/** A query parameter that is a whole number (absent: undefined). */
function wholeNumber(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(value)) throw invalidArgument(field, "must be a whole number");
  return Number(value);
}

/** A query parameter that is a flag: true/false (or 1/0); absent is false. */
function flag(value: string | undefined, field: string): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  throw invalidArgument(field, "must be true or false");
}

/** Whether a body holds nothing but JSON's whitespace (stops at the first other byte). */
function onlyWhitespace(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

/** Streams a ready bundle's document, one stored chunk at a time. */
function download(c: Context, bundles: Bundles, row: Awaited<ReturnType<Bundles["readyRow"]>>): Response {
  const chunks = bundles.chunks(row.id);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  return c.body(body, 200, {
    "Content-Type": "application/json",
    "Content-Length": String(row.sizeBytes),
    "Content-Disposition": `attachment; filename="${row.id}.json"`,
  });
}
