import { existsSync } from "node:fs";
import path from "node:path";
import { APPLE_ROOT_CERT, projectRoot, runningFromSource } from "./paths.js";

/** A path the server reads from its own package at run time, and the folder an image or install must carry for it. */
export interface RunTimeFile {
  /** Relative to the package root; a trailing slash names a folder. */
  path: string;
  include: string;
}

/** The migrations' index (drizzle's journal): `serve` and `attesto migrate` apply what it lists. */
export const MIGRATIONS_JOURNAL: RunTimeFile = { path: "migrations/meta/_journal.json", include: "migrations/" };

/**
 * What `serve` reads from its package besides the code: the migrations, the
 * docs the landing page serves, the shipped Apple root (unless
 * ATTESTO_APPLE_ROOT_CERTS replaces it) and, compiled, the /verify page's
 * script that `npm run build` bundles. The container image's final stage
 * copies each (`npm run check:image` starts what it copies).
 */
export function serverRunTimeFiles(opts: { appleRootCertFiles: string[]; compiled: boolean }, root = projectRoot()): RunTimeFile[] {
  const files: RunTimeFile[] = [MIGRATIONS_JOURNAL, { path: "docs/", include: "docs/" }];
  if (opts.appleRootCertFiles.includes(path.join(root, APPLE_ROOT_CERT))) files.push({ path: APPLE_ROOT_CERT, include: "certs/" });
  if (opts.compiled) files.push({ path: "dist/verify-page/verify.js", include: "dist/ (npm run build writes it)" });
  return files;
}

/** The one line naming what is missing and what to include, or undefined when every file is there. */
export function missingRunTimeFiles(files: RunTimeFile[], root: string): string | undefined {
  const missing = files.filter((f) => !existsSync(path.join(root, f.path)));
  if (missing.length === 0) return undefined;
  const list = (items: string[]) => (items.length === 1 ? items[0] : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`);
  const includes = [...new Set(missing.map((f) => f.include))];
  return `${list(missing.map((f) => f.path))} ${missing.length === 1 ? "is" : "are"} missing (package root ${root}): the image or install must include ${list(includes)}`;
}

/**
 * Fails start-up in one line when a file the server reads at run time is
 * missing, instead of a bare ENOENT from wherever it is first read (or a
 * route that fails on every request). Pinned roots the operator named
 * (ATTESTO_APPLE_ROOT_CERTS) are checked too.
 */
export function assertServerRunTimeFiles(config: { appleRootCertFiles: string[] }): void {
  const root = projectRoot();
  const problem = missingRunTimeFiles(serverRunTimeFiles({ appleRootCertFiles: config.appleRootCertFiles, compiled: !runningFromSource }, root), root);
  if (problem) throw new Error(problem);
  const shipped = path.join(root, APPLE_ROOT_CERT);
  const absent = config.appleRootCertFiles.filter((f) => f !== shipped && !existsSync(f));
  if (absent.length > 0) throw new Error(`ATTESTO_APPLE_ROOT_CERTS names ${absent.join(", ")}, which ${absent.length === 1 ? "is" : "are"} missing`);
}
