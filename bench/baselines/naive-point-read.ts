// Baseline 3: a naive point read: JSON parse, one prepared SELECT by primary
// key through postgres.js, the row answered as JSON.
import http from "node:http";
import postgres from "postgres";

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} });
const streamId = process.env.BENCH_STREAM_ID!;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  // Every failure is answered inside, so the listener need not await.
  req.on(
    "end",
    () =>
      void (async () => {
        try {
          const { seqNo } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { seqNo: string };
          // Tagged templates are prepared by postgres.js: one Bind/Execute per request.
          const [row] = await sql<Array<{ leaf: Buffer; leaf_hash: Buffer }>>`SELECT leaf, leaf_hash FROM events WHERE stream_id = ${streamId} AND seq_no = ${seqNo}`;
          if (!row) {
            res.statusCode = 404;
            return res.end();
          }
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ seqNo, leaf: row.leaf.toString("base64"), leafHash: row.leaf_hash.toString("base64") }));
        } catch {
          res.statusCode = 500;
          res.end();
        }
      })(),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => console.log(`listening ${(server.address() as { port: number }).port}`));
