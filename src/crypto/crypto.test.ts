import { createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { constantTimeEqual, hkdfSha256, Keyring } from "./keyring.js";
import { DEV_KEY_FILE, loadMasterKey, parseMasterKey } from "./master-key.js";
import { AppError } from "../errors.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** Runs fn and returns what it threw; fails the test when it does not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

function expectAppError(fn: () => unknown, code: string): AppError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  return err as AppError;
}

describe("hkdfSha256 (RFC 5869 appendix A)", () => {
  it("A.1: basic test case with SHA-256", () => {
    const ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    const salt = hex("000102030405060708090a0b0c");
    const info = hex("f0f1f2f3f4f5f6f7f8f9");
    const okm = hkdfSha256(ikm, salt, info, 42);
    expect(okm.toString("hex")).toBe("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  });

  it("A.2: longer inputs and outputs", () => {
    const ikm = hex(`
      000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
      202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
      404142434445464748494a4b4c4d4e4f`);
    const salt = hex(`
      606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f
      808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f
      a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`);
    const info = hex(`
      b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf
      d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef
      f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff`);
    expect(ikm.length).toBe(80);
    expect(salt.length).toBe(80);
    expect(info.length).toBe(80);
    const okm = hkdfSha256(ikm, salt, info, 82);
    expect(okm.toString("hex")).toBe(
      hex(`
        b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
        59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
        cc30c58179ec3e87c14c01d5c1f3434f1d87`).toString("hex"),
    );
  });

  it("A.3: zero-length salt and info", () => {
    const ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    const okm = hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 42);
    expect(okm.toString("hex")).toBe("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  });

  it("takes a string info as its UTF-8 bytes", () => {
    const ikm = randomBytes(32);
    expect(hkdfSha256(ikm, Buffer.alloc(0), "connectors.secret/é", 32)).toEqual(hkdfSha256(ikm, Buffer.alloc(0), Buffer.from("connectors.secret/é", "utf8"), 32));
  });
});

describe("Keyring", () => {
  const master = randomBytes(32);
  const keyring = new Keyring(master);

  it("round-trips bytes and text", () => {
    const bytes = randomBytes(100);
    expect(keyring.decrypt("api_keys.x", keyring.encrypt("api_keys.x", bytes))).toEqual(bytes);
    const text = "-----BEGIN PRIVATE KEY-----\nünïcödé ✓\n";
    expect(keyring.decryptText("connectors.secret", keyring.encrypt("connectors.secret", text))).toBe(text);
    expect(keyring.decrypt("c", keyring.encrypt("c", new Uint8Array(0)))).toEqual(Buffer.alloc(0));
  });

  it("lays a sealed value out as nonce(12) || ciphertext || tag(16)", () => {
    const plaintext = Buffer.from("the quick brown fox jumps over the lazy dog", "utf8");
    const sealed = keyring.encrypt("layout.ctx", plaintext, "ten_a");
    expect(sealed.length).toBe(plaintext.length + 28);
    // Open it independently of Keyring.decrypt, with the layout the docs promise.
    const decipher = createDecipheriv("aes-256-gcm", keyring.encryptionKey("layout.ctx"), sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from("ten_a", "utf8"));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const opened = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    expect(opened).toEqual(plaintext);
    // The ciphertext body is not the plaintext.
    expect(sealed.includes(plaintext)).toBe(false);
  });

  it("uses a fresh nonce for every encryption of the same value", () => {
    const a = keyring.encrypt("ctx", "same value");
    const b = keyring.encrypt("ctx", "same value");
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
    expect(a.equals(b)).toBe(false);
    expect(keyring.decryptText("ctx", a)).toBe("same value");
    expect(keyring.decryptText("ctx", b)).toBe("same value");
  });

  it("does not open a value sealed under another context", () => {
    const sealed = keyring.encrypt("context.a", "secret");
    const err = expectAppError(() => keyring.decrypt("context.b", sealed), "internal");
    expect(err.message).toContain("context.b");
  });

  it("binds the aad: sealed for ten_a does not open for ten_b, nor without aad", () => {
    const sealed = keyring.encrypt("apple_credentials.private_key", "pem", "ten_a");
    expect(keyring.decryptText("apple_credentials.private_key", sealed, "ten_a")).toBe("pem");
    expectAppError(() => keyring.decrypt("apple_credentials.private_key", sealed, "ten_b"), "internal");
    expectAppError(() => keyring.decrypt("apple_credentials.private_key", sealed), "internal");
    const unbound = keyring.encrypt("apple_credentials.private_key", "pem");
    expectAppError(() => keyring.decrypt("apple_credentials.private_key", unbound, "ten_a"), "internal");
  });

  it("refuses a value with any single bit flipped (nonce, body or tag)", () => {
    const sealed = keyring.encrypt("tamper", "hello", "ten_a");
    expect(sealed.length).toBe(5 + 28);
    for (let i = 0; i < sealed.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(sealed);
        tampered[i] = tampered[i]! ^ (1 << bit);
        expect(() => keyring.decrypt("tamper", tampered, "ten_a"), `byte ${i} bit ${bit}`).toThrow(AppError);
      }
    }
    // The untouched value still opens, so the failures above are the flips.
    expect(keyring.decryptText("tamper", sealed, "ten_a")).toBe("hello");
  });

  it("refuses a value shorter than nonce + tag", () => {
    const err = expectAppError(() => keyring.decrypt("ctx", new Uint8Array(27)), "internal");
    expect(err.message).toContain("too short");
  });

  it("derives encryption keys with HKDF(master, empty salt, info=context) and HMAC keys under info hmac/<context>", () => {
    const enc = keyring.encryptionKey("api_keys.x");
    const mac = keyring.hmacKey("api_keys.x");
    expect(enc.length).toBe(32);
    expect(mac.length).toBe(32);
    expect(enc.equals(mac)).toBe(false);
    expect(enc).toEqual(hkdfSha256(master, Buffer.alloc(0), "api_keys.x", 32));
    expect(mac).toEqual(hkdfSha256(master, Buffer.alloc(0), "hmac/api_keys.x", 32));
    // Different contexts, different subkeys; derivation is stable.
    expect(keyring.encryptionKey("api_keys.y").equals(enc)).toBe(false);
    expect(keyring.encryptionKey("api_keys.x")).toEqual(enc);
    // Another master key derives other subkeys.
    expect(new Keyring(randomBytes(32)).encryptionKey("api_keys.x").equals(enc)).toBe(false);
  });

  it("computes hmacHex with the context's HMAC subkey", () => {
    const expected = createHmac("sha256", keyring.hmacKey("webhooks.sig")).update("payload").digest("hex");
    expect(keyring.hmacHex("webhooks.sig", "payload")).toBe(expected);
    expect(keyring.hmacHex("webhooks.sig", "payload")).not.toBe(createHmac("sha256", keyring.encryptionKey("webhooks.sig")).update("payload").digest("hex"));
  });

  it("refuses encryption contexts in the hmac/ namespace, so no AES key equals an HMAC key", () => {
    expectAppError(() => keyring.encryptionKey("hmac/api_keys.x"), "invalid_argument");
    expectAppError(() => keyring.encrypt("hmac/api_keys.x", "x"), "invalid_argument");
    expectAppError(() => keyring.decrypt("hmac/api_keys.x", randomBytes(40)), "invalid_argument");
    expectAppError(() => keyring.encryptionKey(""), "invalid_argument");
    expectAppError(() => keyring.hmacKey(""), "invalid_argument");
  });

  it("requires a 32-byte master key", () => {
    for (const n of [0, 16, 31, 33, 64]) {
      const err = expectAppError(() => new Keyring(randomBytes(n)), "invalid_argument");
      expect(err.message).toContain(`got ${n}`);
    }
    expect(() => new Keyring(randomBytes(32))).not.toThrow();
  });

  it("copies the master key, so later changes to the caller's buffer do not change subkeys", () => {
    const buf = randomBytes(32);
    const k = new Keyring(buf);
    const before = k.hmacKey("ctx.fresh");
    const sealed = k.encrypt("ctx.other", "v");
    buf.fill(0);
    expect(k.decryptText("ctx.other", sealed)).toBe("v");
    expect(new Keyring(Buffer.alloc(32)).hmacKey("ctx.fresh").equals(before)).toBe(false);
  });

  it("property: decrypt(encrypt(x)) == x for any bytes, context and aad", () => {
    const context = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.startsWith("hmac/"));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), context, fc.option(fc.string({ maxLength: 40 }), { nil: undefined }), (x, ctx, aad) => {
        const sealed = keyring.encrypt(ctx, x, aad);
        expect(sealed.length).toBe(x.length + 28);
        expect(keyring.decrypt(ctx, sealed, aad)).toEqual(Buffer.from(x));
      }),
      { numRuns: 200 },
    );
  });

  it("property: a value sealed under one context does not open under a different one", () => {
    const context = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.startsWith("hmac/"));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), context, context, (x, a, b) => {
        fc.pre(!Buffer.from(a, "utf8").equals(Buffer.from(b, "utf8")));
        const sealed = keyring.encrypt(a, x);
        expect(() => keyring.decrypt(b, sealed)).toThrow(AppError);
      }),
      { numRuns: 100 },
    );
  });
});

