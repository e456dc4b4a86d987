export interface Tenant {
  id: string;
  name: string;
  active: boolean;
  createdAt: Date;
  deactivatedAt: Date | null;
}

export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Who is calling: resolved from a tenant API key. */
export interface TenantPrincipal {
  kind: "tenant";
  tenantId: string;
  apiKeyId: string;
}

export interface OperatorPrincipal {
  kind: "operator";
}

export type Principal = TenantPrincipal | OperatorPrincipal;
