import { defineConfig } from "drizzle-kit";

// `npm run db:generate` writes SQL migrations from the tables each domain
// module declares in its own schema.ts.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/*/schema.ts",
  out: "./migrations",
});
