import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Option, type Command } from "commander";
import { ErrorInfoSchema } from "../../../gen/ts/google/rpc/error_details_pb.js";
import {
  AppendEventRequestSchema,
  CheckpointSchema,
  EventSchema,
  ProofReceiptSchema,
  ProofReceiptStatus,
  RotateStreamKeyResponseSchema,
  StreamSchema,
  type AppendEventRequest,
  type Stream,
} from "../../../gen/ts/attesto/v1/proofstream_pb.js";
import { verifyTlogProof } from "../../verify/document.js";
import { VERIFY_EXIT, type CliIo } from "./evidence.js";
import { progressBar } from "../progress.js";
import { allPages } from "../remote.js";
import { jsonOf, positiveInt } from "./remote-common.js";
import { registerWebhookCommands } from "./remote-webhooks.js";

/**
 * A replay refused for its occurred_at when --occurred-at was left out: this
 * run said "now", and the server's message names the stored time to repeat.
 */
export function withOccurredAtHint(err: unknown): unknown {
  const e = ConnectError.from(err);
  const stored = /another occurred_at \(stored (\S+),/.exec(e.rawMessage)?.[1];
  if (e.code !== Code.AlreadyExists || e.findDetails(ErrorInfoSchema)[0]?.reason !== "REPLAY_CONFLICT" || stored === undefined) return err;
  return new Error(`${e.rawMessage} (without --occurred-at this run sent the time now: replay it with --occurred-at ${stored})`, { cause: err });
}

/**
 * Tenant commands that exist only over the RPCs: streams and webhooks. They
 * use the tenant API key (ATTESTO_API_KEY) of the server chosen by --url,
 * ATTESTO_URL or the address serve listens on.
 */
export function registerRemoteCommands(program: Command, io: CliIo): void {
  registerStreamCommands(program, io);
  registerWebhookCommands(program, io);
}

const seqNoOf = (v: string) => {
  if (!/^[0-9]{1,16}$/.test(v) || v === "0") throw new Error("seqNo must be a positive integer");
  return BigInt(v);
};

/** After a rotation: each key with its generation and the tree size it signs above. */
const keyHistoryText = (s: Stream) =>
  s.keyHistory.length <= 1 + (s.mlDsa44VerifierKey ? 1 : 0)
    ? ""
    : `\nkey history:\n${s.keyHistory.map((k) => `  ${k.generation}\t${k.algorithm}\tabove ${k.takesOverAfter}\t${k.retiredAt ? "retired" : "current"}\t${k.verifierKey}`).join("\n")}`;

const streamLine = (s: Stream) => `${s.id}\t${s.treeSize} events\tcheckpoint ${s.checkpointSize}\t${s.name}`;

function registerStreamCommands(program: Command, io: CliIo): void {
  const stream = program.command("stream").description("Proofstreams of the tenant whose key is in ATTESTO_API_KEY");

  stream
    .command("create <name>")
    .description("create a stream; prints its id and the note verifier key its checkpoints are signed with")
    .action(async (name: string) => {
      const { client } = await io.session("tenant");
      const { stream: s } = await client.proofstreams.createStream({ name });
      io.output(jsonOf(StreamSchema, s), () => `created stream ${s!.id} (${s!.name})\nverifier key: ${s!.verifierKey}`);
    });

  stream
    .command("list")
    .description("list the tenant's streams")
    .action(async () => {
      const { client } = await io.session("tenant");
      const streams = await allPages(
        (pageToken) => client.proofstreams.listStreams({ pageSize: 500, pageToken }),
        (page) => page.streams,
      );
      io.output(
        streams.map((s) => jsonOf(StreamSchema, s)),
        () => streams.map(streamLine).join("\n") || "no streams",
      );
    });

  stream
    .command("get <streamId>")
    .description("show a stream: size, latest checkpoint size, verifier key")
    .action(async (streamId: string) => {
      const { client } = await io.session("tenant");
      const { stream: s } = await client.proofstreams.getStream({ streamId });
      io.output(jsonOf(StreamSchema, s), () => `${streamLine(s!)}\norigin: ${s!.origin}\nverifier key: ${s!.verifierKey}${keyHistoryText(s!)}`);
    });

  stream
    .command("rotate-key <streamId>")
    .description("rotate the stream's checkpoint keys: new keys sign the next checkpoints; prints the new verifier keys and the rotation statement (signed by the old and the new key)")
    .action(async (streamId: string) => {
      const { client } = await io.session("tenant");
      const r = await client.proofstreams.rotateStreamKey({ streamId });
      const handover = r.handoverCheckpoint ? `handover checkpoint (old and new keys): size ${r.handoverCheckpoint.treeSize}` : "handover checkpoint: the next one";
      io.output(
        jsonOf(RotateStreamKeyResponseSchema, r),
        () =>
          `new verifier key${r.verifierKeys.length === 1 ? "" : "s"}: ${r.verifierKeys.join("\n  ")}\ntakes over after tree size ${r.takesOverAfter}\n${handover}\nrotation statement:\n${r.rotationStatement}`,
      );
    });

  stream
    .command("append <streamId>")
    .description(
      "append one event (--type, --ref, --payload) or every line of a JSONL file (--file; each line an AppendEvent request: " +
        "source_ref, event_type, occurred_at, payload). Running a file again is safe: a source_ref already in the stream is not appended twice",
    )
    .option("--type <eventType>", "one event: its event type")
    .option("--ref <sourceRef>", "one event: its source reference (the idempotency key within the stream)")
    .option("--payload <json>", "one event: its payload, a JSON object", "{}")
    .option("--occurred-at <time>", "one event: when it happened (RFC 3339; default now)")
    .option("--file <path>", "append every line of this JSONL file (- for stdin)")
    .option("--wait-for-proof", "one event: answer once a signed checkpoint covers it, with its tlog-proof (verify it offline with `attesto verify`)")
    .option("--proof-out <file>", "with --wait-for-proof: write the tlog-proof to this file (default: print it)")
    .addOption(new Option("--concurrency <n>", "bulk: requests in flight").argParser(positiveInt("--concurrency")).default(16))
    .action(async (streamId: string, o: { type?: string; ref?: string; payload: string; occurredAt?: string; file?: string; concurrency: number; waitForProof?: boolean; proofOut?: string }) => {
      const { client } = await io.session("tenant");
      if (o.file === undefined) {
        if (!o.type || !o.ref) throw new Error("give --type and --ref for one event, or --file for many");
        const request = appendRequest(streamId, { source_ref: o.ref, event_type: o.type, payload: parsePayload(o.payload), occurred_at: o.occurredAt ?? new Date().toISOString() }, "--payload");
        const res = await client.proofstreams.appendEvent({ ...request, waitForProof: o.waitForProof === true }).catch((err: unknown) => {
          throw o.occurredAt === undefined ? withOccurredAtHint(err) : err;
        });
        const receipt = res.proofReceipt;
        const proven = receipt?.status === ProofReceiptStatus.PROVEN;
        if (proven && o.proofOut !== undefined) await writeFile(o.proofOut, receipt.tlogProof);
        io.output({ event: jsonOf(EventSchema, res.event), duplicate: res.duplicate, ...(receipt ? { proof_receipt: jsonOf(ProofReceiptSchema, receipt) } : {}) }, () => {
          const line = res.duplicate ? `${o.ref} was already event ${res.event!.seqNo} of ${streamId}` : `appended event ${res.event!.seqNo} to ${streamId}`;
          if (!receipt) return line;
          if (!proven) return `${line}\nproof pending: ${receipt.pendingReason}`;
          return o.proofOut !== undefined ? `${line}\nproof against the checkpoint of size ${receipt.checkpointTreeSize} written to ${o.proofOut}` : `${line}\n${receipt.tlogProof.trimEnd()}`;
        });
        return;
      }
      if (o.waitForProof) throw new Error("--wait-for-proof applies to one event, not to --file");
      const summary = await bulkAppend(streamId, o.file, o.concurrency, (request) => client.proofstreams.appendEvent(request), io.json());
      io.output(
        summary,
        () =>
          `appended ${summary.appended} events to ${streamId}` +
          (summary.duplicates ? `, ${summary.duplicates} already there` : "") +
          (summary.last_seq_no ? `; the stream's newest is now at least ${summary.last_seq_no}` : ""),
      );
    });

  stream
    .command("checkpoint <streamId>")
    .description("sign a checkpoint of the stream now (or return the latest when nothing was appended since)")
    .action(async (streamId: string) => {
      const { client } = await io.session("tenant");
      const { checkpoint: c, created } = await client.proofstreams.createCheckpoint({ streamId });
      io.output({ checkpoint: jsonOf(CheckpointSchema, c), created }, () => `${created ? "signed" : "latest"} checkpoint of ${streamId} at size ${c!.treeSize}\n${c!.note}`);
    });

  stream
    .command("proof <streamId> <seqNo>")
    .description("fetch an event's inclusion proof against the latest checkpoint and verify it here (exit 0 valid, 1 failed)")
    .option("--key <verifierKey>", "the verifier key you trust (default: the one the server reports for the stream)")
    .option("-o, --out <file>", "also write the C2SP tlog-proof to this file")
    .action(async (streamId: string, seqNo: string, o: { key?: string; out?: string }) => {
      const { client } = await io.session("tenant");
      const n = seqNoOf(seqNo);
      const key = o.key ?? (await client.proofstreams.getStream({ streamId })).stream!.verifierKey;
      const { tlogProof } = await client.proofstreams.getInclusionProof({ streamId, leaf: { case: "seqNo", value: n } });
      if (o.out) await writeFile(o.out, tlogProof);
      const report = verifyTlogProof(tlogProof, { pinnedKey: key });
      io.output({ ...report, ...(o.out ? { path: o.out } : {}) }, () =>
        [
          ...report.checks.map((c) => `${c.status === "pass" ? "✔" : c.status === "fail" ? "✘" : "–"} ${c.name}: ${c.detail}`),
          report.valid ? `VALID: event ${seqNo} is in ${streamId} at checkpoint size ${report.checkpoint_size}` : "NOT VALID",
        ].join("\n"),
      );
      process.exitCode = report.valid ? VERIFY_EXIT.valid : VERIFY_EXIT.failed;
    });
}

function parsePayload(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new Error("--payload must be JSON");
  }
}

