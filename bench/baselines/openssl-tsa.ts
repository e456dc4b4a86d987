// The local openssl TSA of bench:hotpaths's witnessing comparison, in its own process (as the witnesses
// are), so that its `openssl ts -reply` runs do not share the load generator's process. Prints
// "listening <url> <ca.pem>" once it answers; on SIGTERM, "queries <n>" (the requests it answered).
import { OpensslTsa } from "../../test/support/tsa.js";

const tsa = await OpensslTsa.create();
const url = await tsa.listen();
console.log(`listening ${url} ${tsa.file("ca.pem")}`);
process.on("SIGTERM", () => {
  console.log(`queries ${tsa.queries}`);
  tsa.close();
  process.exit(0);
});
