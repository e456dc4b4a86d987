import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { statement } from "../db/statement.js";
import { withDbErrors } from "../db/errors.js";
import { tenants } from "./schema.js";
import { AppError, notFound } from "../errors.js";
import { newId } from "../ids.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import type { Tenant } from "./types.js";

export async function createTenant(db: Db, name: string): Promise<Tenant> {
  const [row] = await withDbErrors(() =>
    db
      .insert(tenants)
      .values({ id: newId("ten"), name })
      .returning(),
  );
  return row!;
}

/** Built once per handle: GetCurrentTenant reads it on every call. */
const tenantById = statement((db) =>
  db
    .select()
    .from(tenants)
    .where(eq(tenants.id, sql.placeholder("id")))
    .limit(1)
    .prepare("tenant_by_id"),
);

export async function getTenant(db: Db, id: string): Promise<Tenant> {
  const [row] = await tenantById(db).execute({ id });
  if (!row) throw notFound("tenant");
  return row;
}

export async function listTenants(db: Db, opts: { pageSize?: number; pageToken?: string; includeInactive?: boolean }): Promise<{ tenants: Tenant[]; nextPageToken: string }> {
  const win = pageWindow(opts);
  const { fetch, after } = win;
  const rows = await db
    .select()
    .from(tenants)
    .where(and(after ? gt(tenants.id, after) : undefined, opts.includeInactive ? undefined : eq(tenants.active, true)))
    .orderBy(asc(tenants.id))
    .limit(fetch);
  const page = pageOf(rows, win, (r) => r.id);
  return { tenants: page.items, nextPageToken: page.nextPageToken };
}

/** Exists and is active; an id no tenant can have (not printable ASCII, over 64 characters) is not looked up. */
export async function isActiveTenant(db: Db, id: string): Promise<boolean> {
  if (!/^[!-~]{1,64}$/.test(id)) return false;
  const [row] = await tenantById(db).execute({ id });
  return row?.active === true;
}

/** Deactivation is one-way: the tenant's keys stop resolving. */
export async function deactivateTenant(db: Db, id: string): Promise<Tenant> {
  const [row] = await db
    .update(tenants)
    .set({ active: false, deactivatedAt: new Date() })
    .where(and(eq(tenants.id, id), isNull(tenants.deactivatedAt)))
    .returning();
  if (row) return row;
  await getTenant(db, id); // not_found when it does not exist
  throw new AppError("failed_precondition", "tenant is already deactivated", { reason: "TENANT_DEACTIVATED" });
}

/** The tenant, which must exist and be active, for operations that add to it. */
export async function requireActiveTenant(db: Db, id: string): Promise<Tenant> {
  const tenant = await getTenant(db, id);
  if (!tenant.active) throw new AppError("failed_precondition", "tenant is deactivated", { reason: "TENANT_DEACTIVATED" });
  return tenant;
}
