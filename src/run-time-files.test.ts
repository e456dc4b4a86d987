import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { APPLE_ROOT_CERT } from "./paths.js";
import { missingRunTimeFiles, serverRunTimeFiles } from "./run-time-files.js";

const roots: string[] = [];
/** A package root holding the given relative paths (a trailing slash makes a folder). */
function packageRoot(paths: string[]): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "attesto-runtime-"));
  roots.push(root);
  for (const p of paths) {
    const full = path.join(root, p);
    if (p.endsWith("/")) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, "x");
    }
  }
  return root;
}
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

const everything = ["migrations/meta/_journal.json", "docs/", APPLE_ROOT_CERT, "dist/verify-page/verify.js"];

describe("the server's run-time files", () => {
  it("finds nothing missing in a complete package", () => {
    const root = packageRoot(everything);
    const files = serverRunTimeFiles({ appleRootCertFiles: [path.join(root, APPLE_ROOT_CERT)], compiled: true }, root);
    expect(missingRunTimeFiles(files, root)).toBeUndefined();
  });

  it("names the missing Apple root in one line with the folder to include", () => {
    const root = packageRoot(everything.filter((p) => p !== APPLE_ROOT_CERT));
    const files = serverRunTimeFiles({ appleRootCertFiles: [path.join(root, APPLE_ROOT_CERT)], compiled: true }, root);
    expect(missingRunTimeFiles(files, root)).toBe(`certs/apple/AppleRootCA-G3.pem is missing (package root ${root}): the image or install must include certs/`);
  });

  it("lists every missing file at once", () => {
    const root = packageRoot(["docs/"]);
    const files = serverRunTimeFiles({ appleRootCertFiles: [path.join(root, APPLE_ROOT_CERT)], compiled: true }, root);
    const message = missingRunTimeFiles(files, root)!;
    expect(message).toMatch(/^migrations\/meta\/_journal\.json, certs\/apple\/AppleRootCA-G3\.pem and dist\/verify-page\/verify\.js are missing /);
    expect(message).toContain("must include migrations/, certs/ and dist/ (npm run build writes it)");
    expect(message).not.toContain("\n");
  });

  it("does not ask for the shipped root when ATTESTO_APPLE_ROOT_CERTS replaces it, nor for the build output from source", () => {
    const root = packageRoot(["migrations/meta/_journal.json", "docs/"]);
    const files = serverRunTimeFiles({ appleRootCertFiles: ["/etc/attesto/apple-root.pem"], compiled: false }, root);
    expect(files.map((f) => f.path)).toEqual(["migrations/meta/_journal.json", "docs/"]);
    expect(missingRunTimeFiles(files, root)).toBeUndefined();
  });
});
