import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError, Option, type Command } from "commander";
import { DeliverySchema, DeliveryStatus, EventTypeSchema, RecoverDeliveriesResponseSchema, SubscriptionSchema, type Delivery } from "../../../gen/ts/attesto/v1/webhook_pb.js";
import { allPages } from "../remote.js";
import type { CliIo } from "./evidence.js";
import { jsonOf, positiveInt } from "./remote-common.js";

const STATUS_NAME: Record<DeliveryStatus, string> = {
  [DeliveryStatus.UNSPECIFIED]: "unspecified",
  [DeliveryStatus.PENDING]: "pending",
  [DeliveryStatus.SUCCEEDED]: "succeeded",
  [DeliveryStatus.FAILED]: "failed",
};
const STATUS_OF: Record<string, DeliveryStatus> = { pending: DeliveryStatus.PENDING, succeeded: DeliveryStatus.SUCCEEDED, failed: DeliveryStatus.FAILED };

const deliveryLine = (d: Delivery) =>
  `${d.id}\t${STATUS_NAME[d.status]}\t${d.eventType}${d.test ? " (test)" : ""}\tattempts ${d.attemptCount}\t${d.createdAt ? timestampDate(d.createdAt).toISOString() : ""}${d.failureReason ? `\t${d.failureReason}` : ""}`;

/** `attesto webhook …`: subscriptions and deliveries over the RPCs, with the tenant key (ATTESTO_API_KEY). */
export function registerWebhookCommands(program: Command, io: CliIo): void {
  const webhook = program.command("webhook").description("webhook subscriptions and deliveries of the tenant whose key is in ATTESTO_API_KEY");

  webhook
    .command("create <url>")
    .description("subscribe an endpoint; the signing secret is shown once")
    .requiredOption("--events <types>", "comma-separated event types (e.g. proofstream.checkpointed,apple.notification)")
    .option("--name <name>", "label", "cli")
    .option("--description <text>", "what it is for", "")
    .option("--ordered", "ordered delivery: deliveries of one stream (or store subscription) are attempted in order")
    .addOption(
      new Option("--ordering-bound <seconds>", "with --ordered: how long a delivery waits behind an earlier pending one before it is sent anyway (default 600)").argParser(
        positiveInt("--ordering-bound"),
      ),
    )
    .action(async (url: string, o: { events: string; name: string; description: string; ordered?: boolean; orderingBound?: number }) => {
      const { client } = await io.session("tenant");
      const eventTypes = o.events
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean);
      const ordering = { ordered: o.ordered ?? false, orderingBoundSeconds: o.orderingBound ?? 0 };
      const { subscription: s, secret } = await client.webhooks.createSubscription({ url, name: o.name, description: o.description, eventTypes, ...ordering });
      io.output({ subscription: jsonOf(SubscriptionSchema, s), secret }, () => `created ${s!.id} posting ${s!.eventTypes.join(", ")} to ${s!.url}; the signing secret is shown once:\n${secret}`);
    });

  webhook
    .command("list")
    .description("list the tenant's subscriptions")
    .action(async () => {
      const { client } = await io.session("tenant");
      const subs = await allPages(
        (pageToken) => client.webhooks.listSubscriptions({ pageSize: 500, pageToken }),
        (page) => page.subscriptions,
      );
      io.output(
        subs.map((s) => jsonOf(SubscriptionSchema, s)),
        () => subs.map((s) => `${s.id}\t${s.enabled ? "enabled" : `disabled (${s.disabledReason})`}\t${s.eventTypes.join(",")}\t${s.url}\t${s.name}`).join("\n") || "no subscriptions",
      );
    });

  webhook
    .command("delete <subscriptionId>")
    .description("delete a subscription (its deliveries stay readable)")
    .action(async (subscriptionId: string) => {
      const { client } = await io.session("tenant");
      await client.webhooks.deleteSubscription({ subscriptionId });
      io.output({ deleted: true, subscriptionId }, () => `deleted ${subscriptionId}`);
    });

  webhook
    .command("test <subscriptionId>")
    .description('send a test event (its data says "test": true) and show the delivery')
    .option("--type <eventType>", "the event type to imitate (default: the subscription's first)")
    .action(async (subscriptionId: string, o: { type?: string }) => {
      const { client } = await io.session("tenant");
      const eventType = o.type ?? (await client.webhooks.getSubscription({ subscriptionId })).subscription!.eventTypes[0]!;
      const { delivery: d } = await client.webhooks.sendTestEvent({ subscriptionId, eventType });
      io.output(jsonOf(DeliverySchema, d), () => `queued test delivery ${d!.id} (${d!.eventType}) to ${d!.url}; follow it with: attesto webhook deliveries --subscription ${subscriptionId}`);
    });

  webhook
    .command("deliveries")
    .description("the newest deliveries: status, event type, attempts so far, failure reason")
    .option("--subscription <id>", "only this subscription's")
    .addOption(new Option("--status <status>", "only deliveries in this state").choices(Object.keys(STATUS_OF)))
    .option("--type <eventType>", "only this event type")
    .addOption(new Option("--limit <n>", "how many (newest first)").argParser(positiveInt("--limit")).default(20))
    .action(async (o: { subscription?: string; status?: string; type?: string; limit: number }) => {
      const { client } = await io.session("tenant");
      const deliveries: Delivery[] = [];
      let pageToken = "";
      do {
        const page = await client.webhooks.listDeliveries({
          pageSize: Math.min(o.limit - deliveries.length, 100),
          pageToken,
          subscriptionId: o.subscription,
          status: o.status ? STATUS_OF[o.status] : DeliveryStatus.UNSPECIFIED,
          eventType: o.type,
        });
        deliveries.push(...page.deliveries);
        pageToken = page.nextPageToken;
      } while (pageToken && deliveries.length < o.limit);
      io.output(
        deliveries.map((d) => jsonOf(DeliverySchema, d)),
        () => deliveries.map(deliveryLine).join("\n") || "no deliveries",
      );
    });

  webhook
    .command("redeliver <deliveryId>")
    .description("send a delivery again, with the same delivery id (receivers deduplicate by it)")
    .action(async (deliveryId: string) => {
      const { client } = await io.session("tenant");
      const { delivery: d } = await client.webhooks.redeliverDelivery({ deliveryId });
      io.output(jsonOf(DeliverySchema, d), () => `redelivering ${d!.id} (${d!.eventType}) to ${d!.url}`);
    });

  registerSubscriptionStateCommands(webhook, io);

  webhook
    .command("event-types")
    .description("the event catalogue: each type, what it means, since which version (--json for the schemas and examples)")
    .action(async () => {
      const { client } = await io.session("tenant");
      const eventTypes = await allPages(
        (pageToken) => client.webhooks.listEventTypes({ pageSize: 500, pageToken }),
        (page) => page.eventTypes,
      );
      io.output(
        eventTypes.map((e) => jsonOf(EventTypeSchema, e)),
        () => eventTypes.map((e) => `${e.name}\t${e.sinceVersion}\t${e.description}`).join("\n"),
      );
    });
}

