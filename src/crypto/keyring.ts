import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.js";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** HMAC subkeys live in their own HKDF info namespace, apart from AES subkeys. */
const HMAC_INFO_PREFIX = "hmac/";
/** HMAC context of the master key's fingerprint (HKDF info "hmac/master-key.fingerprint"). */
const FINGERPRINT_CONTEXT = "master-key.fingerprint";

/** RFC 5869 HKDF with SHA-256. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, typeof info === "string" ? Buffer.from(info, "utf8") : info, length));
}

/**
 * Encrypts columns and keys HMACs with subkeys derived from one master key.
 * Each context (a column, such as "api_keys.x" or "connectors.secret") gets
 * its own AES-256-GCM subkey, so one column's plaintext says nothing about
 * another's key. Ciphertexts are laid out as nonce(12) || ciphertext || tag(16).
 *
 * During a key rotation it also holds the previous master key: a value that
 * does not open under the current key is tried under the previous one, and
 * everything is sealed and keyed under the current one (`attesto reseal`
 * moves the stored values over).
 */
export class Keyring {
  readonly #master: Buffer;
  readonly #subkeys = new Map<string, Buffer>();
  readonly #previous: Keyring | undefined;

  constructor(masterKey: Uint8Array, previousMasterKey?: Uint8Array) {
    if (masterKey.length !== KEY_BYTES) {
      throw new AppError("invalid_argument", `master key must be ${KEY_BYTES} bytes, got ${masterKey.length}`);
    }
    this.#master = Buffer.from(masterKey);
    this.#previous = previousMasterKey ? new Keyring(previousMasterKey) : undefined;
  }

  /**
   * Names the master key without revealing it: the first 16 bytes (hex) of an
   * HMAC under its own subkey. Two keyrings share it exactly when they share
   * the key; it is safe to print and to store.
   */
  fingerprint(): string {
    return this.hmacHex(FINGERPRINT_CONTEXT, "attesto master key").slice(0, 32);
  }

  /** The previous master key's fingerprint, during a rotation. */
  previousFingerprint(): string | undefined {
    return this.#previous?.fingerprint();
  }

  /** The AES-256 subkey of a context. */
  encryptionKey(context: string): Buffer {
    if (!context || context.startsWith(HMAC_INFO_PREFIX)) {
      throw new AppError("invalid_argument", `bad encryption context "${context}"`);
    }
    return this.#derive(context);
  }

  /** The HMAC-SHA-256 subkey of a context (info "hmac/<context>"). */
  hmacKey(context: string): Buffer {
    if (!context) throw new AppError("invalid_argument", "empty HMAC context");
    return this.#derive(HMAC_INFO_PREFIX + context);
  }

  /**
   * AES-256-GCM. `aad` binds the ciphertext to where it is stored (for
   * example a tenant id), so a ciphertext copied to another row fails to open.
   */
  encrypt(context: string, plaintext: Uint8Array | string, aad?: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.encryptionKey(context), nonce);
    if (aad !== undefined) cipher.setAAD(Buffer.from(aad, "utf8"));
    const data = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  }

  decrypt(context: string, sealed: Uint8Array, aad?: string): Buffer {
    if (!this.#previous) return this.#open(context, sealed, aad);
    try {
      return this.#open(context, sealed, aad);
    } catch {
      // A value not yet re-sealed during a rotation; the previous key's error is the one reported.
      return this.#previous.decrypt(context, sealed, aad);
    }
  }

  /** Whether `sealed` opens under this keyring's current master key (the previous one is not tried). */
  opens(context: string, sealed: Uint8Array, aad?: string): boolean {
    try {
      this.#open(context, sealed, aad);
      return true;
    } catch {
      return false;
    }
  }

  #open(context: string, sealed: Uint8Array, aad?: string): Buffer {
    if (sealed.length < NONCE_BYTES + TAG_BYTES) {
      throw new AppError("internal", `sealed value for ${context} is too short`);
    }
    const buf = Buffer.from(sealed);
    const decipher = createDecipheriv("aes-256-gcm", this.encryptionKey(context), buf.subarray(0, NONCE_BYTES));
    if (aad !== undefined) decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(buf.subarray(NONCE_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
    } catch (cause) {
      // Wrong key, wrong context, wrong aad or a tampered value: all look alike.
      throw new AppError("internal", `cannot open sealed value for ${context}`, {}, { cause });
    }
  }

  decryptText(context: string, sealed: Uint8Array, aad?: string): string {
    return this.decrypt(context, sealed, aad).toString("utf8");
  }

  /** Hex HMAC-SHA-256 under the context's HMAC subkey. */
  hmacHex(context: string, data: Uint8Array | string): string {
    return createHmac("sha256", this.hmacKey(context)).update(data).digest("hex");
  }

  #derive(info: string): Buffer {
    let key = this.#subkeys.get(info);
    if (!key) {
      // No salt (RFC 5869 uses HashLen zero bytes): the master key is already uniformly random.
      key = hkdfSha256(this.#master, Buffer.alloc(0), info, KEY_BYTES);
      this.#subkeys.set(info, key);
    }
    return key;
  }
}

/** Constant-time comparison of two strings (tokens, hex signatures). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  if (ab.length !== bb.length) {
    // Still spend the comparison so length is the only thing that leaks.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
