import { createHash } from "node:crypto";
import { asc, eq, gt } from "drizzle-orm";
import { pageOf, pageWindow, type PageRequest } from "../db/pagination.js";
import { signatureLine, SIG_COSIGNATURE_V1, type NoteSigner } from "../crypto/note-signing.js";
import { verifyConsistency } from "../crypto/rfc9162.js";
import type { Db } from "../db/db.js";
import { invalidArgument } from "../errors.js";
import { newId } from "../ids.js";
import type { Logger } from "../logger.js";
import { equalBytes } from "../verify/bytes.js";
import { NoteError, openNote, parseVerifierKey, SIG_ED25519, SIG_ML_DSA_44, type NoteVerifier } from "../verify/note.js";
import { parseAddCheckpoint, WitnessRequestError } from "./protocol.js";
import { witnessedLogs, witnessForkEvidence } from "./schema.js";

/** What add-checkpoint answers, by the spec's cases (the HTTP edge turns each into its status code). */
export type AddCheckpointOutcome =
  | { kind: "cosigned"; lines: string }
  | { kind: "malformed"; problem: string }
  | { kind: "unknown_origin" }
  | { kind: "no_trusted_signature" }
  | { kind: "size_mismatch"; size: number }
  | { kind: "root_mismatch"; evidenceId: string }
  | { kind: "inconsistent"; evidenceId: string };

/** A log this witness cosigns for. */
export interface WitnessedLog {
  origin: string;
  verifierKeys: string[];
  treeSize: number;
}

/**
 * Attesto as a C2SP tlog-witness for any log an operator trusts (by its
 * origin and note verifier keys): add-checkpoint with the spec's checks, in
 * its order: a known origin (404), a signature by a trusted key (403), the
 * old size against the size last cosigned (409 with `text/x.tlog.size`),
 * the consistency proof (422), the same root at the same size (409). The
 * check of the old size and the update are one transaction holding the
 * log's row lock, so two requests can never roll the size back. A
 * contradiction (same size, other root; or a proof that fails) signed by a
 * trusted key is stored as fork evidence before the refusal.
 */
export class WitnessServer {
  readonly #signer: NoteSigner;

  constructor(
    private readonly deps: { db: Db; logger: Logger },
    signer: Omit<NoteSigner, "type">,
  ) {
    this.#signer = { ...signer, type: SIG_COSIGNATURE_V1 };
  }

  get name(): string {
    return this.#signer.name;
  }

