import type { Redis } from "ioredis";
import type { Logger } from "../logger.js";
import type { RedisHandle } from "./redis.js";

/**
 * Messages to every instance at once over Redis pub/sub (cache evictions:
 * revoked keys, deactivated tenants, changed secrets). Delivery is best
 * effort: each cache also expires on its own, so a message lost while
 * Redis is down only delays an eviction by the cache's lifetime, and a
 * subscriber whose connection dropped is told when it is back (`onGap`),
 * since what was published meanwhile never reaches it.
 */
export class Broadcast {
  #subscriber: Redis | undefined;
  readonly #handlers = new Map<string, Array<(message: string) => void>>();
  readonly #gapHandlers: Array<() => void> = [];
  #connectedOnce = false;

  constructor(
    private readonly redis: RedisHandle,
    private readonly logger: Logger,
  ) {}

  publish(channel: string, message: string): void {
    this.redis.client.publish(channel, message).catch((err: Error) => this.logger.warn({ channel, err: err.message }, "could not broadcast"));
  }

  /**
   * Calls `handler` with each message on `channel`; `onGap` after the
   * subscription came back from a lost connection (messages may have been
   * missed: a cache forgets what it holds).
   */
  async subscribe(channel: string, handler: (message: string) => void, onGap?: () => void): Promise<void> {
    if (!this.#subscriber) {
      this.#subscriber = this.redis.connect();
      this.#subscriber.on("message", (ch: string, message: string) => this.#handlers.get(ch)?.forEach((h) => h(message)));
      // ioredis subscribes again by itself on every reconnect, then says "ready".
      this.#subscriber.on("ready", () => {
        if (this.#connectedOnce) this.#gapHandlers.forEach((h) => h());
        this.#connectedOnce = true;
      });
    }
    if (onGap) this.#gapHandlers.push(onGap);
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
