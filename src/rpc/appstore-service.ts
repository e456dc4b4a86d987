import type { ServiceImpl } from "@connectrpc/connect";
import type { AppStoreService } from "../../gen/ts/attesto/v1/appstore_pb.js";
import { APP_STORE_METHODS } from "../contract/appstore-messages.js";
import type { AppStoreCalls } from "../store/module.js";
import { tenantOf } from "./context.js";

/** AppStoreService: each method runs its entry of the contract's table with the caller's tenant. */
export function appStoreService({ appStore }: { appStore: AppStoreCalls }): ServiceImpl<typeof AppStoreService> {
  const impl: Record<string, (req: never, ctx: Parameters<typeof tenantOf>[0]) => Promise<unknown>> = {};
  for (const [name, m] of Object.entries(APP_STORE_METHODS)) {
    impl[name] = (req: never, ctx) => (m.run as (c: AppStoreCalls, t: string, r: unknown) => Promise<unknown>)(appStore, tenantOf(ctx).tenantId, req);
  }
  return impl as unknown as ServiceImpl<typeof AppStoreService>;
}
