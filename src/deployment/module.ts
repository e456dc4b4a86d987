import { and, count, eq, max, ne, sql } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { compareSettings, refusal } from "./compare.js";
import { deploymentSettings as table } from "./schema.js";
import type { DeploymentSettings } from "./settings.js";

export type { DeploymentSettings } from "./settings.js";

/** The HMAC context of the master key's check value: it tells deployments apart and reveals nothing of the key. */
const KEY_CHECK_CONTEXT = "deployment.key-check";

/**
 * The settings every instance of a deployment must share (issue 26,
 * defect 9), checked once at start: the first instance stores them, the
 * others compare. A difference in a refused setting stops the start with one
 * line naming it; a warned one is logged. ATTESTO_RECONFIGURE stores this
 * instance's settings instead (a deliberate change).
 */
export class Deployment {
  constructor(
    private readonly deps: { db: Db; keyring: Keyring; logger: Logger },
    private readonly settings: DeploymentSettings,
  ) {}

  async start(): Promise<void> {
    const { db, keyring, logger } = this.deps;
    const { queuePrefix, shared } = this.settings;
    const keyCheck = keyring.hmacHex(KEY_CHECK_CONTEXT, "attesto deployment key check v1").slice(0, 32);
    const values = Object.fromEntries(shared.map((s) => [s.name, s.value]));
    const key = and(eq(table.queuePrefix, queuePrefix), eq(table.keyCheck, keyCheck));
    if (this.settings.reconfigure) {
      await db
        .insert(table)
        .values({ queuePrefix, keyCheck, settings: values })
        .onConflictDoUpdate({ target: [table.queuePrefix, table.keyCheck], set: { settings: values, writtenAt: sql`now()` } });
      // Rows of other master keys on this prefix (a rotated key, attesto reseal) are forgotten: this instance's are the deployment's now.
      await db.delete(table).where(and(eq(table.queuePrefix, queuePrefix), ne(table.keyCheck, keyCheck)));
      logger.warn(
        { queuePrefix, settings: values },
        "ATTESTO_RECONFIGURE: stored this instance's settings as the deployment's; instances still running with other values keep them until they restart",
      );
    } else {
      // The first instance stores its settings; racing first starts leave one row, which the others compare with.
      const inserted = await db.insert(table).values({ queuePrefix, keyCheck, settings: values }).onConflictDoNothing().returning({ writtenAt: table.writtenAt });
      if (inserted.length === 0) {
        const [row] = await db.select().from(table).where(key).limit(1);
        const { refuse, warn, missing } = compareSettings(shared, row!.settings);
        if (refuse.length > 0) throw new Error(refusal(refuse, queuePrefix, row!.writtenAt));
        for (const d of warn) logger.warn({ setting: d.setting.env, here: d.setting.value, stored: d.stored }, `${d.setting.env} differs from the other instances' value (${d.setting.why})`);
        if (missing.length > 0)
          await db
            .update(table)
            .set({ settings: sql`${table.settings} || ${JSON.stringify(Object.fromEntries(missing.map((s) => [s.name, s.value])))}::jsonb` })
            .where(key);
      }
    }
    const [others] = await db
      .select({ n: count(), latest: max(table.writtenAt) })
      .from(table)
      .where(and(eq(table.queuePrefix, queuePrefix), ne(table.keyCheck, keyCheck)));
    if (others && others.n > 0)
      logger.warn(
        { queuePrefix, deployments: others.n, latest: others.latest },
        "instances with another master key (ATTESTO_ENCRYPTION_KEY) have used this database and queue prefix: they share queues with this one but cannot open its sealed values; give each deployment its own ATTESTO_QUEUE_PREFIX, or the same key",
      );
  }

  async close(): Promise<void> {}
}
