import type { Message } from "@bufbuild/protobuf";
import { ownBytes } from "../infra/own-bytes.js";

/** An answer's bytes in each encoding, made at its first call. */
interface Slot {
  json?: Uint8Array;
  binary?: Uint8Array;
}

const slots = new WeakMap<Message, Slot>();

/**
 * Marks an answer message that its service never changes and hands out again
 * for as long as it holds it (GetCurrentTenant's, per cached account): the
 * fast path then serializes it once per encoding instead of once per call.
 * The message must not be mutated afterwards; a service that has newer rows
 * makes a new message. Bytes live as long as the message (a WeakMap).
 */
export function reusedAnswer<M extends Message>(message: M): M {
  if (!slots.has(message)) slots.set(message, {});
  return message;
}

/** The answer's bytes in the call's encoding: serialized once for a reused answer, every time for any other. */
export function answerBytes(message: Message, binary: boolean, serialize: (message: Message) => Uint8Array): Uint8Array {
  const slot = slots.get(message);
  if (slot === undefined) return serialize(message);
  return binary ? (slot.binary ??= ownBytes(serialize(message))) : (slot.json ??= ownBytes(serialize(message)));
}
