import { customType } from "drizzle-orm/pg-core";

/** Raw bytes (sealed secrets, hashes). */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => "bytea",
  fromDriver: (v) => Buffer.from(v),
});
