import { customType } from "drizzle-orm/pg-core";

/** Raw bytes (sealed secrets, hashes); postgres.js reads bytea as a Buffer. */
export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});
