// Bundles the /verify page's script (the verification library for browsers)
// into dist/verify-page/verify.js, which the compiled server serves; part of
// `npm run build`, since the production image has no esbuild.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { bundleVerifyPage, VERIFY_PAGE_BUILT } from "../src/verify-page/assets.js";

await mkdir(path.dirname(VERIFY_PAGE_BUILT), { recursive: true });
const js = await bundleVerifyPage();
await writeFile(VERIFY_PAGE_BUILT, js);
console.log(`wrote ${path.relative(process.cwd(), VERIFY_PAGE_BUILT)} (${js.length} bytes)`);
