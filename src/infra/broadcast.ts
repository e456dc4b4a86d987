import type { Redis } from "ioredis";
import type { Logger } from "../logger.js";
import type { RedisHandle } from "./redis.js";

/**
 * Messages to every instance at once over Redis pub/sub (cache evictions:
 * revoked keys, deactivated tenants, changed secrets). Delivery is best
 * effort: each cache also expires on its own, so a message lost while
 * Redis is down only delays an eviction by the cache's lifetime.
 */
export class Broadcast {
  #subscriber: Redis | undefined;
  readonly #handlers = new Map<string, Array<(message: string) => void>>();

  constructor(
    private readonly redis: RedisHandle,
    private readonly logger: Logger,
  ) {}

  publish(channel: string, message: string): void {
    this.redis.client.publish(channel, message).catch((err: Error) => this.logger.warn({ channel, err: err.message }, "could not broadcast"));
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (!this.#subscriber) {
      this.#subscriber = this.redis.connect();
      this.#subscriber.on("message", (ch: string, message: string) => this.#handlers.get(ch)?.forEach((h) => h(message)));
    }
    const handlers = this.#handlers.get(channel) ?? [];
    handlers.push(handler);
    this.#handlers.set(channel, handlers);
    if (handlers.length === 1) await this.#subscriber.subscribe(channel);
  }

  async close(): Promise<void> {
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }
}
