import { writeFile } from "node:fs/promises";
import type { Command } from "commander";

/**
 * Client commands that talk to a running server over HTTP: evidence export
 * (`proof`). The server is `--url` (env ATTESTO_URL) and the tenant key
 * `--api-key` (env ATTESTO_API_KEY).
 */
export interface CliIo {
  json: () => boolean;
  output: (value: unknown, human: () => string) => void;
}

export interface ServerOptions {
  url?: string;
  apiKey?: string;
}

export function serverOf(opts: ServerOptions): { url: string; apiKey: string | undefined } {
  const url = (opts.url ?? process.env.ATTESTO_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  return { url, apiKey: opts.apiKey ?? process.env.ATTESTO_API_KEY };
}

/** GET with the tenant key; a non-2xx answer becomes an error carrying the server's message. */
export async function getFromServer(server: { url: string; apiKey: string | undefined }, path: string): Promise<Response> {
  const res = await fetch(`${server.url}${path}`, { headers: server.apiKey ? { Authorization: `Bearer ${server.apiKey}` } : {} });
  if (!res.ok) {
    const body = await res.text();
    let message = body;
    try {
      message = (JSON.parse(body) as { error?: { message?: string }; message?: string }).error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new Error(`${path}: HTTP ${res.status}: ${message.slice(0, 300)}`);
  }
  return res;
}

export const withServerOptions = (cmd: Command) =>
  cmd.option("--url <url>", "server base URL (env ATTESTO_URL, default http://127.0.0.1:8080)").option("--api-key <key>", "tenant API key (env ATTESTO_API_KEY)");

export function registerEvidenceCommands(program: Command, io: CliIo): void {
  withServerOptions(
    program
      .command("proof <streamId> <seqNo>")
      .description("write one event's C2SP tlog-proof (against the latest checkpoint)")
      .option("-o, --out <file>", "where to write it; - for stdout (default <stream id>-<seq_no>.tlog-proof)"),
  ).action(async (streamId: string, seqNo: string, opts: ServerOptions & { out?: string }) => {
    const server = serverOf(opts);
    const text = await (await getFromServer(server, `/proofstreams/${encodeURIComponent(streamId)}/proof/${encodeURIComponent(seqNo)}`)).text();
    if (opts.out === "-") {
      process.stdout.write(text);
      return;
    }
    const out = opts.out ?? `${streamId}-${seqNo}.tlog-proof`;
    await writeFile(out, text);
    io.output({ path: out, bytes: Buffer.byteLength(text) }, () => `wrote ${out}`);
  });
}
