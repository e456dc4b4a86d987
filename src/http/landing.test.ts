import { readdir } from "node:fs/promises";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { docsFolder, packageVersion } from "../paths.js";
import { createHttpApp } from "./app.js";
import { mountLandingPage } from "./landing.js";
import { Metrics } from "./metrics.js";

function landing(): Hono {
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 1024, readiness: {} });
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
        { href: "/docs/", title: "Documentation" },
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
});
