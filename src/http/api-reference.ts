import { etagOf } from "../etag.js";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Hono } from "hono";
import { projectRoot, runningFromSource } from "../paths.js";

/** The API reference page: /openapi.json rendered by Redoc. */
export const API_REFERENCE_PATH = "/docs/api";
const SCRIPT_PATH = "/docs/api/redoc.standalone.js";

/**
 * Redoc's standalone bundle (React and its styles included; fonts are only
 * named, never fetched). `redoc` is a devDependency: `npm run build` copies
 * the bundle to dist/api-reference/ (the production image prunes dev
 * packages), and run from source it is read from node_modules. A production
 * install run from source (`npm ci --omit=dev`, never built) has neither: the
 * page then says so and links the OpenAPI document itself.
 */
export const REDOC_BUNDLE_SOURCE = path.join(projectRoot(), "node_modules", "redoc", "bundles", "redoc.standalone.js");
export const REDOC_BUNDLE_BUILT = path.join(projectRoot(), "dist", "api-reference", "redoc.standalone.js");

/**
 * The page loads its one script from this origin and the document from
 * /openapi.json; Redoc injects its styles (style-src 'unsafe-inline') and
 * runs its search index in a worker made from a blob (worker-src blob:).
 */
const REFERENCE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; worker-src blob:; base-uri 'none'; form-action 'none'";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>REST API reference — Attesto</title>
<link rel="icon" href="data:,">
<style>body{margin:0}nav{font:15px/1.5 system-ui,sans-serif;padding:.5rem 1rem;border-bottom:1px solid #ddd;color:#555}nav a{color:#1a5fb4}</style>
</head><body>
<nav><a href="/">Attesto</a> · <a href="/docs">Documentation</a> · <a href="/openapi.json">openapi.json</a> · the RPCs are described by the protos under proto/attesto/v1</nav>
<redoc spec-url="/openapi.json" hide-download-button="true" expand-responses="200,201" json-sample-expand-level="3"></redoc>
<script src="${SCRIPT_PATH}"></script>
</body></html>`;

/**
 * The one thing Redoc fetches from elsewhere: the logo of its "API docs by
 * Redocly" footer, always. "data:," is no image, so Redoc's own onError hides
 * it and nothing is asked of cdn.redoc.ly (test/api-reference.test.ts sees
 * every request the page makes).
 */
const REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
export const withoutRemoteLogo = (js: string) => js.replaceAll(REDOC_LOGO, "data:,");

let bundle: Promise<{ js: string; etag: string }> | undefined;

function redocBundle(): Promise<{ js: string; etag: string }> {
  bundle ??= readFile(runningFromSource ? REDOC_BUNDLE_SOURCE : REDOC_BUNDLE_BUILT, "utf8").then((raw) => {
    const js = withoutRemoteLogo(raw);
    return { js, etag: `"${etagOf(js)}"` };
  });
  // A failed read is not kept: the next request tries again.
  bundle.catch(() => (bundle = undefined));
  return bundle;
}

const redocInstalled = () => existsSync(runningFromSource ? REDOC_BUNDLE_SOURCE : REDOC_BUNDLE_BUILT);

const WITHOUT_VIEWER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>REST API reference — Attesto</title>
<link rel="icon" href="data:,">
</head><body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem">
<h1>REST API reference</h1>
<p>This install has no reference viewer: it runs from source without a build (<code>npm ci --omit=dev</code>), and the viewer (Redoc) comes with the development install and <code>npm run build</code>.</p>
<p>The whole REST API is described by the OpenAPI 3.1 document at <a href="/openapi.json">/openapi.json</a>; the RPCs by the protos under <code>proto/attesto/v1</code>. <a href="/docs">Documentation</a></p>
</body></html>`;

/** `GET /docs/api` (the page) and its script. Mounted before `/docs/:page`, which would otherwise take the path. */
export function mountApiReference(app: Hono): void {
  app.get(API_REFERENCE_PATH, (c) => {
    c.header("Content-Security-Policy", REFERENCE_CSP);
    return c.html(redocInstalled() ? PAGE : WITHOUT_VIEWER);
  });
  app.get(SCRIPT_PATH, async (c) => {
    if (!redocInstalled()) return c.text("no API reference viewer in this install (it is built by `npm run build`)", 404);
    const { js, etag } = await redocBundle();
    // A day, then revalidated by its hash: the bundle changes only with the redoc version.
    const headers = { "Cache-Control": "public, max-age=86400", ETag: etag };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(js, 200, { ...headers, "Content-Type": "text/javascript; charset=utf-8" });
  });
}
