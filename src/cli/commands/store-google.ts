import { create, toJson, type DescMessage } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Option, type Command } from "commander";
import { Store } from "../../../gen/ts/attesto/v1/common_pb.js";
import { ReconcileNotificationsResponseSchema } from "../../../gen/ts/attesto/v1/store_pb.js";
import { GOOGLE_PLAY_METHODS, type GooglePlayMethodName } from "../../contract/googleplay-messages.js";
import type { Db } from "../../db/db.js";
import type { GooglePlayCalls, StoreVerification } from "../../store/module.js";
import type { Cli } from "../context.js";
import { requestMessage } from "./store-apple.js";

/** Runs with the store verification facade and the database it is on (--local). */
type WithVerification = <T>(run: (verification: StoreVerification, db: Db) => Promise<T>) => Promise<T>;

const ROUTES = Object.fromEntries(Object.entries(GOOGLE_PLAY_METHODS).map(([name, m]) => [m.route, name as GooglePlayMethodName]));

/**
 * `attesto store google <call> <tenantId> [request]`: any call of
 * GooglePlayService, by its REST route name, with the request as the RPC's
 * JSON (inline, @file or - for stdin). Remote: the key's tenant, through
 * GooglePlayService; --local: the same table on the database.
 * `attesto store reconcile <tenantId>`: ReconcileNotifications on the
 * server (it stores notifications, commits them to the store Proofstream and
 * relays webhooks: the server's modules do that, so it has no --local form).
 */
export function registerGooglePlayCommands(store: Command, helpers: Cli, withVerification: WithVerification): void {
  store
    .command("google <call> <tenantId> [request]")
    .description(`call the Google Play Developer API with the tenant's service account; <call> is one of ${Object.keys(ROUTES).join(", ")}`)
    .action(async (call: string, tenantId: string, request: string | undefined) => {
      const name = ROUTES[call];
      if (!name) throw new Error(`<call> must be one of ${Object.keys(ROUTES).join(", ")}`);
      const m = GOOGLE_PLAY_METHODS[name] as unknown as { request: DescMessage; response: DescMessage; run(c: GooglePlayCalls, t: string, r: unknown): Promise<Record<string, unknown>> };
      const message = await requestMessage(m.request, request);
      const value = await helpers.onTarget<unknown>(
        "tenant",
        () =>
          withVerification(async (verification, db) => {
            const { GooglePlayCalls: Calls } = await import("../../store/module.js");
            const init = await m.run(new Calls(db, verification, verification.googlePlay), tenantId, message);
            return toJson(m.response, create(m.response, init as never));
          }),
        async (session) => {
          await helpers.ensureKeyTenant(session, tenantId);
          const method = session.client.googlePlay[name] as unknown as (req: unknown) => Promise<never>;
          return toJson(m.response, await method.call(session.client.googlePlay, message));
        },
      );
      helpers.output(value, () => JSON.stringify(value, null, 2));
    });

  store
    .command("reconcile <tenantId>")
    .description("reconcile the tenant's store notifications now (Apple's Notification History, Google's voided purchases): what is missing is stored, once")
    .addOption(new Option("--source <source>", "only this store's").choices(["apple", "google"]))
    .action(async (tenantId: string, o: { source?: "apple" | "google" }) => {
      const session = await helpers.serverSession("tenant");
      await helpers.ensureKeyTenant(session, tenantId);
      const res = await session.client.storeNotifications.reconcileNotifications({
        source: o.source === "apple" ? Store.APPLE : o.source === "google" ? Store.GOOGLE : Store.UNSPECIFIED,
      });
      const value = toJson(ReconcileNotificationsResponseSchema, res);
      helpers.output(value, () =>
        res.sources
          .map(
            (s) =>
              `${s.source}\t${s.windowStart ? timestampDate(s.windowStart).toISOString() : "?"} .. ${s.windowEnd ? timestampDate(s.windowEnd).toISOString() : "?"}\tlisted ${s.listed}\tstored ${s.stored}\trejected ${s.rejected}`,
          )
          .join("\n"),
      );
    });
}