/** One AppendEvent request from a JSONL line (proto JSON: snake_case or camelCase names); the stream id is the command's. */
function appendRequest(streamId: string, line: unknown, where: string): AppendEventRequest {
  if (typeof line !== "object" || line === null || Array.isArray(line)) throw new Error(`${where}: expected a JSON object`);
  const fields: Record<string, unknown> = { ...line };
  delete fields.stream_id;
  delete fields.streamId;
  // A file is appended again after a failure: an occurred_at filled in here would differ between runs, and the
  // server refuses a source_ref that comes back with other content. So each line carries its own.
  if (fields.occurred_at === undefined && fields.occurredAt === undefined) throw new Error(`${where}: occurred_at is required`);
  try {
    return fromJson(AppendEventRequestSchema, { ...fields, stream_id: streamId });
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

export interface BulkAppendSummary {
  appended: number;
  duplicates: number;
  /** The highest sequence number acknowledged (appends run concurrently, so lines and numbers need not follow each other). */
  last_seq_no: number;
}

/**
 * Appends every line of a JSONL file with bounded concurrency. The first
 * failure stops it (naming the line); since a source_ref is appended at
 * most once, running the file again resumes where it stopped.
 */
async function bulkAppend(
  streamId: string,
  file: string,
  concurrency: number,
  append: (request: AppendEventRequest) => Promise<{ duplicate: boolean; event?: { seqNo: bigint } }>,
  json: boolean,
): Promise<BulkAppendSummary> {
  const requests: AppendEventRequest[] = [];
  const input = file === "-" ? process.stdin : createReadStream(file);
  let lineNo = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    if (!text.trim()) continue;
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      throw new Error(`${file}:${lineNo}: not JSON`);
    }
    requests.push(appendRequest(streamId, line, `${file}:${lineNo}`));
  }
  const summary: BulkAppendSummary = { appended: 0, duplicates: 0, last_seq_no: 0 };
  const bar = progressBar(requests.length, "events", json);
  let next = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (next < requests.length && !failure) {
      const i = next++;
      try {
        const res = await append(requests[i]!);
        if (res.duplicate) summary.duplicates++;
        else summary.appended++;
        summary.last_seq_no = Math.max(summary.last_seq_no, Number(res.event?.seqNo ?? 0));
        bar.update(summary.appended + summary.duplicates);
      } catch (err) {
        failure ??= new Error(
          `event ${i + 1} of ${file} (source_ref ${JSON.stringify(requests[i]!.sourceRef)}): ${(err as Error).message}; ${summary.appended} appended before it, and running the file again appends only what is missing`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, requests.length)) }, worker));
  bar.stop();
  if (failure) throw failure;
  return summary;
}
