import type { Config } from "../config.js";
import type { TenancySettings } from "./module.js";

/**
 * The tenancy module's settings. `devAdminToken` is the development
 * tenant's operator token, the admin token when ATTESTO_ADMIN_TOKEN is unset.
 */
export function tenancySettings(config: Config, devAdminToken?: string): TenancySettings {
  return { adminToken: config.adminToken ?? devAdminToken, apiKeyCacheMs: config.apiKeyCacheMs };
}
