import type { Db } from "./db.js";

/**
 * A query built once per database handle, for hot paths. Drizzle renders a
 * builder query (walking its SQL chunks, `is()` checks, field mapping) on
 * every call, which costs more CPU than a point read takes in Postgres;
 * built with placeholders and `.prepare(name)`, each call only binds values.
 *
 *   const byId = statement((db) => db.select().from(t).where(eq(t.id, sql.placeholder("id"))).prepare("t_by_id"));
 *   const [row] = await byId(db).execute({ id });
 */
export function statement<Q>(build: (db: Db) => Q): (db: Db) => Q {
  const built = new WeakMap<Db, Q>();
  return (db) => {
    let query = built.get(db);
    if (!query) built.set(db, (query = build(db)));
    return query;
  };
}
