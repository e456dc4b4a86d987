import { generateKeyPairSync } from "node:crypto";
import type { Command } from "commander";
import { ed25519FromSeed, ed25519RawPublic } from "../../crypto/note-signing.js";
import { verifierKeyString, SIG_COSIGNATURE_V1 } from "../../verify/note.js";
import { witnessPrivateKeyString } from "../../witness/module.js";
import type { WitnessedLog } from "../../../gen/ts/attesto/admin/v1/admin_pb.js";
import type { Cli } from "../context.js";

/** `attesto witness keygen|trust|list`: this deployment as a C2SP tlog-witness (operator). */
export function registerWitnessCommands(program: Command, cli: Cli): void {
  const witness = program.command("witness").description("this deployment as a C2SP tlog-witness: its key and the logs it trusts (operator)");
  witness
    .command("keygen <name>")
    .description("make a witness key: prints ATTESTO_WITNESS_KEY (a secret) and the verifier key logs configure (offline)")
    .action((name: string) => {
      const seed = Buffer.from(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }).d!, "base64url");
      const publicKey = ed25519RawPublic(ed25519FromSeed(seed));
      const key = { privateKey: witnessPrivateKeyString(name, seed, publicKey), verifierKey: verifierKeyString(name, publicKey, SIG_COSIGNATURE_V1) };
      cli.output(key, () => `ATTESTO_WITNESS_KEY=${key.privateKey}\nverifier key (for the logs' ATTESTO_WITNESSES): ${key.verifierKey}`);
    });
  witness
    .command("trust <verifierKey>")
    .description("cosign the checkpoints of the log this note verifier key signs (AddWitnessedLog)")
    .action(async (verifierKey: string) => {
      const { client } = await cli.serverSession("operator");
      const { log } = await client.admin.addWitnessedLog({ verifierKey });
      cli.output(log, () => `trusting ${log!.origin} (${log!.verifierKeys.length} key${log!.verifierKeys.length === 1 ? "" : "s"}), cosigned up to size ${log!.treeSize}`);
    });
  witness
    .command("list")
    .description("the logs this deployment's witness trusts, with the size it last cosigned")
    .action(async () => {
      const { client } = await cli.serverSession("operator");
      const logs: WitnessedLog[] = [];
      let pageToken = "";
      do {
        const page = await client.admin.listWitnessedLogs({ pageToken });
        logs.push(...page.logs);
        pageToken = page.nextPageToken;
      } while (pageToken);
      cli.output(logs, () => logs.map((l) => `${l.origin}\t${l.treeSize}`).join("\n"));
    });
}
