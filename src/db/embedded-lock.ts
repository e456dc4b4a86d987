import { readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * PGlite runs inside one process: two processes on one data folder would
 * corrupt it. A pid file guards the folder; a stale one (dead pid) is taken over.
 */
export async function lockEmbeddedDatabase(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, "pglite.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (pid && isAlive(pid)) {
        throw new Error(
          `the embedded database in ${dataDir} is in use by process ${pid}; stop it, use the running server's AdminService, or set DATABASE_URL`,
        );
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new Error(`cannot lock the embedded database in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
