import { Command } from "commander";
import { packageVersion } from "../paths.js";
import { asksForVersion, invokedCommand } from "./invoked-command.js";

// Only commander and the version are loaded up front: `attesto --version` needs nothing else,
// and each command line loads the groups it can run (below).

// The attesto command: its global options, then one file per command group under commands/.
const program = new Command()
  .name("attesto")
  .description(
    "Attesto evidence service. Commands run on a server over its RPCs when one answers (--url, ATTESTO_URL, or the address serve listens on), " +
      "with the operator token from ATTESTO_ADMIN_TOKEN or a tenant key from ATTESTO_API_KEY (the embedded default's development credentials on this machine); " +
      "--local runs operator commands on the database instead.",
  )
  .version(packageVersion(), "-V, --version", "print the version")
  .option("--json", "print machine-readable JSON (and no progress bars)")
  .option("--url <url>", "the server's base URL (env ATTESTO_URL; default: the address serve listens on, if a server answers there and DATABASE_URL is not set)")
  .option("--local", "run on the database (DATABASE_URL or the embedded default) instead of a server: for bootstrap")
  .showHelpAfterError();

const args = process.argv.slice(2);
if (!asksForVersion(args)) await registerCommands(program, invokedCommand(args));

async function registerCommands(program: Command, command: string | undefined): Promise<void> {
  if (command === "verify") {
    // Offline verification loads its own command and the verification library only: the other
    // groups (and the context they share) import the server's module graph and its RPC clients,
    // which cost a verify 400 ms and more before a bundle is read.
    const [{ programOutput }, { registerVerifyCommands }] = await Promise.all([import("./output.js"), import("./commands/verify.js")]);
    registerVerifyCommands(program, programOutput(program));
    return;
  }
  // Before the groups load @bufbuild/protobuf: it looks for Uint8Array.prototype.toBase64 once, as it loads.
  await import("../infra/uint8array-to-base64.js");
  const [{ cliContext }, { registerEvidenceCommands, registerBundleCommands }, { registerVerifyCommands }] = await Promise.all([
    import("./context.js"),
    import("./commands/evidence.js"),
    import("./commands/verify.js"),
  ]);
  const cli = cliContext(program);
  const io = { json: cli.json, output: cli.output, session: cli.serverSession };
  // Loaded together, registered in one order: the help lists the commands as it always has.
  const [serve, tenant, store, remote, anchor, connector, witness, reseal, { createLogger }] = await Promise.all([
    import("./commands/serve.js"),
    import("./commands/tenant.js"),
    import("./commands/store.js"),
    import("./commands/remote.js"),
    import("./commands/anchor.js"),
    import("./commands/connector.js"),
    import("./commands/witness.js"),
    import("./commands/reseal.js"),
    import("../logger.js"),
  ]);
  serve.registerServeCommands(program, cli);
  tenant.registerTenantCommands(program, cli);
  store.registerStoreCommands(program, { ...cli, logger: (config) => createLogger(config.logLevel) });
  registerEvidenceCommands(program, io);
  registerVerifyCommands(program, io);
  registerBundleCommands(program, io);
  remote.registerRemoteCommands(program, io);
  anchor.registerAnchorCommands(program, io);
  connector.registerConnectorCommands(program, cli);
  witness.registerWitnessCommands(program, cli);
  reseal.registerResealCommands(program, cli);
}

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (program.opts().json) process.stderr.write(JSON.stringify({ error: message }) + "\n");
  else process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
});
