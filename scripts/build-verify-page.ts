// Bundles the /verify page's script (the verification library for browsers)
// into dist/verify-page/verify.js, which the compiled server serves; part of
// `npm run build`, since the production image has no esbuild. It also copies
// Redoc's standalone bundle (a devDependency, pruned from the image) to
// dist/api-reference/, which the /docs/api page loads.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { REDOC_BUNDLE_BUILT, REDOC_BUNDLE_SOURCE } from "../src/http/api-reference.js";
import { bundleVerifyPage, VERIFY_PAGE_BUILT } from "../src/verify-page/assets.js";

await mkdir(path.dirname(VERIFY_PAGE_BUILT), { recursive: true });
const js = await bundleVerifyPage();
await writeFile(VERIFY_PAGE_BUILT, js);
console.log(`wrote ${path.relative(process.cwd(), VERIFY_PAGE_BUILT)} (${js.length} bytes)`);

await mkdir(path.dirname(REDOC_BUNDLE_BUILT), { recursive: true });
await copyFile(REDOC_BUNDLE_SOURCE, REDOC_BUNDLE_BUILT);
await copyFile(`${REDOC_BUNDLE_SOURCE}.LICENSE.txt`, `${REDOC_BUNDLE_BUILT}.LICENSE.txt`);
console.log(`copied ${path.relative(process.cwd(), REDOC_BUNDLE_BUILT)}`);
