import type { SealedColumns } from "../crypto/reseal.js";
import { anchorKeys } from "./schema.js";
import { CONTEXT } from "./sender.js";

/** What this module seals (for `attesto reseal`): the generated sender key, its slot as associated data. */
export const sealedColumns: SealedColumns[] = [{ table: anchorKeys, key: [anchorKeys.slot], sealed: [{ column: anchorKeys.privateKeyEnc, context: CONTEXT }], aad: [anchorKeys.slot] }];
