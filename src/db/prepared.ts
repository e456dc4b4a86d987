import type postgres from "postgres";
import { traceDerivedHandle } from "./statement-spans.js";

type Unsafe = postgres.Sql["unsafe"];
/** The handles postgres.js gives out: the pool, a transaction's, a reserved connection's. */
type Handle = postgres.Sql | postgres.TransactionSql | postgres.ReservedSql;

/**
 * A postgres.js client whose raw statements are all prepared, for Drizzle.
 *
 * Drizzle's postgres-js session sends every query through `unsafe(text,
 * params)` with `prepare: false`; postgres.js then asks the server to
 * describe each parameterized statement before executing it, on every call:
 * two round trips and a parse and plan each time. Prepared, the text is
 * parsed once per connection and each later call is one Bind/Execute.
 *
 * The same holds inside transactions (`begin`, and `savepoint` within one)
 * and on reserved connections, whose handles are wrapped alike. Statements
 * without parameters keep postgres.js's simple protocol (one round trip
 * already, and the only way to send several statements in one string).
 *
 * Schema changes invalidate a prepared plan ("cached plan must not change
 * result type"); postgres.js drops the statement and runs the query again
 * when that happens outside a transaction, and migrations run on a client
 * of their own before the pool serves (src/db/db.ts).
 */
export function preparing<T extends Handle>(client: T): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      switch (prop) {
        case "unsafe":
          return ((text: string, params?: unknown[], options?: postgres.UnsafeQueryOptions) => (target.unsafe as Unsafe)(text, params as never, { ...options, prepare: true })) as Unsafe;
        case "begin":
          return (...args: unknown[]) => {
            const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
            return ((target as postgres.Sql).begin as (...a: unknown[]) => unknown)(...args, (tx: postgres.TransactionSql) => {
              traceDerivedHandle(target, tx);
              return fn(preparing(tx as Handle) as postgres.TransactionSql);
            });
          };
        case "savepoint":
          return (...args: unknown[]) => {
            const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
            return ((target as unknown as postgres.TransactionSql).savepoint as (...a: unknown[]) => unknown)(...args, (tx: postgres.TransactionSql) => {
              traceDerivedHandle(target, tx);
              return fn(preparing(tx as Handle) as postgres.TransactionSql);
            });
          };
        case "reserve":
          return async () => {
            const reserved = await (target as postgres.Sql).reserve();
            traceDerivedHandle(target, reserved);
            return preparing(reserved);
          };
        default:
          return Reflect.get(target, prop, receiver);
      }
    },
  });
}
