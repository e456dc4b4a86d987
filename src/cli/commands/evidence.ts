import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BundleStatus, type Bundle } from "../../../gen/ts/attesto/v1/proofstream_pb.js";
import { durationOf, registerBundleShareCommands, shareLinkSummary } from "./bundle-share.js";
import type { Output } from "../output.js";
import { progressBar } from "../progress.js";
import { unreachableServer, type RemoteSession } from "../remote.js";

/**
 * Evidence commands on a server: `proof` and `bundle` (see target.ts: `--url`,
 * ATTESTO_URL, and the tenant key from ATTESTO_API_KEY). `verify`, which needs
 * no server, is commands/verify.ts.
 */
export interface CliIo extends Output {
  /** The server and tenant or operator credential a server-only command talks with. */
  session: (kind: "operator" | "tenant") => Promise<RemoteSession>;
}

/** GET with the session's credential; a non-2xx answer becomes an error carrying the server's message. */
export async function getFromServer(session: RemoteSession, path: string): Promise<Response> {
  const res = await fetch(`${session.url}${path}`, { headers: { Authorization: `Bearer ${session.credential.secret}` } }).catch((err: unknown) => {
    throw unreachableServer(err, session.url) ?? err;
  });
  if (!res.ok) {
    const body = await res.text();
    let message = body;
    try {
      message = (JSON.parse(body) as { error?: { message?: string }; message?: string }).error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    if (res.status === 401) message = `the server refused the credential from ${session.credential.source}: ${message}`;
    throw new Error(`${path}: HTTP ${res.status}: ${message.slice(0, 300)}`);
  }
  return res;
}

export function registerEvidenceCommands(program: Command, io: CliIo): void {
  program
    .command("proof <streamId> <seqNo>")
    .description("write one event's C2SP tlog-proof (against the latest checkpoint)")
    .option("-o, --out <file>", "where to write it; - for stdout (default <stream id>-<seq_no>.tlog-proof)")
    .action(async (streamId: string, seqNo: string, opts: { out?: string }) => {
      const server = await io.session("tenant");
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

/** Exit codes of `attesto verify`: 0 valid, 1 a check failed, 2 nothing failed but no key was pinned. */
export { VERIFY_EXIT } from "../../verify/report-text.js";

const STATUS_NAMES: Record<BundleStatus, string> = {
  [BundleStatus.UNSPECIFIED]: "unspecified",
  [BundleStatus.PENDING]: "pending",
  [BundleStatus.READY]: "ready",
  [BundleStatus.FAILED]: "failed",
};

/** The bundle for people and for --json (without the inline document, which `--out` writes). */
const bundleSummary = (b: Bundle) => ({
  id: b.id,
  stream_id: b.streamId,
  from_seq_no: Number(b.fromSeqNo),
  to_seq_no: Number(b.toSeqNo),
  include_payloads: b.includePayloads,
  status: STATUS_NAMES[b.status],
  events_done: Number(b.eventsDone),
  checkpoint_size: Number(b.checkpointSize),
  size_bytes: Number(b.sizeBytes),
  verification_url: b.verificationUrl,
  download_url: b.downloadUrl,
  failure_reason: b.failureReason,
});

async function download(server: RemoteSession, bundle: Bundle, out: string): Promise<void> {
  const res = await getFromServer(server, new URL(bundle.downloadUrl).pathname);
  await pipeline(Readable.fromWeb(res.body! as never), createWriteStream(out));
}

export function registerBundleCommands(program: Command, io: CliIo): void {
  const bundle = program.command("bundle").description("verifier bundles (attesto.bundle.v1) on a running server");
  bundle
    .command("create <streamId> <fromSeqNo> <toSeqNo>")
    .description("start building a bundle of the inclusive range")
    .option("--payloads", "include each event's payload (default: only its digest)")
    .option("--inclusion-proofs", "add a C2SP tlog-proof per entry")
    .option("--wait", "wait until it is ready (a progress bar on a terminal)")
    .option("-o, --out <file>", "with --wait: write the document there")
    .option("--share", "also create a share link: a /verify URL anyone can open without a key (proofstream.bundle_ready carries it)")
    .option("--share-ttl <duration>", "with --share: how long the link works, e.g. 12h, 7d (default 7d, at most 30d)")
    .action(async (streamId: string, from: string, to: string, opts: { payloads?: boolean; inclusionProofs?: boolean; wait?: boolean; out?: string; share?: boolean; shareTtl?: string }) => {
      const server = await io.session("tenant");
      const client = server.client.proofstreams;
      const toBig = (v: string, name: string) => {
        if (!/^[0-9]{1,16}$/.test(v)) throw new Error(`${name} must be a positive integer`);
        return BigInt(v);
      };
      if (opts.shareTtl !== undefined && !opts.share) throw new Error("--share-ttl applies only with --share");
      const created = await client.createBundle({
        streamId,
        fromSeqNo: toBig(from, "fromSeqNo"),
        toSeqNo: toBig(to, "toSeqNo"),
        includePayloads: Boolean(opts.payloads),
        includeInclusionProofs: Boolean(opts.inclusionProofs),
        share: Boolean(opts.share),
        shareTtl: opts.shareTtl === undefined ? undefined : durationOf(opts.shareTtl, "--share-ttl"),
      });
      let current = created.bundle;
      const shareLink = created.shareLink;
      // The plain page needs the tenant's key to fetch the bundle; a share link works for anyone.
      const verify = shareLink
        ? `verify (share link, anyone with it, until ${shareLink.expiresAt ? timestampDate(shareLink.expiresAt).toISOString() : "?"}): ${shareLink.url}`
        : `verify: ${current!.verificationUrl} (fetches the bundle with the tenant's API key only; --share, or attesto bundle share ${current!.id}, makes a link anyone can open)`;
      if (opts.wait) {
        const total = Number(current!.toSeqNo - current!.fromSeqNo) + 1;
        const bar = progressBar(total, "events", io.json());
        while (current!.status === BundleStatus.PENDING) {
          bar.update(Number(current!.eventsDone));
          await new Promise((r) => setTimeout(r, 250));
          current = (await client.getBundle({ bundleId: current!.id })).bundle;
        }
        bar.update(Number(current!.eventsDone));
        bar.stop();
        if (current!.status === BundleStatus.FAILED) throw new Error(`bundle ${current!.id} failed: ${current!.failureReason}`);
        if (opts.out) await download(server, current!, opts.out);
      }
      io.output({ ...bundleSummary(current!), ...(shareLink ? { share_link: shareLinkSummary(shareLink) } : {}), ...(opts.out && opts.wait ? { path: opts.out } : {}) }, () =>
        current!.status === BundleStatus.READY
          ? `bundle ${current!.id} ready: events ${current!.fromSeqNo}..${current!.toSeqNo}, ${current!.sizeBytes} bytes${opts.out ? `, written to ${opts.out}` : ""}\n${verify}`
          : `bundle ${current!.id} ${STATUS_NAMES[current!.status]}; follow it with: attesto bundle get ${current!.id}\n${verify}`,
      );
    });
  registerBundleShareCommands(bundle, io);

  bundle
    .command("get <bundleId>")
    .description("show a bundle's status and progress")
    .action(async (bundleId: string) => {
      const { bundle: b } = await (await io.session("tenant")).client.proofstreams.getBundle({ bundleId });
      const s = bundleSummary(b!);
      io.output(
        s,
        () =>
          `${s.id} ${s.status}: ${s.events_done}/${s.to_seq_no - s.from_seq_no + 1} events${s.status === "ready" ? `, ${s.size_bytes} bytes, ${s.download_url}` : ""}${s.failure_reason ? ` (${s.failure_reason})` : ""}`,
      );
    });

  bundle
    .command("download <bundleId>")
    .description("write a ready bundle's document")
    .option("-o, --out <file>", "where to write it (default <bundle id>.json)")
    .action(async (bundleId: string, opts: { out?: string }) => {
      const server = await io.session("tenant");
      const { bundle: b } = await server.client.proofstreams.getBundle({ bundleId });
      if (b!.status !== BundleStatus.READY) throw new Error(`bundle ${bundleId} is ${STATUS_NAMES[b!.status]}, not ready`);
      const out = opts.out ?? `${bundleId}.json`;
      await download(server, b!, out);
      io.output({ path: out, bytes: Number(b!.sizeBytes) }, () => `wrote ${out}`);
    });
}