describe("Keyring during a key rotation", () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = new Keyring(oldKey);
  const rotating = new Keyring(newKey, oldKey);

  it("opens values sealed with the previous key and seals with the current one", () => {
    const old = before.encrypt("c", "secret", "ten_a");
    expect(rotating.decryptText("c", old, "ten_a")).toBe("secret");
    const sealed = rotating.encrypt("c", "secret", "ten_a");
    expect(new Keyring(newKey).decryptText("c", sealed, "ten_a")).toBe("secret");
    expect(() => before.decrypt("c", sealed, "ten_a")).toThrow(AppError);
    // The aad still binds under the previous key.
    expectAppError(() => rotating.decrypt("c", old, "ten_b"), "internal");
  });

  it("opens() answers for the current key alone", () => {
    expect(rotating.opens("c", before.encrypt("c", "x", "a"), "a")).toBe(false);
    expect(rotating.opens("c", rotating.encrypt("c", "x", "a"), "a")).toBe(true);
    expect(rotating.opens("c", Buffer.alloc(3), "a")).toBe(false);
  });

  it("keys HMACs with the current key only", () => {
    expect(rotating.hmacHex("h", "data")).toBe(new Keyring(newKey).hmacHex("h", "data"));
  });

  it("names each key by a fingerprint: the same for the same key, another for another, and not the key", () => {
    expect(new Keyring(newKey).fingerprint()).toBe(rotating.fingerprint());
    expect(rotating.fingerprint()).toMatch(/^[0-9a-f]{32}$/);
    expect(rotating.previousFingerprint()).toBe(before.fingerprint());
    expect(before.fingerprint()).not.toBe(rotating.fingerprint());
    expect(before.previousFingerprint()).toBeUndefined();
    expect(newKey.toString("hex")).not.toContain(rotating.fingerprint());
  });
});

