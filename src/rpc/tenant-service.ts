import type { ServiceImpl } from "@connectrpc/connect";
import type { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import type { Tenancy } from "../tenancy/module.js";
import { tenantOf } from "./context.js";
import { apiKeyMsg, tenantMsg } from "./convert.js";

/** The calling tenant's own account; every query is scoped by the caller's tenant id. */
export function tenantService({ tenancy }: { tenancy: Tenancy }): ServiceImpl<typeof TenantService> {
  return {
    async getCurrentTenant(_req, ctx) {
      const { tenant, apiKey } = await tenancy.currentAccount(tenantOf(ctx));
      return { tenant: tenantMsg(tenant), apiKey: apiKeyMsg(apiKey) };
    },
    async createApiKey(req, ctx) {
      const { tenantId } = tenantOf(ctx);
      const { apiKey, secret } = await tenancy.createApiKey(tenantId, req.name, { caller: tenantId, requestId: req.requestId });
      return { apiKey: apiKeyMsg(apiKey), secret };
    },
    async listApiKeys(req, ctx) {
      const page = await tenancy.listApiKeys(tenantOf(ctx).tenantId, { includeRevoked: req.includeRevoked, pageSize: req.pageSize, pageToken: req.pageToken });
      return { apiKeys: page.apiKeys.map(apiKeyMsg), nextPageToken: page.nextPageToken };
    },
    async revokeApiKey(req, ctx) {
      return { apiKey: apiKeyMsg(await tenancy.revokeApiKey(req.apiKeyId, tenantOf(ctx).tenantId)) };
    },
  };
}
