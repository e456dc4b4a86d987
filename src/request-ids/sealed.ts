import type { SealedColumns } from "../crypto/reseal.js";
import { requestIds } from "./schema.js";

/** Encryption context of the one-time secrets kept for a replay. */
export const SECRET_CONTEXT = "request-id-secret";

/** What this module seals (for `attesto reseal`): the one-time secret of a Create, the request's key (scope/method/request id) as associated data. */
export const sealedColumns: SealedColumns[] = [
  {
    table: requestIds,
    key: [requestIds.scope, requestIds.method, requestIds.requestId],
    sealed: [{ column: requestIds.secretEnc, context: SECRET_CONTEXT }],
    aad: [requestIds.scope, requestIds.method, requestIds.requestId],
  },
];
