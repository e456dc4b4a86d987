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

/**
 * The most proof lines an inclusion proof has: a tree of at most 2^63
 * entries is 63 levels deep. The parser stops at one line past it, so a
 * document of millions of lines costs no more than one of 64.
 */
export const MAX_PROOF_HASHES = 63;

export function parseTlogProof(text: string): TlogProof {
  if (!isTlogProof(text)) throw new TlogProofError(`the first line must be ${TLOG_PROOF_FORMAT}`);
  const blank = text.indexOf("\n\n");
  if (blank < 0) throw new TlogProofError("no empty line before the checkpoint");
  const checkpoint = text.slice(blank + 2);
  // The head's lines one at a time, up to the empty line: no array of every line.
  let from = TLOG_PROOF_FORMAT.length + 1;
  const nextLine = (): string | undefined => {
    if (from > blank) return undefined;
    const end = text.indexOf("\n", from);
    const line = text.slice(from, end);
    from = end + 1;
    return line;
  };
  let line = nextLine();
  let extra: Uint8Array | undefined;
  if (line?.startsWith("extra ")) {
    extra = fromBase64(line.slice("extra ".length));
    if (!extra) throw new TlogProofError("extra is not base64");
    line = nextLine();
  }
  const indexLine = /^index (0|[1-9][0-9]{0,15})$/.exec(line ?? "");
  if (!indexLine) throw new TlogProofError("missing or malformed index line");
  const index = Number(indexLine[1]);
  if (!Number.isSafeInteger(index)) throw new TlogProofError("index too large");
  const hashes: Uint8Array[] = [];
  for (line = nextLine(); line !== undefined; line = nextLine()) {
    if (hashes.length === MAX_PROOF_HASHES) throw new TlogProofError(`more than ${MAX_PROOF_HASHES} proof lines (an inclusion proof has at most ${MAX_PROOF_HASHES})`);
    const h = fromBase64(line);
    if (!h || h.length !== 32) throw new TlogProofError(`proof line ${hashes.length + 1} is not a base64 SHA-256 hash`);
    hashes.push(h);
  }
  if (!checkpoint) throw new TlogProofError("no checkpoint after the empty line");
  return { ...(extra ? { extra } : {}), index, hashes, checkpoint };
}
