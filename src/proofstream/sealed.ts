import type { SealedColumns } from "../crypto/reseal.js";
import { STREAM_KEY_CONTEXT } from "./keys.js";
import { streamKeys } from "./schema.js";

/** What this module seals (for `attesto reseal`): each stream key's seed, the stream id as associated data. */
export const sealedColumns: SealedColumns[] = [
  { table: streamKeys, key: [streamKeys.streamId, streamKeys.keyId], sealed: [{ column: streamKeys.privateKeyEnc, context: STREAM_KEY_CONTEXT }], aad: [streamKeys.streamId] },
];
