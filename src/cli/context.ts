import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { loadConfig, type Config } from "../config.js";
import type { ConfiguredDatabase } from "../db/open.js";
import { createLogger } from "../logger.js";
import type { Tenancy } from "../tenancy/module.js";
import { localBroadcast } from "./broadcast.js";
import { programOutput, type Output } from "./output.js";
import { openSession, type RemoteSession } from "./remote.js";
import { chooseTarget, requireServer, type CredentialKind, type TargetOptions } from "./target.js";

// The database, Redis and domain modules load on use: `attesto verify` is
// offline and starts without them.

/** What every command group is given: the global options, how to print, and where a command runs. */
export interface Cli extends Output {
  /**
   * Runs an operator command on a server when one is chosen (see target.ts),
   * else on the local database. Both forms print the same fields.
   */
  onTarget<T>(kind: CredentialKind, local: () => Promise<T>, remote: (session: RemoteSession) => Promise<T>): Promise<T>;
  /** A session with the server a server-only command needs. */
  serverSession(kind: CredentialKind): Promise<RemoteSession>;
  /** The configured database, opened (and migrated) for one command. */
  withDatabase<T>(run: (db: ConfiguredDatabase, config: Config) => Promise<T>): Promise<T>;
  /** The tenancy module on the local database. */
  withTenancy<T>(run: (tenancy: Tenancy) => Promise<T>): Promise<T>;
  /** Remote commands act for the API key's tenant: a tenant id that is not the key's is refused, not ignored. */
  ensureKeyTenant(session: RemoteSession, tenantId: string): Promise<void>;
}

export function cliContext(program: Command): Cli {
  const { json, output } = programOutput(program);
  const targetOptions = (): TargetOptions => program.opts<TargetOptions>();

  async function withDatabase<T>(run: (db: ConfiguredDatabase, config: Config) => Promise<T>): Promise<T> {
    const config = loadConfig();
    const { openConfiguredDatabase } = await import("../db/open.js");
    const database = await openConfiguredDatabase(config);
    try {
      return await run(database, config);
    } finally {
      await database.close();
    }
  }

  return {
    json,
    output,
    async onTarget(kind, local, remote) {
      const config = loadConfig();
      const target = await chooseTarget(targetOptions(), config);
      if (target.mode === "local") return local();
      if (!target.explicit && !json()) process.stderr.write(`attesto: on the server at ${target.url} (--local for the database)\n`);
      return remote(await openSession(kind, target.url, config));
    },
    async serverSession(kind) {
      const config = loadConfig();
      return openSession(kind, await requireServer(targetOptions(), config), config);
    },
    withDatabase,
    withTenancy(run) {
      return withDatabase(async ({ db }, config) => {
        const logger = createLogger(config.logLevel === "info" ? "warn" : config.logLevel);
        const { broadcast, close } = await localBroadcast(config, logger);
        const [{ Tenancy }, { tenancySettings }] = await Promise.all([import("../tenancy/module.js"), import("../tenancy/settings.js")]);
        try {
          return await run(new Tenancy({ db, logger, broadcast }, tenancySettings(config)));
        } finally {
          await close();
        }
      });
    },
    async ensureKeyTenant(session, tenantId) {
      const { tenant: t } = await session.client.tenant.getCurrentTenant({});
      if (t?.id !== tenantId) throw new Error(`the key from ${session.credential.source} belongs to tenant ${t?.id ?? "?"}, not ${tenantId}`);
    },
  };
}

export const dateOf = (t: Timestamp | undefined): Date | null => (t ? timestampDate(t) : null);

/** A field the server's answer must carry. */
export const required = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`the server's answer has no ${what}`);
  return value;
};
