import type { ServiceImpl } from "@connectrpc/connect";
import type { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import type { Db } from "../db/db.js";
import { getApiKey, issueApiKey, listApiKeys, revokeApiKey } from "../tenancy/api-keys.js";
import { getTenant } from "../tenancy/tenants.js";
import { tenantOf } from "./context.js";
import { apiKeyMsg, tenantMsg } from "./convert.js";

/** The calling tenant's own account; every query is scoped by the caller's tenant id. */
export function tenantService(deps: { db: Db; onCredentialsRevoked(keyHash?: string): void }): ServiceImpl<typeof TenantService> {
  const { db } = deps;
  return {
    async getCurrentTenant(_req, ctx) {
      const { tenantId, apiKeyId } = tenantOf(ctx);
      const [tenant, apiKey] = await Promise.all([getTenant(db, tenantId), getApiKey(db, tenantId, apiKeyId)]);
      return { tenant: tenantMsg(tenant), apiKey: apiKeyMsg(apiKey) };
    },
    async createApiKey(req, ctx) {
      const { apiKey, secret } = await issueApiKey(db, tenantOf(ctx).tenantId, req.name);
      return { apiKey: apiKeyMsg(apiKey), secret };
    },
    async listOwnApiKeys(req, ctx) {
      return { apiKeys: (await listApiKeys(db, tenantOf(ctx).tenantId, req.includeRevoked)).map(apiKeyMsg) };
    },
    async revokeOwnApiKey(req, ctx) {
      const { keyHash, ...apiKey } = await revokeApiKey(db, req.apiKeyId, tenantOf(ctx).tenantId);
      deps.onCredentialsRevoked(keyHash);
      return { apiKey: apiKeyMsg(apiKey) };
    },
  };
}
