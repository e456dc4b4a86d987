import { createWriteStream, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BundleStatus, type Bundle } from "../../../gen/ts/attesto/v1/proofstream_pb.js";
import { durationOf, registerBundleShareCommands, shareLinkSummary } from "./bundle-share.js";
import type { BundleDocument } from "../../verify/bundle.js";
import { nodeSha256Into } from "../../crypto/rfc9162.js";
import { reportText, verifyExitCode } from "../../verify/report-text.js";
import type { PolicyField, VerificationPolicy } from "../../verify/policy.js";
import { progressBar } from "../progress.js";
import { unreachableServer, type RemoteSession } from "../remote.js";

/**
 * Evidence commands. `verify` needs no server (the shared verification
 * library; with `--rpc`, the anchor chain's JSON-RPC endpoint). `proof` and `bundle` talk to a server (see target.ts: `--url`,
 * ATTESTO_URL, and the tenant key from ATTESTO_API_KEY).
 */
export interface CliIo {
  json: () => boolean;
  output: (value: unknown, human: () => string) => void;
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

const CLI_FLAG_OF_FIELD: Record<PolicyField, string> = { verifier_key: "--key", witness_keys: "--witness-key", witness_k: "--witness-k", tsa_roots: "--tsa-roots", require_anchor: "--require-anchor" };

export function registerVerifyCommands(program: Command, io: CliIo): void {
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
      // readFileSync answers one flat string (the promise API's is built of chunks, flattened again on first use).
      const text = readFileSync(file, "utf8");
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
      const { readPolicy, verifyWithPolicy } = await import("../../verify/policy.js");
      const reading = readPolicy({ ...policy, pinnedKey: undefined });
      if ("field" in reading) throw new Error(`${CLI_FLAG_OF_FIELD[reading.field]}: ${reading.problem}`);
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
