/**
 * The Attesto verification library: pure TypeScript on @noble/hashes and
 * @noble/curves, no Node-only API, so the CLI, the server and the browser
 * page run the same code.
 */
export * from "./bytes.js";
export * from "./json.js";
export * from "./merkle.js";
export * from "./note.js";
export * from "./leaf.js";
export * from "./tlog-proof.js";
export * from "./bundle.js";
export * from "./document.js";
export * from "./anchor.js";
export * from "./report-text.js";