/** `attesto webhook enable`, `ordering` and `recover`: a subscription's state and what it re-sends. */
function registerSubscriptionStateCommands(webhook: Command, io: CliIo): void {
  webhook
    .command("enable <subscriptionId>")
    .description("re-enable a disabled subscription (its failure counters start again; nothing is re-sent: see recover)")
    .action(async (subscriptionId: string) => {
      const { client } = await io.session("tenant");
      const { subscription: s } = await client.webhooks.updateSubscription({ subscriptionId, enabled: true, updateMask: { paths: ["enabled"] } });
      io.output(jsonOf(SubscriptionSchema, s), () => `enabled ${s!.id} (${s!.url})`);
    });

  webhook
    .command("ordering <subscriptionId> <onOrOff>")
    .description("turn ordered delivery on or off (deliveries of one stream or store subscription attempted in order)")
    .addOption(new Option("--bound <seconds>", "how long a delivery waits behind an earlier pending one before it is sent anyway").argParser(positiveInt("--bound")))
    .action(async (subscriptionId: string, onOrOff: string, o: { bound?: number }) => {
      if (onOrOff !== "on" && onOrOff !== "off") throw new InvalidArgumentError("the second argument must be on or off");
      const { client } = await io.session("tenant");
      const paths = ["ordered", ...(o.bound !== undefined ? ["ordering_bound_seconds"] : [])];
      const { subscription: s } = await client.webhooks.updateSubscription({ subscriptionId, ordered: onOrOff === "on", orderingBoundSeconds: o.bound ?? 0, updateMask: { paths } });
      io.output(jsonOf(SubscriptionSchema, s), () => `${s!.id}: ordered delivery ${s!.ordered ? `on (bound ${s!.orderingBoundSeconds} s)` : "off"}`);
    });

  webhook
    .command("recover <subscriptionId>")
    .description("attempt again every delivery of the subscription that failed in a window (same ids; pending and delivered ones are left alone)")
    .requiredOption("--since <time>", "RFC 3339: deliveries created at or after this time", rfc3339Arg("--since"))
    .option("--until <time>", "RFC 3339: deliveries created before this time (default: now)", rfc3339Arg("--until"))
    .action(async (subscriptionId: string, o: { since: Date; until?: Date }) => {
      const { client } = await io.session("tenant");
      const r = await client.webhooks.recoverDeliveries({ subscriptionId, since: timestampFromDate(o.since), until: o.until ? timestampFromDate(o.until) : undefined });
      io.output(jsonOf(RecoverDeliveriesResponseSchema, r), () => `recovering ${r.recoveredCount} failed deliveries${r.more ? " (more are left in the window: run it again)" : ""}`);
    });
}

/** An RFC 3339 time argument; anything else is refused, naming the option. */
function rfc3339Arg(option: string) {
  return (value: string): Date => {
    const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : undefined;
    if (!at || Number.isNaN(at.getTime())) throw new InvalidArgumentError(`${option} must be an RFC 3339 time, e.g. 2026-06-07T12:00:00Z`);
    return at;
  };
}
