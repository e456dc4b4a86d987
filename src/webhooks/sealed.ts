import type { SealedColumns } from "../crypto/reseal.js";
import { webhookSubscriptions } from "./schema.js";
import { SECRET_CONTEXT } from "./subscriptions.js";

/** What this module seals (for `attesto reseal`): a subscription's signing secret and the previous one, the tenant id as associated data. */
export const sealedColumns: SealedColumns[] = [
  {
    table: webhookSubscriptions,
    key: [webhookSubscriptions.id],
    sealed: [
      { column: webhookSubscriptions.secretEnc, context: SECRET_CONTEXT },
      { column: webhookSubscriptions.previousSecretEnc, context: SECRET_CONTEXT },
    ],
    aad: [webhookSubscriptions.tenantId],
  },
];