  async addCheckpoint(body: string): Promise<AddCheckpointOutcome> {
    let request;
    try {
      request = parseAddCheckpoint(body);
    } catch (err) {
      if (err instanceof WitnessRequestError) return { kind: "malformed", problem: err.message };
      throw err;
    }
    const { oldSize, proof, note, checkpoint } = request;
    return this.deps.db.transaction(async (tx): Promise<AddCheckpointOutcome> => {
      const [log] = await tx.select().from(witnessedLogs).where(eq(witnessedLogs.origin, checkpoint.origin)).for("update").limit(1);
      if (!log) return { kind: "unknown_origin" };
      const verifiers = log.verifierKeys.map((k) => parseVerifierKey(k));
      let opened;
      try {
        opened = openNote(note, verifiers);
      } catch (err) {
        if (err instanceof NoteError) return { kind: "malformed", problem: err.message };
        throw err;
      }
      if (opened.verifiedBy.length === 0) return { kind: "no_trusted_signature" };
      if (oldSize !== log.treeSize) return { kind: "size_mismatch", size: log.treeSize };
      const heldRoot = log.rootHash ?? Buffer.alloc(0);
      const evidence = async (kind: "same_size_different_root" | "inconsistent") => {
        const id = newId("fork");
        const dedupeKey = createHash("sha256").update(body).digest("hex");
        const [row] = await tx
          .insert(witnessForkEvidence)
          .values({ id, origin: log.origin, kind, heldSize: log.treeSize, heldRoot, heldNote: log.note, submitted: body, dedupeKey })
          .onConflictDoNothing()
          .returning({ id: witnessForkEvidence.id });
        this.deps.logger.warn(
          { origin: log.origin, kind, heldSize: log.treeSize, size: checkpoint.size },
          "a trusted log signed a checkpoint that contradicts the one this witness cosigned: fork evidence stored",
        );
        return row?.id ?? id;
      };
      if (oldSize === checkpoint.size) {
        if (oldSize > 0 && !equalBytes(heldRoot, checkpoint.root)) return { kind: "root_mismatch", evidenceId: await evidence("same_size_different_root") };
        if (oldSize > 0 && proof.length > 0) return { kind: "malformed", problem: "the proof must be empty when the old size is the checkpoint's size" };
      } else if (oldSize > 0 && !verifyConsistency(oldSize, checkpoint.size, proof.map(Buffer.from), heldRoot, Buffer.from(checkpoint.root))) {
        return { kind: "inconsistent", evidenceId: await evidence("inconsistent") };
      }
      if (checkpoint.size !== log.treeSize || log.rootHash === null) {
        await tx
          .update(witnessedLogs)
          .set({ treeSize: checkpoint.size, rootHash: Buffer.from(checkpoint.root), note, updatedAt: new Date() })
          .where(eq(witnessedLogs.origin, log.origin));
      }
      return { kind: "cosigned", lines: signatureLine(opened.text, this.#signer) };
    });
  }
}

/** Trusts a log's key (Ed25519 or ML-DSA-44 note key; the key name is the origin); returns the log with all its keys. */
export async function addWitnessedLog(db: Db, verifierKey: string): Promise<WitnessedLog> {
  let verifier: NoteVerifier;
  try {
    verifier = parseVerifierKey(verifierKey.trim());
  } catch (err) {
    throw invalidArgument("verifier_key", (err as Error).message);
  }
  const type = verifier.type ?? SIG_ED25519;
  if (type !== SIG_ED25519 && type !== SIG_ML_DSA_44) throw invalidArgument("verifier_key", "a log key is an Ed25519 (0x01) or ML-DSA-44 (0x06) note key, not a cosigner key");
  const key = verifierKey.trim();
  return db.transaction(async (tx) => {
    const [held] = await tx.select().from(witnessedLogs).where(eq(witnessedLogs.origin, verifier.name)).for("update").limit(1);
    if (!held) {
      await tx.insert(witnessedLogs).values({ origin: verifier.name, verifierKeys: [key] });
      return { origin: verifier.name, verifierKeys: [key], treeSize: 0 };
    }
    const keys = held.verifierKeys.includes(key) ? held.verifierKeys : [...held.verifierKeys, key];
    if (keys !== held.verifierKeys) await tx.update(witnessedLogs).set({ verifierKeys: keys }).where(eq(witnessedLogs.origin, held.origin));
    return { origin: held.origin, verifierKeys: keys, treeSize: held.treeSize };
  });
}

/** The trusted logs by origin, a page at a time. */
export async function listWitnessedLogs(db: Db, page: PageRequest): Promise<{ logs: WitnessedLog[]; nextPageToken: string }> {
  const win = pageWindow(page);
  const rows = await db
    .select()
    .from(witnessedLogs)
    .where(win.after ? gt(witnessedLogs.origin, win.after) : undefined)
    .orderBy(asc(witnessedLogs.origin))
    .limit(win.fetch);
  const { items, nextPageToken } = pageOf(rows, win, (r) => r.origin);
  return { logs: items.map((r) => ({ origin: r.origin, verifierKeys: r.verifierKeys, treeSize: r.treeSize })), nextPageToken };
}

/** Fork evidence this witness recorded for a log, newest first (operators and tests read it). */
export async function witnessForkEvidenceOf(db: Db, origin: string) {
  return db.select().from(witnessForkEvidence).where(eq(witnessForkEvidence.origin, origin));
}
