import { PgDialect } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { claimStatement, finishStatement, type FinishRow } from "./claim-sql.js";

const dialect = new PgDialect();
const ids = (n: number) => Array.from({ length: n }, (_, i) => `dlv_${String(n - i).padStart(4, "0")}`);
const row = (id: string, number: number): FinishRow => ({
  id,
  subscription_id: "sub_1",
  number,
  started_at: "2026-06-07T12:00:00.000Z",
  finished_at: "2026-06-07T12:00:01.000Z",
  latency_ms: 3,
  status_code: 204,
  error_kind: "none",
  excerpt: "",
  status: "succeeded",
  reason: null,
  next_at: null,
});

describe("claimStatement", () => {
  // Postgres prepares a statement per distinct text: one text for every batch size is planned once per connection.
  it("is the same text with the same number of parameters whatever the batch size", () => {
    const one = dialect.sqlToQuery(claimStatement(ids(1), 30_000));
    const many = dialect.sqlToQuery(claimStatement(ids(100), 30_000));
    expect(many.sql).toBe(one.sql);
    expect(many.params).toHaveLength(one.params.length);
  });

  it("looks each id up by its primary key, in id order", () => {
    const query = dialect.sqlToQuery(claimStatement(["dlv_c", "dlv_a", "dlv_b"], 30_000));
    expect(query.sql).toMatch(/CROSS JOIN LATERAL \(\s+SELECT[^]*WHERE d\.id = i\.id/);
    expect(query.params).toContain(JSON.stringify(["dlv_a", "dlv_b", "dlv_c"]));
  });
});

describe("finishStatement", () => {
  it("is the same text with one parameter whatever the batch size", () => {
    const one = dialect.sqlToQuery(finishStatement([row("dlv_1", 1)]));
    const many = dialect.sqlToQuery(finishStatement(ids(100).map((id) => row(id, 1))));
    expect(many.sql).toBe(one.sql);
    expect(one.params).toHaveLength(1);
    expect(many.params).toHaveLength(1);
  });

  it("hands the rows over in id then attempt order (the order their rows are locked in)", () => {
    const query = dialect.sqlToQuery(finishStatement([row("dlv_b", 1), row("dlv_a", 2), row("dlv_a", 1)]));
    const sent = JSON.parse(query.params[0] as string) as FinishRow[];
    expect(sent.map((r) => `${r.id}#${r.number}`)).toEqual(["dlv_a#1", "dlv_a#2", "dlv_b#1"]);
  });
});
