// What bin/attesto.js checks before it loads the CLI, in syntax every Node since 12 reads, so that
// an old Node or an incomplete copy fails with one line that says what to do (not a stack trace,
// and not a syntax error from code an old Node cannot parse).
import { existsSync } from "node:fs";

export const MIN_NODE_MAJOR = 24;

/** The one line an unsupported Node gets, or undefined. */
export function nodeVersionProblem(version) {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? 0);
  if (major >= MIN_NODE_MAJOR) return undefined;
  return `attesto needs Node.js >= ${MIN_NODE_MAJOR}; this is Node.js ${version}. Install Node.js ${MIN_NODE_MAJOR} (e.g. \`nvm install ${MIN_NODE_MAJOR}\`) or run it through the project's npm scripts (npm start, npm run attesto), which use the Node ${MIN_NODE_MAJOR} the project installs.`;
}

/** The one line a copy with neither its compiled CLI nor its sources gets, or undefined. */
export function buildProblem(mainFile) {
  if (existsSync(mainFile)) return undefined;
  return `attesto: neither the compiled CLI (${mainFile}) nor the sources (src/) are here: an incomplete copy? A clone runs with \`npm ci --omit=dev\` (from source) or \`npm ci && npm run build\`.`;
}
