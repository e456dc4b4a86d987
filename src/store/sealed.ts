import type { SealedColumns } from "../crypto/reseal.js";
import { APPLE_KEY_CONTEXT, GOOGLE_ACCOUNT_CONTEXT } from "./credentials.js";
import { appleCredentials, googleCredentials } from "./schema.js";

/** What this module seals (for `attesto reseal`): the App Store key and the Google service account, the tenant id as associated data. */
export const sealedColumns: SealedColumns[] = [
  { table: appleCredentials, key: [appleCredentials.tenantId], sealed: [{ column: appleCredentials.privateKeyEnc, context: APPLE_KEY_CONTEXT }], aad: [appleCredentials.tenantId] },
  { table: googleCredentials, key: [googleCredentials.tenantId], sealed: [{ column: googleCredentials.serviceAccountEnc, context: GOOGLE_ACCOUNT_CONTEXT }], aad: [googleCredentials.tenantId] },
];
