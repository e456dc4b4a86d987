import type { Config } from "../config.js";
import { ed25519FromSeed, ed25519RawPublic } from "../crypto/note-signing.js";
import { NoteError, parseVerifierKey, SIG_COSIGNATURE_V1, SIG_ML_DSA_44 } from "../verify/note.js";
import { parseWitnessPrivateKey, type WitnessKey } from "./protocol.js";
import type { WitnessTarget } from "./witness-client.js";

export interface WitnessSettings {
  /** Where this deployment's checkpoints are sent for cosignatures. */
  witnesses: WitnessTarget[];
  /** Cosignatures that make a checkpoint witnessed; 0: all of `witnesses`. */
  quorum: number;
  timeoutMs: number;
  /** Tries of one checkpoint's job, and the first retry's delay (doubled each time). */
  attempts: number;
  backoffMs: number;
  /** This deployment's own witness key, when it serves /witness/add-checkpoint. */
  ownKey: WitnessKey | undefined;
}

/** Reads ATTESTO_WITNESSES (a JSON array of {name, key, url}) and ATTESTO_WITNESS_KEY; a bad value stops the start with the variable's name. */
export function witnessSettings(config: Config): WitnessSettings {
  return {
    witnesses: parseWitnesses(config.witnesses),
    quorum: config.witnessQuorum,
    timeoutMs: config.witnessTimeoutMs,
    attempts: 12,
    backoffMs: 1_000,
    ownKey: config.witnessKey ? ownKey(config.witnessKey) : undefined,
  };
}

function ownKey(text: string): WitnessKey {
  try {
    return parseWitnessPrivateKey(text.trim(), (seed) => ed25519RawPublic(ed25519FromSeed(seed)));
  } catch (err) {
    throw new Error(`ATTESTO_WITNESS_KEY: ${(err as Error).message}`, { cause: err });
  }
}

export function parseWitnesses(text: string): WitnessTarget[] {
  if (!text.trim()) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new Error("ATTESTO_WITNESSES: not JSON (want an array of {name, key, url})");
  }
  if (!Array.isArray(list)) throw new Error("ATTESTO_WITNESSES: want an array of {name, key, url}");
  return list.map((w: unknown, i) => {
    const at = `ATTESTO_WITNESSES[${i}]`;
    if (typeof w !== "object" || w === null) throw new Error(`${at}: want {name, key, url}`);
    const { name, key, url } = w as Record<string, unknown>;
    if (typeof key !== "string" || typeof url !== "string") throw new Error(`${at}: key and url are strings`);
    let verifier;
    try {
      verifier = parseVerifierKey(key.trim());
    } catch (err) {
      if (err instanceof NoteError) throw new Error(`${at}.key: ${err.message}`, { cause: err });
      throw err;
    }
    if (verifier.type !== SIG_COSIGNATURE_V1 && verifier.type !== SIG_ML_DSA_44) throw new Error(`${at}.key: a witness key is a cosigner key (type 0x04 or 0x06)`);
    if (name !== undefined && name !== verifier.name) throw new Error(`${at}: name ${String(name)} is not the key's name ${verifier.name}`);
    if (!/^https?:\/\//.test(url)) throw new Error(`${at}.url: an http(s) URL (the witness's submission prefix)`);
    return { name: verifier.name, verifier, url };
  });
}
