import { randomFillSync } from "node:crypto";
import { ulid } from "ulid";

/**
 * ULID randomness from the system CSPRNG, drawn from a pooled buffer: the
 * library's default asks the CSPRNG once per character, which costs more
 * than the rest of an insert on hot paths (webhook deliveries).
 */
const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.length;
const pooledRandom = () => {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  return randomPool[randomOffset++]! / 256;
};

/** Resource ids: a short type prefix and a ULID, so ids sort by creation time. */
export const newId = (prefix: "ten" | "key" | "str" | "evt" | "con" | "sub" | "dlv" | "bat" | "bundle" | "bsl" | "fork" | "ntf") => `${prefix}_${ulid(undefined, pooledRandom)}`;
