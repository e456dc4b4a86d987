import { create } from "@bufbuild/protobuf";
import { invalidArgument } from "../errors.js";
import { ApiKeySchema, TenantSchema, type ApiKey as ApiKeyMsg, type Tenant as TenantMsg } from "../../gen/ts/attesto/v1/tenancy_pb.js";
import type { ApiKey, Tenant } from "../tenancy/types.js";

import { ts } from "../contract/timestamps.js";

/** Domain values to contract messages, at the edge only. */
export { ts };

export const tenantMsg = (t: Tenant): TenantMsg => create(TenantSchema, { id: t.id, name: t.name, active: t.active, createdAt: ts(t.createdAt), deactivatedAt: ts(t.deactivatedAt) });

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

/** A uint64 from the wire as a safe JS number; larger values cannot name anything stored, so they are INVALID_ARGUMENT on `field`. */
export function safeUint64(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, "is too large");
  return Number(value);
}
