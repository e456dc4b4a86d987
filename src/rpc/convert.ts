import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ApiKeySchema, TenantSchema, type ApiKey as ApiKeyMsg, type Tenant as TenantMsg } from "../../gen/ts/attesto/v1/tenancy_pb.js";
import type { ApiKey, Tenant } from "../tenancy/types.js";

/** Domain values to contract messages, at the edge only. */
export const ts = (d: Date | null | undefined): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);

export const tenantMsg = (t: Tenant): TenantMsg =>
  create(TenantSchema, { id: t.id, name: t.name, active: t.active, createdAt: ts(t.createdAt), deactivatedAt: ts(t.deactivatedAt) });

export const apiKeyMsg = (k: ApiKey): ApiKeyMsg =>
  create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    name: k.name,
    prefix: k.prefix,
    createdAt: ts(k.createdAt),
    lastUsedAt: ts(k.lastUsedAt),
    revokedAt: ts(k.revokedAt),
  });
