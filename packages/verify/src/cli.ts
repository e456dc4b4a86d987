/**
 * attesto-verify: the command-line verifier of the installable package. The
 * same checks and wording as `attesto verify` (src/verify/report-text.ts),
 * without the server: reads a bundle or tlog-proof from a file or stdin.
 *
 *   attesto-verify <file | -> [--key <verifier key>] [--json]
 *
 * Exit codes: 0 valid, 1 a check failed, 2 nothing failed but no key was
 * pinned, 64 a usage error, 66 the file cannot be read.
 */
import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { reportText, verifyDocument, verifyExitCode, type Sha256Into } from "../../../src/verify/index.js";

/**
 * The runtime's native SHA-256 for the hot loop (the same digests as the library's own): node:crypto's
 * one-shot `hash` where there is one (Node >= 21.7; a Hash object per message costs more than the
 * hashing), else `createHash` (Node 20, and Deno's and Bun's node:crypto).
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "buffer") => Buffer }).hash;
const nativeSha256: Sha256Into = oneShot
  ? { digestInto: (data, into, at) => void into.set(oneShot("sha256", data, "buffer"), at) }
  : { digestInto: (data, into, at) => void into.set(crypto.createHash("sha256").update(data).digest(), at) };

const USAGE = `usage: attesto-verify <file | -> [--key <verifier key>] [--json]

Verifies an attesto.bundle.v1 JSON bundle or a C2SP tlog-proof offline.
  --key   the stream's note verifier key you trust (<origin>+<key id>+<key>), obtained out of band
  --json  print the report as JSON
Exit codes: 0 valid, 1 a check failed, 2 nothing failed but no key was pinned.`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { key: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  } catch (err) {
    process.stderr.write(`attesto-verify: ${(err as Error).message}\n${USAGE}\n`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`attesto-verify: name one file to verify (or - for stdin)\n${USAGE}\n`);
    return 64;
  }
  const file = positionals[0]!;
  let text: string;
  try {
    // The bytes, then one flat string of them: the promise API's string is built of chunks, which the first
    // look at it flattens (33 MB copied again for a 100,000-event bundle), and readFileSync(file, "utf8")
    // takes a third longer than this.
    text = file === "-" ? await readStdin() : readFileSync(file).toString("utf8");
  } catch (err) {
    process.stderr.write(`attesto-verify: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 66;
  }
  const report = verifyDocument(text, { pinnedKey: values.key, sha256: nativeSha256 });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${reportText(report)}\n`);
  return verifyExitCode(report);
}

process.exitCode = await main(process.argv.slice(2));
