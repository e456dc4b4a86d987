import { readFile } from "node:fs/promises";
import path from "node:path";
import { projectRoot, runningFromSource } from "../paths.js";

/**
 * The /verify page: a static HTML shell and one script, the verification
 * library bundled for the browser by esbuild from src/verify-page/page.ts.
 * `npm run build` writes the script to dist/verify-page/verify.js (the
 * production image has no esbuild); run from source (tsx, tests) it is
 * bundled in memory once, from the current code.
 */
export const VERIFY_PAGE_ENTRY = path.join(projectRoot(), "src", "verify-page", "page.ts");
export const VERIFY_PAGE_BUILT = path.join(projectRoot(), "dist", "verify-page", "verify.js");

export async function bundleVerifyPage(): Promise<string> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [VERIFY_PAGE_ENTRY],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  const js = result.outputFiles[0]?.text;
  if (!js) throw new Error("esbuild produced no output for the verify page");
  return js;
}

let script: Promise<string> | undefined;

export function verifyPageScript(): Promise<string> {
  script ??= runningFromSource ? bundleVerifyPage() : readFile(VERIFY_PAGE_BUILT, "utf8");
  // A failed build is not cached: the next request tries again.
  script.catch(() => (script = undefined));
  return script;
}

export const verifyPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attesto — verify a bundle or tlog-proof</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; }
  #drop.over { background: #eef6ff; border-color: #2a6fdb; }
  textarea { width: 100%; height: 8rem; font: 12px monospace; }
  input[type=text] { width: 100%; font: 13px monospace; }
  #verdict { font-size: 1.4rem; font-weight: 600; margin: 1rem 0 .5rem; }
  #verdict[data-valid=true] { color: #11703a; } #verdict[data-valid=false] { color: #b3261e; }
  li[data-status=pass]::marker { content: "✔ "; color: #11703a; }
  li[data-status=fail]::marker { content: "✘ "; color: #b3261e; }
  li[data-status=unpinned]::marker { content: "⚠ "; color: #a15c00; }
  li[data-status=skipped]::marker { content: "– "; color: #666; }
  li[data-status=offline]::marker { content: "◌ "; color: #666; }
  li[data-status=missing]::marker { content: "✘ "; color: #b3261e; }
  details { margin: .5rem 0; } #tsa-roots { height: 6rem; } #witness-keys { height: 4rem; }
  .name { font-weight: 600; } .muted { color: #555; }
</style>
</head>
<body>
<h1>Verify Attesto evidence</h1>
<p class="muted">Checks an <code>attesto.bundle.v1</code> bundle or a C2SP <code>tlog-proof</code> <strong>in this page</strong>: nothing you drop or paste is uploaded.</p>
<div id="drop">Drop a <code>.json</code> bundle or <code>.tlog-proof</code> file here, or <label><input id="file" type="file" accept=".json,.tlog-proof,application/json,text/plain"></label></div>
<p><label for="paste">…or paste it:</label><br><textarea id="paste" spellcheck="false"></textarea></p>
<p><label for="key">Stream verifier key you trust (<code>&lt;origin&gt;+&lt;key id&gt;+&lt;key&gt;</code>), obtained out of band:</label><br><input id="key" type="text" spellcheck="false" autocomplete="off"></p>
<details id="policy"><summary>Also require (your policy)</summary>
<p><label for="witness-keys">Witness keys you trust (tlog-cosignature verifier keys, one a line):</label><br><textarea id="witness-keys" spellcheck="false"></textarea><br>
<label for="witness-k">How many of them must have cosigned:</label> <input id="witness-k" type="number" min="1" step="1" style="width:5rem"></p>
<p><label for="tsa-roots">TSA root certificates you trust (PEM):</label><br><textarea id="tsa-roots" spellcheck="false"></textarea></p>
<p><label><input id="require-anchor" type="checkbox"> Require an anchor receipt</label></p>
</details>
<p><button id="verify" type="button">Verify</button> <span id="source" class="muted"></span></p>
<div id="verdict"></div>
<p id="summary"></p>
<ul id="checks"></ul>
<script src="/verify/verify.js"></script>
</body>
</html>
`;
