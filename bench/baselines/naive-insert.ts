// Baseline 2: a naive durable ingest: HMAC check, JSON parse and one INSERT
// per request through postgres.js, acknowledged after the commit.
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import postgres from "postgres";

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} });
const key = Buffer.from(process.env.BENCH_HMAC_KEY!, "hex");
await sql`CREATE TABLE IF NOT EXISTS bench_naive (id bigserial PRIMARY KEY, source_ref text NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  // Every failure is answered inside, so the listener need not await.
  req.on(
    "end",
    () =>
      void (async () => {
        const body = Buffer.concat(chunks);
        const given = Buffer.from(String(req.headers["x-signature"] ?? ""), "hex");
        const want = createHmac("sha256", key).update(body).digest();
        if (given.length !== want.length || !timingSafeEqual(given, want)) {
          res.statusCode = 401;
          return res.end();
        }
        try {
          const { source_ref, payload } = JSON.parse(body.toString("utf8")) as { source_ref: string; payload: object };
          await sql`INSERT INTO bench_naive (source_ref, payload) VALUES (${source_ref}, ${sql.json(payload as never)})`;
          res.statusCode = 204;
        } catch {
          res.statusCode = 500;
        }
        res.end();
      })(),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => console.log(`listening ${(server.address() as { port: number }).port}`));
