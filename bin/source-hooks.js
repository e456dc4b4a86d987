// Runs the TypeScript sources (src/, gen/ts/) directly when nothing is built: a production install
// (`npm ci --omit=dev`) has no compiler, and Node 24 has its own. Its type stripping alone does not
// take enums (the generated protobuf code has them) nor the `.js` specifiers tsc's NodeNext
// resolution wants, so these hooks ask for the full transform and map `./x.js` to `./x.ts` when
// only the latter exists. Files under node_modules/ are never touched.
import { existsSync, readFileSync } from "node:fs";
import { registerHooks, stripTypeScriptTypes } from "node:module";
import { fileURLToPath } from "node:url";

const ours = (url) => url.startsWith("file:") && !url.includes("/node_modules/");

// Node says once that stripTypeScriptTypes is experimental; the transform is the point of this file.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  if (String(warning?.message ?? warning).includes("stripTypeScriptTypes")) return;
  return emitWarning.call(process, warning, ...rest);
};

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (parent?.endsWith(".ts") && ours(parent) && (specifier.startsWith("./") || specifier.startsWith("../")) && specifier.endsWith(".js")) {
      const source = new URL(`${specifier.slice(0, -3)}.ts`, parent);
      if (!existsSync(new URL(specifier, parent)) && existsSync(source)) return { url: source.href, format: "module", shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (!url.endsWith(".ts") || !ours(url)) return nextLoad(url, context);
    const code = readFileSync(fileURLToPath(url), "utf8");
    return { format: "module", source: stripTypeScriptTypes(code, { mode: "transform", sourceMap: true, sourceUrl: url }), shortCircuit: true };
  },
});
