import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { GetCurrentTenantResponseSchema, type GetCurrentTenantResponse, type TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import type { ApiKey, Tenant } from "../tenancy/types.js";
import { reusedAnswer } from "./serialized-answers.js";
import type { Tenancy } from "../tenancy/module.js";
import { tenantOf } from "./context.js";
import { apiKeyMsg, tenantMsg } from "./convert.js";

/** The calling tenant's own account; every query is scoped by the caller's tenant id. */
export function tenantService({ tenancy }: { tenancy: Tenancy }): ServiceImpl<typeof TenantService> {
  // The answer per key row held: the Authenticator's cached account hands out the same rows until
  // it touches the key (a new key row) or evicts it, and rows are never changed in place.
  const answers = new WeakMap<ApiKey, { tenant: Tenant; answer: GetCurrentTenantResponse }>();
  return {
    async getCurrentTenant(_req, ctx) {
      const { tenant, apiKey } = await tenancy.currentAccount(tenantOf(ctx));
      const held = answers.get(apiKey);
      if (held?.tenant === tenant) return held.answer;
      const answer = reusedAnswer(create(GetCurrentTenantResponseSchema, { tenant: tenantMsg(tenant), apiKey: apiKeyMsg(apiKey) }));
      answers.set(apiKey, { tenant, answer });
      return answer;
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
