import { Marked, type Tokens } from "marked";

/**
 * The documentation as HTML pages (`/docs/<page>.md` asked for by a
 * browser): marked (GFM: tables, fenced code) with links rewritten to the
 * routes that serve them. A page links to another as `other.md` (or
 * `docs/other.md` from the README's side): both become `/docs/other.md`; a
 * code span naming a page (`docs/bundle.md`) becomes a link too. A relative
 * link to a file the server does not serve is rendered as its text, so a
 * rendered page has no link that answers 404. Headings get ids (GitHub's
 * slugs), so `#section` links work.
 */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** GitHub's heading slug: lowercase, punctuation dropped, spaces to hyphens. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .trim()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Where a link of a documentation page points on this server: undefined when it names nothing served. */
export function docHref(target: string, pages: ReadonlySet<string>): string | undefined {
  if (/^(https?:|mailto:)/.test(target) || target.startsWith("#") || target.startsWith("/")) return target;
  const [file, anchor] = target.split("#", 2) as [string, string | undefined];
  const name = file.replace(/^(\.\/)?(docs\/)?/, "");
  if (!pages.has(name)) return undefined;
  return `/docs/${name}${anchor ? `#${anchor}` : ""}`;
}

/** The page's HTML document: the rendered Markdown in a plain layout with a link back to the index. */
export function renderDocPage(name: string, markdown: string, pages: ReadonlySet<string>): string {
  const seen = new Map<string, number>();
  const marked = new Marked({
    gfm: true,
    renderer: {
      heading(this: { parser: { parseInline(tokens: Tokens.Generic[]): string } }, token: Tokens.Heading) {
        const inner = this.parser.parseInline(token.tokens);
        let id = slug(token.text);
        const n = seen.get(id) ?? 0;
        seen.set(id, n + 1);
        if (n) id = `${id}-${n}`;
        return `<h${token.depth} id="${escapeHtml(id)}">${inner}</h${token.depth}>\n`;
      },
      link(this: { parser: { parseInline(tokens: Tokens.Generic[]): string } }, token: Tokens.Link) {
        const inner = this.parser.parseInline(token.tokens);
        const href = docHref(token.href, pages);
        return href === undefined ? inner : `<a href="${escapeHtml(href)}">${inner}</a>`;
      },
      codespan(token: Tokens.Codespan) {
        const m = /^(?:docs\/)?([a-z0-9-]+\.md)$/.exec(token.text);
        const code = `<code>${escapeHtml(token.text)}</code>`;
        return m && pages.has(m[1]!) ? `<a href="/docs/${m[1]}">${code}</a>` : code;
      },
    },
  });
  const body = marked.parse(markdown, { async: false });
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1] ?? name;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — Attesto</title>
<style>${DOC_STYLE}</style>
</head><body>
<nav><a href="/">Attesto</a> · <a href="/docs">Documentation</a> · <a href="/docs/api">REST API reference</a> · <a href="/docs/${escapeHtml(name)}?format=markdown">Markdown</a></nav>
<main>
${body}
</main>
</body></html>`;
}

/** The index of the documentation pages as HTML. */
export function renderDocIndex(pages: readonly string[]): string {
  const items = pages.map((p) => `<li><a href="/docs/${escapeHtml(p)}">${escapeHtml(p)}</a></li>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Documentation — Attesto</title>
<style>${DOC_STYLE}</style>
</head><body>
<nav><a href="/">Attesto</a></nav>
<main>
<h1>Documentation</h1>
<ul>
${items}
</ul>
<p><a href="/docs/api">REST API reference</a>: every REST route and webhook delivery, rendered from <a href="/openapi.json">/openapi.json</a>.</p>
</main>
</body></html>`;
}

export const DOC_STYLE =
  "body{font:16px/1.55 system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}nav{margin-bottom:1rem;color:#555}" +
  "code{background:#f3f3f3;padding:0 .2em;font-size:90%}pre{background:#f6f6f6;padding:.8rem;overflow:auto}pre code{background:none;padding:0}" +
  "table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:.3rem .5rem;vertical-align:top}a{color:#1a5fb4}";
