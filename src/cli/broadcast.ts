import type { Config } from "../config.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { Logger } from "../logger.js";

/**
 * How local commands reach running servers' caches: through Redis (the
 * sentinels' master, REDIS_URL, or the one on 127.0.0.1:6379 when it answers) revocations evict at once;
 * without one they follow within the caches' lifetimes. Never starts a Redis.
 */
export async function localBroadcast(config: Config, logger: Logger): Promise<{ broadcast: Broadcast | undefined; close: () => Promise<void> }> {
  const { answersPing, openRedis } = await import("../infra/redis.js");
  const { Broadcast } = await import("../infra/broadcast.js");
  const redisUrl = config.redisUrl ?? ((await answersPing("127.0.0.1", 6379)) ? "redis://127.0.0.1:6379" : undefined);
  if (!redisUrl && !config.redisSentinel) return { broadcast: undefined, close: async () => {} };
  const redis = await openRedis({ url: config.redisSentinel ? config.redisUrl : redisUrl, sentinel: config.redisSentinel, dataDir: config.dataDir, logger });
  const broadcast = new Broadcast(redis, logger);
  return { broadcast, close: () => broadcast.close().then(() => redis.close()) };
}
