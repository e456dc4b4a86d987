import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Context, Hono } from "hono";
import { notFound } from "../errors.js";
import { docsFolder, packageVersion } from "../paths.js";
import { API_REFERENCE_PATH } from "./api-reference.js";
import { renderDocIndex, renderDocPage } from "./docs-html.js";

/** The documentation pages load nothing: their own inline style only. */
const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'";

/** A link of the landing page. */
export interface LandingLink {
  href: string;
  title: string;
  about: string;
}

const DOC_NAME = /^[a-z0-9-]+\.md$/;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/**
 * `GET /`: what this server is and where to go next (HTML for browsers, JSON
 * otherwise), and `GET /docs/<page>.md`: the project's own documentation, so
 * that the links work from a clone and from the image alike.
 */
export function mountLandingPage(app: Hono, deps: { links: LandingLink[] }): void {
  const version = packageVersion();
  const links: LandingLink[] = [
    { href: "/docs", title: "Documentation", about: "architecture, configuration, and one guide each for tenant developers, operators and verifiers" },
    { href: API_REFERENCE_PATH, title: "REST API reference", about: "every REST route and the webhook deliveries, rendered from /openapi.json" },
    ...deps.links,
  ];

  app.get("/", (c) => {
    const accept = c.req.header("accept") ?? "";
    if (!accept.includes("text/html")) return c.json({ name: "Attesto", version, links: links.map(({ href, title }) => ({ href, title })) });
    const items = links.map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.title)}</a> — ${escapeHtml(l.about)}</li>`).join("\n");
    c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
    return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attesto ${escapeHtml(version)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>Attesto <small>${escapeHtml(version)}</small></h1>
<p>Multi-tenant evidence service: store verification, Proofstreams (signed, append-only logs with inclusion and consistency proofs), signed tenant webhooks.
Connect, gRPC and gRPC-Web RPCs and the REST routes are served on this port.</p>
<ul>
${items}
</ul>
</body></html>`);
  });

  const docPages = async () => (await readdir(docsFolder()).catch(() => [] as string[])).filter((n) => DOC_NAME.test(n)).sort();
  const wantsHtml = (accept: string | undefined, format: string | undefined) => format !== "markdown" && format !== "json" && (accept ?? "").includes("text/html");

  // A browser (Accept: text/html) gets the pages rendered (docs-html.ts); any other client gets the
  // JSON list and the Markdown as before, and `?format=markdown` gives a browser the Markdown too.
  // `/docs` is the documented form; `/docs/` (what earlier versions linked to) answers the same.
  const index = async (c: Context) => {
    const names = await docPages();
    c.header("Vary", "Accept");
    if (wantsHtml(c.req.header("accept"), c.req.query("format"))) {
      c.header("Content-Security-Policy", DOCS_CSP);
      return c.html(renderDocIndex(names));
    }
    return c.json({ pages: names.map((n) => `/docs/${n}`) });
  };
  app.get("/docs", index);
  app.get("/docs/", index);

  app.get("/docs/:page", async (c) => {
    const page = c.req.param("page");
    if (!DOC_NAME.test(page)) throw notFound("documentation page");
    const text = await readFile(path.join(docsFolder(), page), "utf8").catch(() => undefined);
    if (text === undefined) throw notFound("documentation page");
    c.header("Vary", "Accept");
    if (wantsHtml(c.req.header("accept"), c.req.query("format"))) {
      c.header("Content-Security-Policy", DOCS_CSP);
      return c.html(renderDocPage(page, text, new Set(await docPages())));
    }
    return c.body(text, 200, { "Content-Type": "text/markdown; charset=utf-8" });
  });
}
