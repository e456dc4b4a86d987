import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The package root, found from this file whether it runs from src/ or dist/src/. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find the attesto package root");
    dir = parent;
  }
  return dir;
}

export const migrationsFolder = () => path.join(projectRoot(), "migrations");

let version: string | undefined;
/** The package's version (package.json), read once. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string }).version;
  return version;
}

export const docsFolder = () => path.join(projectRoot(), "docs");

/** The pinned Apple root shipped with the package (ATTESTO_APPLE_ROOT_CERTS replaces it). */
export const APPLE_ROOT_CERT = "certs/apple/AppleRootCA-G3.pem";

/** True under tsx (src/*.ts), false when compiled (dist/src/*.js): the compiled server reads what `npm run build` wrote. */
export const runningFromSource = fileURLToPath(import.meta.url).endsWith(".ts");
