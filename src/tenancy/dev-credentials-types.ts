/** The file in the data folder that keeps the embedded default's development credentials. */
export const DEV_CREDENTIALS_FILE = "dev-credentials.json";

/** What that file holds: the development tenant, its API key and the operator token. */
export interface DevCredentials {
  tenantId: string;
  apiKey: string;
  adminToken: string;
}
