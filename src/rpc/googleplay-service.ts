import type { ServiceImpl } from "@connectrpc/connect";
import type { GooglePlayService } from "../../gen/ts/attesto/v1/googleplay_pb.js";
import { GOOGLE_PLAY_METHODS } from "../contract/googleplay-messages.js";
import type { GooglePlayCalls } from "../store/module.js";
import { tenantOf } from "./context.js";

/** GooglePlayService: each method runs its entry of the contract's table with the caller's tenant. */
export function googlePlayService({ googlePlay }: { googlePlay: GooglePlayCalls }): ServiceImpl<typeof GooglePlayService> {
  const impl: Record<string, (req: never, ctx: Parameters<typeof tenantOf>[0]) => Promise<unknown>> = {};
  for (const [name, m] of Object.entries(GOOGLE_PLAY_METHODS)) {
    impl[name] = (req: never, ctx) => (m.run as (c: GooglePlayCalls, t: string, r: unknown) => Promise<unknown>)(googlePlay, tenantOf(ctx).tenantId, req);
  }
  return impl as unknown as ServiceImpl<typeof GooglePlayService>;
}
