import type { SealedColumns } from "../crypto/reseal.js";
import { CONNECTOR_SECRET_CONTEXT } from "./kind-config.js";
import { connectors } from "./schema.js";

/** What this module seals (for `attesto reseal`): a connector's secret (S3: its credentials) and the previous one, the tenant id as associated data. */
export const sealedColumns: SealedColumns[] = [
  {
    table: connectors,
    key: [connectors.id],
    sealed: [
      { column: connectors.secretEnc, context: CONNECTOR_SECRET_CONTEXT },
      { column: connectors.previousSecretEnc, context: CONNECTOR_SECRET_CONTEXT },
    ],
    aad: [connectors.tenantId],
  },
];
