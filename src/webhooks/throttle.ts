import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { eq } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { webhookSubscriptions } from "./schema.js";

/**
 * Reserves the next send slot of a subscription: slots are 1/rate apart,
 * kept in one key per subscription in the Redis every instance's queue
 * uses, on Redis's clock (microseconds), so all instances together keep the
 * rate. A slot further away than `maxWaitUs` is not taken: the caller comes
 * back later. Returns { taken (1/0), microseconds until the slot }.
 */
const RESERVE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local maxWait = tonumber(ARGV[2])
local nextSlot = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, nextSlot)
if at - now > maxWait then return {0, at - now} end
redis.call('SET', KEYS[1], string.format('%.0f', at + interval), 'PX', math.ceil((at + interval - now) / 1000) + 1000)
return {1, at - now}
`;

type ReserveClient = Redis & { attestoWebhookSlot(key: string, intervalUs: number, maxWaitUs: number): Promise<[number, number]> };

/** How long a subscription's rate is cached per process: a changed limit holds everywhere within this. */
const RATE_CACHE_MS = 2_000;
/**
 * A slot at most this far away is waited for in the worker (holding one of its concurrency slots,
 * well inside the job's lock); a further one delays the job. Waiting keeps the rate even: a delayed
 * job comes back only as promptly as the queue promotes it, which left gaps (7/s at a 10/s limit).
 */
const MAX_WAIT_MS = 5_000;

/** What the throttle says: send now (after waiting `waitMs`, already waited), or come back at `retryAt`. */
export type ThrottleVerdict = { go: true } | { go: false; retryAt: number };

/**
 * The per-subscription delivery rate (max_deliveries_per_second), honoured
 * by every instance: each attempt of a throttled subscription takes a slot
 * from the shared schedule in Redis before it is claimed. Subscriptions
 * without a limit cost one cached read per RATE_CACHE_MS and no Redis call.
 */
export class DeliveryThrottle {
  readonly #rates: LRUCache<string, number>;
  #client: ReserveClient | undefined;

  constructor(private readonly deps: { db: Db; redis: () => Redis; prefix: string }) {
    this.#rates = new LRUCache<string, number>({
      max: 10_000,
      ttl: RATE_CACHE_MS,
      fetchMethod: async (id) => {
        const [row] = await deps.db.select({ rate: webhookSubscriptions.maxDeliveriesPerSecond }).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id));
        return row?.rate ?? 0;
      },
    });
  }

  /** Waits for the subscription's next slot when it is near; says when to come back when it is not. */
  async admit(subscriptionId: string | undefined): Promise<ThrottleVerdict> {
    if (!subscriptionId) return { go: true };
    const rate = (await this.#rates.fetch(subscriptionId)) ?? 0;
    if (rate <= 0) return { go: true };
    const [taken, inUs] = await this.#reserve().attestoWebhookSlot(`${this.deps.prefix}:webhook-throttle:${subscriptionId}`, 1_000_000 / rate, MAX_WAIT_MS * 1000);
    const inMs = inUs / 1000;
    if (taken === 1) {
      if (inMs >= 1) await new Promise((resolve) => setTimeout(resolve, inMs));
      return { go: true };
    }
    // Back a little before the slot could be within reach, so the queue of waiting jobs keeps the rate.
    return { go: false, retryAt: Date.now() + Math.max(1, inMs - MAX_WAIT_MS / 2) };
  }

  #reserve(): ReserveClient {
    if (!this.#client) {
      const client = this.deps.redis() as ReserveClient;
      if (typeof (client as Partial<ReserveClient>).attestoWebhookSlot !== "function") client.defineCommand("attestoWebhookSlot", { numberOfKeys: 1, lua: RESERVE_SCRIPT });
      this.#client = client;
    }
    return this.#client;
  }
}
