import { fromBase64, toBase64 } from "./bytes.js";

/**
 * C2SP tlog-proof (c2sp.org/tlog-proof@v1): one entry's offline proof. The
 * format line, an optional `extra <base64>` line (here: the leaf bytes, so
 * the record hash can be recomputed), `index <zero-based index>`, the RFC
 * 6962 audit path one base64 hash a line, an empty line, and the signed
 * checkpoint verbatim.
 */
export const TLOG_PROOF_FORMAT = "c2sp.org/tlog-proof@v1";

export interface TlogProof {
  extra?: Uint8Array;
  index: number;
  hashes: Uint8Array[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

export class TlogProofError extends Error {}

export function formatTlogProof(p: TlogProof): string {
  const lines = [TLOG_PROOF_FORMAT];
  if (p.extra) lines.push(`extra ${toBase64(p.extra)}`);
  lines.push(`index ${p.index}`);
  for (const h of p.hashes) lines.push(toBase64(h));
  return `${lines.join("\n")}\n\n${p.checkpoint}`;
}

export const isTlogProof = (text: string) => text.startsWith(`${TLOG_PROOF_FORMAT}\n`);

export function parseTlogProof(text: string): TlogProof {
  if (!isTlogProof(text)) throw new TlogProofError(`the first line must be ${TLOG_PROOF_FORMAT}`);
  const blank = text.indexOf("\n\n");
  if (blank < 0) throw new TlogProofError("no empty line before the checkpoint");
  const head = text.slice(0, blank).split("\n").slice(1);
  const checkpoint = text.slice(blank + 2);
  let at = 0;
  let extra: Uint8Array | undefined;
  if (head[at]?.startsWith("extra ")) {
    extra = fromBase64(head[at]!.slice("extra ".length));
    if (!extra) throw new TlogProofError("extra is not base64");
    at++;
  }
  const indexLine = /^index (0|[1-9][0-9]{0,15})$/.exec(head[at] ?? "");
  if (!indexLine) throw new TlogProofError("missing or malformed index line");
  const index = Number(indexLine[1]);
  if (!Number.isSafeInteger(index)) throw new TlogProofError("index too large");
  const hashes = head.slice(at + 1).map((line, i) => {
    const h = fromBase64(line);
    if (!h || h.length !== 32) throw new TlogProofError(`proof line ${i + 1} is not a base64 SHA-256 hash`);
    return h;
  });
  if (!checkpoint) throw new TlogProofError("no checkpoint after the empty line");
  return { ...(extra ? { extra } : {}), index, hashes, checkpoint };
}
