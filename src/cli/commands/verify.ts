import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { BundleDocument } from "../../verify/bundle.js";
import { reportText, verifyExitCode } from "../../verify/report-text.js";
import type { PolicyField, VerificationPolicy } from "../../verify/policy.js";
import type { Output } from "../output.js";

/*
 * `attesto verify`: offline, so this file imports the verification library
 * and nothing of the server or its clients (main.ts loads it alone for a
 * verify command line: the rest of the CLI's modules cost a new process
 * some 400 ms before a bundle is read).
 */

const CLI_FLAG_OF_FIELD: Record<PolicyField, string> = { verifier_key: "--key", witness_keys: "--witness-key", witness_k: "--witness-k", tsa_roots: "--tsa-roots", require_anchor: "--require-anchor" };

export function registerVerifyCommands(program: Command, io: Output): void {
  program
    .command("verify <file>")
    .description(
      "verify an attesto.bundle.v1 JSON bundle or a C2SP .tlog-proof; each check by name (exit 0 valid, 1 failed, 2 key not pinned). Offline unless --rpc: anchor receipts are then checked by their path only",
    )
    .option("--key <verifierKey>", "the stream's note verifier key you trust (<origin>+<key id>+<key>)")
    .option("--rpc <url>", "a JSON-RPC endpoint of the anchor chain: check that it holds each anchor receipt's transaction, in the block the receipt names")
    .option("--tsa-roots <pem file>", "the TSA root certificates you trust: check the bundle's RFC 3161 timestamp token (a bundle without one fails as missing)")
    .option("--witness-key <key>", "a witness you trust (tlog-cosignature verifier key); repeat for each; with --witness-k", (v: string, all: string[]) => [...all, v], [] as string[])
    .option("--witness-k <k>", "how many of the --witness-key witnesses must have cosigned the checkpoint (a document with none of them fails as missing)")
    .option("--require-anchor", "the document must carry an anchor receipt (one without fails as missing)")
    .action(async (file: string, opts: { key?: string; rpc?: string; tsaRoots?: string; witnessKey: string[]; witnessK?: string; requireAnchor?: boolean }) => {
      // The bytes, then one flat string of them: the promise API's string is built of chunks (flattened again on
      // first use), and readFileSync(file, "utf8") takes a third longer than this on a 33 MB bundle.
      const text = readFileSync(file).toString("utf8");
      if (opts.witnessKey.length > 0 && opts.witnessK === undefined) throw new Error("--witness-k: say how many of the --witness-key witnesses must have cosigned");
      if (opts.witnessK !== undefined && opts.witnessKey.length === 0) throw new Error("--witness-k: give the witnesses with --witness-key");
      if (opts.witnessK !== undefined && !/^[0-9]{1,6}$/.test(opts.witnessK)) throw new Error(`--witness-k: ${opts.witnessK} is not a whole number`);
      const policy: VerificationPolicy = {
        pinnedKey: opts.key,
        witnesses: opts.witnessKey.length > 0 ? { keys: opts.witnessKey, k: Number(opts.witnessK) } : undefined,
        tsaRoots: opts.tsaRoots === undefined ? undefined : [readFileSync(opts.tsaRoots, "utf8")],
        requireAnchor: opts.requireAnchor === true,
      };
      // Loaded only here (pkijs reads RFC 3161 tokens): every other command starts without it.
      const [{ readPolicy, verifyWithPolicy }, { nodeSha256Into }] = await Promise.all([import("../../verify/policy.js"), import("../../crypto/rfc9162.js")]);
      const reading = readPolicy({ ...policy, pinnedKey: undefined });
      if ("field" in reading) throw new Error(`${CLI_FLAG_OF_FIELD[reading.field]}: ${reading.problem}`);
      // node:crypto's SHA-256 (OpenSSL) for the hot loops: in Node, faster than the library's pure-JavaScript default.
      let report = await verifyWithPolicy(text, policy, { sha256: nodeSha256Into });
      if (opts.rpc && report.kind === "bundle" && report.anchors > 0) {
        const rpc = opts.rpc;
        if (!/^https?:\/\//.test(rpc)) throw new Error(`--rpc: ${rpc} is not an http(s) URL`);
        // Loaded only here: viem is the chain client, and the offline check does not need it.
        const [{ createPublicClient, http }, { checkAnchorsOnChain }] = await Promise.all([import("viem"), import("../../verify/anchor.js")]);
        const doc = JSON.parse(text) as BundleDocument;
        report = await checkAnchorsOnChain(report, doc.checkpoint, doc.anchors, createPublicClient({ transport: http(rpc, { retryCount: 0, timeout: 10_000 }) }));
      }
      io.output(report, () => reportText(report));
      process.exitCode = verifyExitCode(report);
    });
}
