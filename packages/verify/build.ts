// Builds the installable verifier (`npm run build` here, or `npm pack`, whose prepack runs it):
//   dist/index.js        the verification library (src/verify/index.ts) and its two dependencies
//                        (@noble/hashes, @noble/curves, canonicalize) in one ESM file, platform-neutral;
//   dist/cli.js          the attesto-verify command (src/cli.ts), importing ./index.js;
//   dist/types/*.d.ts    the library's declarations.
// The library's source stays in src/verify (the server and the /verify page build from it too).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { build, type Plugin } from "esbuild";

const here = import.meta.dirname;
const root = path.resolve(here, "../..");
const dist = path.join(here, "dist");
const library = path.join(root, "src/verify/index.ts");

rmSync(dist, { recursive: true, force: true });

const common = { bundle: true, format: "esm", target: "es2022", legalComments: "inline", logLevel: "warning" } as const;
await build({ ...common, entryPoints: [library], outfile: path.join(dist, "index.js"), platform: "neutral", mainFields: ["module", "main"] });

/** The CLI imports the library as ./index.js, so the package holds one copy of it. */
const libraryAsSibling: Plugin = {
  name: "library-as-sibling",
  setup(b) {
    b.onResolve({ filter: /\/src\/verify\/index\.js$/ }, () => ({ path: "./index.js", external: true }));
  },
};
await build({ ...common, entryPoints: [path.join(here, "src/cli.ts")], outfile: path.join(dist, "cli.js"), platform: "node", banner: { js: "#!/usr/bin/env node" }, plugins: [libraryAsSibling] });

// Declarations of the library, from the same source (tsc; esbuild writes none).
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(here, "tsconfig.types.json")], { stdio: "inherit" });
console.log(`built ${path.relative(root, dist)}`);
