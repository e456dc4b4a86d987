import { sealedColumns as anchoring } from "../anchoring/module.js";
import { sealedColumns as connectors } from "../connectors/module.js";
import type { SealedColumns } from "../crypto/reseal.js";
import { sealedColumns as proofstream } from "../proofstream/module.js";
import { sealedColumns as requestIds } from "../request-ids/module.js";
import { sealedColumns as store } from "../store/module.js";
import { sealedColumns as webhooks } from "../webhooks/module.js";

/** Every value sealed with the keyring, by the module that keeps it: what `attesto reseal` re-seals (sealed-columns.test.ts: every `*_enc` column is here). */
export const ALL_SEALED_COLUMNS: readonly SealedColumns[] = [...proofstream, ...webhooks, ...connectors, ...store, ...anchoring, ...requestIds];
