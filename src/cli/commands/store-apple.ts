import { readFile } from "node:fs/promises";
import { create, fromJson, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import type { Command } from "commander";
import { APP_STORE_METHODS, type AppStoreMethodName } from "../../contract/appstore-messages.js";
import { validateMessage } from "../../contract/validation.js";
import type { AppStoreCalls, StoreVerification } from "../../store/module.js";
import type { Cli } from "../context.js";

/** Runs with the store verification facade on the local database (--local). */
type WithVerification = <T>(run: (verification: StoreVerification) => Promise<T>) => Promise<T>;

const ROUTES = Object.fromEntries(Object.entries(APP_STORE_METHODS).map(([name, m]) => [m.route, name as AppStoreMethodName]));

/**
 * `attesto store apple <call> <tenantId> [request]`: any App Store Server
 * API call of AppStoreService, by its REST route name, with the request as
 * the RPC's JSON (inline, @file or - for stdin). Remote: the key's tenant,
 * through AppStoreService; --local: the same table on the database.
 */
export function registerAppleApiCommand(store: Command, helpers: Cli, withVerification: WithVerification): void {
  store
    .command("apple <call> <tenantId> [request]")
    .description(`call the App Store Server API with the tenant's key, every signed item verified; <call> is one of ${Object.keys(ROUTES).join(", ")}`)
    .action(async (call: string, tenantId: string, request: string | undefined) => {
      const name = ROUTES[call];
      if (!name) throw new Error(`<call> must be one of ${Object.keys(ROUTES).join(", ")}`);
      const m = APP_STORE_METHODS[name] as unknown as { request: DescMessage; response: DescMessage; run(c: AppStoreCalls, t: string, r: unknown): Promise<Record<string, unknown>> };
      const message = await requestMessage(m.request, request);
      const value = await helpers.onTarget<unknown>(
        "tenant",
        () =>
          withVerification(async (verification) => {
            const { AppStoreCalls: Calls } = await import("../../store/module.js");
            const init = await m.run(new Calls(verification, verification.appleApi), tenantId, message);
            return toJson(m.response, create(m.response, init as never));
          }),
        async (session) => {
          await helpers.ensureKeyTenant(session, tenantId);
          const method = session.client.appStore[name] as unknown as (req: unknown) => Promise<never>;
          return toJson(m.response, await method.call(session.client.appStore, message));
        },
      );
      helpers.output(value, () => JSON.stringify(value, null, 2));
    });
}

/** A call's request message from the [request] argument (inline JSON, @file, - for stdin; none: {}), its field rules checked. */
export async function requestMessage<D extends DescMessage>(schema: D, request: string | undefined): Promise<MessageShape<D>> {
  const text = request === undefined ? "{}" : request === "-" ? await readStdin() : request.startsWith("@") ? await readFile(request.slice(1), "utf8") : request;
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch {
    throw new Error("[request] must be the call's request as JSON");
  }
  const message = fromJson(schema, json);
  validateMessage(schema, message);
  return message;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
