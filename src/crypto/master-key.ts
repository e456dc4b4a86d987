import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../logger.js";

export const DEV_KEY_FILE = "dev-encryption.key";

/** Parses a 32-byte master key written as base64 or hex; `variable` names where it came from in the error. */
export function parseMasterKey(text: string, variable = "ATTESTO_ENCRYPTION_KEY"): Buffer {
  const trimmed = text.trim();
  const isHex = /^[0-9a-fA-F]{64}$/.test(trimmed);
  const isBase64 = /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed);
  const key = isHex ? Buffer.from(trimmed, "hex") : isBase64 ? Buffer.from(trimmed, "base64") : Buffer.alloc(0);
  if (key.length !== 32) {
    throw new Error(`${variable} must be 32 bytes, as 64 hex characters or base64`);
  }
  return key;
}

/**
 * The master key: ATTESTO_ENCRYPTION_KEY when set. Without it, the embedded
 * default keeps a development key in its data folder (created on first use);
 * a deployment on a real database must set the variable.
 */
export async function loadMasterKey(opts: { encryptionKey: string | undefined; dataDir: string; embedded: boolean; logger: Logger }): Promise<Buffer> {
  if (opts.encryptionKey) return parseMasterKey(opts.encryptionKey);
  if (!opts.embedded) {
    throw new Error("ATTESTO_ENCRYPTION_KEY is required with DATABASE_URL (generate one: openssl rand -base64 32)");
  }
  const file = path.join(opts.dataDir, DEV_KEY_FILE);
  let key: Buffer;
  try {
    key = parseMasterKey(await readFile(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(opts.dataDir, { recursive: true });
    key = randomBytes(32);
    await writeFile(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  }
  opts.logger.warn({ file }, "using a development encryption key from the data folder: for development only, set ATTESTO_ENCRYPTION_KEY in production");
  return key;
}
