import { readdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { getTableColumns, getTableName, is } from "drizzle-orm";
import { PgTable } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../paths.js";
import { ALL_SEALED_COLUMNS } from "./sealed-columns.js";

describe("the sealed columns attesto reseal re-seals", () => {
  it("are every *_enc column of every table the modules declare, each once", async () => {
    const src = path.join(projectRoot(), "src");
    const encColumns: string[] = [];
    for (const dir of await readdir(src, { withFileTypes: true })) {
      const schema = path.join(src, dir.name, "schema.ts");
      if (!dir.isDirectory() || !(await readdir(path.join(src, dir.name))).includes("schema.ts")) continue;
      const tables = Object.values((await import(pathToFileURL(schema).href)) as Record<string, unknown>).filter((v) => is(v, PgTable));
      for (const table of tables) {
        for (const column of Object.values(getTableColumns(table))) if (column.name.endsWith("_enc")) encColumns.push(`${getTableName(table)}.${column.name}`);
      }
    }
    const listed = ALL_SEALED_COLUMNS.flatMap((s) => s.sealed.map((x) => `${getTableName(s.table)}.${x.column.name}`));
    expect(encColumns.length).toBeGreaterThanOrEqual(9);
    expect(listed.sort()).toEqual(encColumns.sort());
  });
});
