import { readdir } from "node:fs/promises";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { docsFolder, packageVersion } from "../paths.js";
import { createHttpApp } from "./app.js";
import { renderDocPage } from "./docs-html.js";
import { mountLandingPage } from "./landing.js";
import { Metrics } from "./metrics.js";
import { mountOpenApi } from "./openapi.js";

function landing(): Hono {
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 1024, readiness: {} });
  // As server/edges.ts mounts them: the API reference page (/docs/api) before the documentation pages.
  mountOpenApi(app);
  mountLandingPage(app, { links: [{ href: "/verify?a=1&b=<2>", title: "Verify <it>", about: "drop a bundle & see" }] });
  return app;
}

describe("the landing page and the documentation routes", () => {
  it("answers JSON (name, version, links) to a client that does not ask for HTML", async () => {
    const res = await landing().request("/");
    expect(await res.json()).toEqual({
      name: "Attesto",
      version: packageVersion(),
      links: [
        { href: "/docs", title: "Documentation" },
        { href: "/docs/api", title: "REST API reference" },
        { href: "/verify?a=1&b=<2>", title: "Verify <it>" },
      ],
    });
  });

  it("answers HTML to a browser, escaping every link and locking the page down with a CSP", async () => {
    const res = await landing().request("/", { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<a href="/verify?a=1&#38;b=&#60;2&#62;">Verify &#60;it&#62;</a> — drop a bundle &#38; see');
    expect(html).not.toContain("<it>");
  });

  it("lists the documentation pages and serves each as markdown", async () => {
    const app = landing();
    const pages = (await readdir(docsFolder())).filter((n) => n.endsWith(".md")).sort();
    expect(pages.length).toBeGreaterThan(0);
    expect(await (await app.request("/docs")).json()).toEqual({ pages: pages.map((n) => `/docs/${n}`) });
    // What earlier versions linked to answers the same.
    expect(await (await app.request("/docs/")).json()).toEqual({ pages: pages.map((n) => `/docs/${n}`) });
    const page = await app.request(`/docs/${pages[0]}`);
    expect(page.headers.get("content-type")).toBe("text/markdown; charset=utf-8");
    expect((await page.text()).length).toBeGreaterThan(0);
  });

  it("answers 404 for a page that does not exist or a name that is not a page, never reading outside docs/", async () => {
    const app = landing();
    for (const name of ["nope.md", "..%2FREADME.md", "README", "Architecture.md", "..%2F..%2Fpackage.json"]) {
      const res = await app.request(`/docs/${name}`);
      expect(res.status, name).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
  });

  it("renders every page as HTML for a browser, and every link in it resolves: pages answer 200, anchors name a heading", async () => {
    const app = landing();
    const html = { headers: { accept: "text/html,application/xhtml+xml" } };
    const pages = (await readdir(docsFolder())).filter((n) => n.endsWith(".md")).sort();
    const index = await app.request("/docs", html);
    expect(index.headers.get("content-type")).toContain("text/html");
    expect(index.headers.get("vary")).toBe("Accept");
    const checked = new Set<string>();
    let links = 0;
    for (const path of ["/docs", ...pages.map((p) => `/docs/${p}`)]) {
      const res = await app.request(path, html);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toContain("text/html");
      expect(res.headers.get("content-security-policy"), path).toContain("default-src 'none'");
      const body = await res.text();
      const ids = new Set([...body.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]!));
      for (const [, raw] of body.matchAll(/<a href="([^"]+)"/g)) {
        const href = raw!.replace(/&#38;/g, "&");
        if (/^https?:/.test(href)) continue;
        links++;
        const [target, anchor] = href.split("#") as [string, string | undefined];
        if (target === "") {
          expect(ids.has(anchor!), `${path} links to #${anchor}, which no heading of it has`).toBe(true);
          continue;
        }
        if (checked.has(href)) continue;
        checked.add(href);
        const linked = await app.request(target, html);
        expect(linked.status, `${path} links to ${href}`).toBe(200);
        if (anchor) expect((await linked.text()).includes(` id="${anchor}"`), `${path} links to ${href}`).toBe(true);
      }
    }
    expect(links).toBeGreaterThan(pages.length);
    expect(checked.has("/docs/api"), "the pages link to the API reference").toBe(true);
  });

  it("serves the API reference page and Redoc's bundle from this server, the bundle cached and revalidated by its hash", async () => {
    const app = landing();
    const page = await app.request("/docs/api", { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<redoc spec-url="/openapi.json"');
    const src = /<script src="([^"]+)"><\/script>/.exec(html)![1]!;
    expect(src.startsWith("/")).toBe(true);
    const script = await app.request(src);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toBe("public, max-age=86400");
    expect((await script.text()).length).toBeGreaterThan(500_000);
    const again = await app.request(src, { headers: { "if-none-match": script.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  it("links pages named in code spans and relative links; a link to a file it does not serve is plain text", async () => {
    const pages = new Set(["bundle.md", "operator.md"]);
    const html = renderDocPage(
      "verifier.md",
      "# Title\n\nSee `docs/bundle.md`, [the operator page](operator.md#data-and-keys), [the schema](../schemas/x.json) and `docs/nope.md`.\n\n## Data & keys\n",
      pages,
    );
    expect(html).toContain('<a href="/docs/bundle.md"><code>docs/bundle.md</code></a>');
    expect(html).toContain('<a href="/docs/operator.md#data-and-keys">the operator page</a>');
    expect(html).toContain(" the schema and <code>docs/nope.md</code>");
    expect(html).toContain('<h2 id="data--keys">');
    expect(html).toContain("<title>Title — Attesto</title>");
  });

  it("a client that does not ask for HTML, or asks for ?format=markdown, gets the Markdown", async () => {
    const app = landing();
    const raw = await app.request("/docs/verifier.md?format=markdown", { headers: { accept: "text/html" } });
    expect(raw.headers.get("content-type")).toBe("text/markdown; charset=utf-8");
    expect(await raw.text()).toMatch(/^# For verifiers/);
  });
});
