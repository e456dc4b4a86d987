import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "../db/db.js";
import { findPrincipalByKeyHash, hashApiKey, issueApiKey } from "./api-keys.js";
import { DEV_CREDENTIALS_FILE, type DevCredentials } from "./dev-credentials-types.js";
import { createTenant } from "./tenants.js";

/**
 * The embedded default's development tenant, API key and operator token, kept
 * in the data folder (mode 0600) so that each start prints the same ones. Only
 * used without DATABASE_URL: a real deployment never stores a key in clear.
 */
export async function ensureDevCredentials(db: Db, dataDir: string): Promise<DevCredentials> {
  const file = path.join(dataDir, DEV_CREDENTIALS_FILE);
  const existing = await readFile(file, "utf8").then(
    (text) => JSON.parse(text) as DevCredentials,
    () => undefined,
  );
  if (existing && (await findPrincipalByKeyHash(db, hashApiKey(existing.apiKey)))) return existing;
  const tenant = await createTenant(db, "Development");
  const { secret } = await issueApiKey(db, tenant.id, "development");
  const creds: DevCredentials = {
    tenantId: tenant.id,
    apiKey: secret,
    adminToken: existing?.adminToken ?? `adm_${randomBytes(24).toString("base64url")}`,
  };
  await writeFile(file, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  return creds;
}