describe("constantTimeEqual", () => {
  it("compares strings by content, whatever their lengths", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
  });
});

describe("parseMasterKey", () => {
  it("accepts 64 hex characters", () => {
    const key = randomBytes(32);
    expect(parseMasterKey(key.toString("hex"))).toEqual(key);
    expect(parseMasterKey(key.toString("hex").toUpperCase())).toEqual(key);
  });

  it("accepts base64 (surrounding whitespace trimmed)", () => {
    const key = randomBytes(32);
    expect(parseMasterKey(key.toString("base64"))).toEqual(key);
    expect(parseMasterKey(`  ${key.toString("base64")}\n`)).toEqual(key);
  });

  it("names the variable it read in its error", () => {
    expect(() => parseMasterKey("short", "ATTESTO_OLD_ENCRYPTION_KEY")).toThrow(/^ATTESTO_OLD_ENCRYPTION_KEY must be 32 bytes/);
  });

  it("rejects keys of other lengths", () => {
    const bad = [
      "",
      randomBytes(31).toString("hex"),
      randomBytes(33).toString("hex"),
      randomBytes(16).toString("base64"),
      randomBytes(31).toString("base64"),
      randomBytes(33).toString("base64"),
      randomBytes(64).toString("base64"),
    ];
    for (const text of bad) {
      expect(() => parseMasterKey(text), JSON.stringify(text)).toThrow(/must be 32 bytes/);
    }
  });
});

describe("loadMasterKey", () => {
  function capturingLogger() {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) });
    return { logger, lines };
  }

  it("prefers ATTESTO_ENCRYPTION_KEY, without touching the data folder or warning", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-key-"));
    const key = randomBytes(32);
    const { logger, lines } = capturingLogger();
    const loaded = await loadMasterKey({ encryptionKey: key.toString("base64"), dataDir: dir, embedded: true, logger });
    expect(loaded).toEqual(key);
    await expect(stat(path.join(dir, DEV_KEY_FILE))).rejects.toMatchObject({ code: "ENOENT" });
    expect(lines).toEqual([]);
  });

  it("embedded: creates a 0600 dev key file, reuses it, and warns each time", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "attesto-key-"));
    const dir = path.join(root, "not", "yet", "there");
    const { logger, lines } = capturingLogger();

    const first = await loadMasterKey({ encryptionKey: undefined, dataDir: dir, embedded: true, logger });
    expect(first.length).toBe(32);
    const file = path.join(dir, DEV_KEY_FILE);
    const st = await stat(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(parseMasterKey(await readFile(file, "utf8"))).toEqual(first);

    const second = await loadMasterKey({ encryptionKey: undefined, dataDir: dir, embedded: true, logger });
    expect(second).toEqual(first);

    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.level).toBe(40); // warn
      expect(line.file).toBe(file);
      expect(line.msg).toBe("using a development encryption key from the data folder: for development only, set ATTESTO_ENCRYPTION_KEY in production");
    }
    // The key itself is never logged.
    expect(JSON.stringify(lines)).not.toContain(first.toString("base64"));
  });

  it("embedded: a corrupt dev key file is an error, not silently replaced", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-key-"));
    await writeFile(path.join(dir, DEV_KEY_FILE), "too short\n");
    const { logger } = capturingLogger();
    await expect(loadMasterKey({ encryptionKey: undefined, dataDir: dir, embedded: true, logger })).rejects.toThrow(/32 bytes/);
    expect(await readFile(path.join(dir, DEV_KEY_FILE), "utf8")).toBe("too short\n");
  });

  it("non-embedded without a key throws naming ATTESTO_ENCRYPTION_KEY and writes nothing", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-key-"));
    const { logger, lines } = capturingLogger();
    await expect(loadMasterKey({ encryptionKey: undefined, dataDir: dir, embedded: false, logger })).rejects.toThrow(/ATTESTO_ENCRYPTION_KEY/);
    await expect(loadMasterKey({ encryptionKey: "", dataDir: dir, embedded: false, logger })).rejects.toThrow(/ATTESTO_ENCRYPTION_KEY/);
    await expect(stat(path.join(dir, DEV_KEY_FILE))).rejects.toMatchObject({ code: "ENOENT" });
    expect(lines).toEqual([]);
  });
});
