import type { Command } from "commander";
import type { Cli } from "../context.js";

/**
 * `attesto reseal`: re-seals every stored secret from ATTESTO_OLD_ENCRYPTION_KEY
 * to ATTESTO_ENCRYPTION_KEY, on the database (docs/operator.md, "Rotating the
 * encryption key"). The keys come from the environment only: a command line
 * is readable by every user of the machine (ps, /proc/<pid>/cmdline) and
 * kept in shell history, a process's environment only by its own user.
 */
export function registerResealCommands(program: Command, cli: Cli): void {
  program
    .command("reseal")
    .description(
      "re-seal every stored secret (stream keys, webhook and connector secrets, store credentials, the anchor sender key, request-id secrets) " +
        "from the key in ATTESTO_OLD_ENCRYPTION_KEY to the one in ATTESTO_ENCRYPTION_KEY, in one transaction, on the database; " +
        "values already sealed with the new key are left alone, so running it again is safe",
    )
    .option("--dry-run", "check both keys against every value and count, then roll back")
    .action(async (opts: { dryRun?: boolean }) => {
      await cli.withDatabase(async (database, config) => {
        if (!config.encryptionKey) throw new Error("set ATTESTO_ENCRYPTION_KEY to the new key (generate one: openssl rand -base64 32)");
        if (!config.oldEncryptionKey) throw new Error("set ATTESTO_OLD_ENCRYPTION_KEY to the key the secrets are sealed with now");
        const [{ Keyring }, { parseMasterKey }, { resealAll }, { ALL_SEALED_COLUMNS }] = await Promise.all([
          import("../../crypto/keyring.js"),
          import("../../crypto/master-key.js"),
          import("../../crypto/reseal.js"),
          import("../../server/sealed-columns.js"),
        ]);
        const old = new Keyring(parseMasterKey(config.oldEncryptionKey, "ATTESTO_OLD_ENCRYPTION_KEY"));
        const next = new Keyring(parseMasterKey(config.encryptionKey, "ATTESTO_ENCRYPTION_KEY"));
        const tables = await resealAll(database.db, { old, next }, [...ALL_SEALED_COLUMNS], { dryRun: opts.dryRun });
        const result = { dryRun: Boolean(opts.dryRun), oldKey: old.fingerprint(), newKey: next.fingerprint(), tables };
        cli.output(result, () =>
          [
            `${opts.dryRun ? "dry run (rolled back): would re-seal" : "re-sealed"} from key ${result.oldKey} to key ${result.newKey}`,
            ...tables.map((t) => `  ${t.table}: ${t.rows} rows, ${t.resealed} values re-sealed, ${t.already} already under the new key`),
            opts.dryRun ? "nothing was changed" : "start every process with ATTESTO_ENCRYPTION_KEY alone now; one with the old key is refused",
          ].join("\n"),
        );
      });
    });
}
