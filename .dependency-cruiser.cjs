// The never-rules of docs/architecture.md ("Layers", "Never-rules and how they are enforced"),
// checked on every import of src/ by test/architecture.test.ts (npm test and npm run test:unit).
// `npx depcruise src --config .dependency-cruiser.cjs` prints the same findings, known ones included.
//
// Parts of the house, by folder:
const DOMAINS = "(proofstream|webhooks|store|connectors|anchoring|tenancy|request-ids|ratelimit|witness|timestamp|deployment)";
const DOMAIN = `^src/${DOMAINS}/`;
const INFRA = "^src/(db|infra|crypto|net)/";
const BASE = "^src/(errors|config|ids|logger|paths|etag|budgets|run-time-files|config-env|config-types)\\.ts$";
const TRANSPORT_PACKAGES = "(^|/)node_modules/(@connectrpc/[^/]+|hono)/";
// Specs may reach into the code they test (a spec beside its code, a full-stack test in test/).
const SPEC = "\\.test\\.ts$";

// A domain's public door, the files other parts may import: `module.ts` (the facade), `index.ts`,
// `settings.ts` (its settings from Config), `schema.ts` (its tables, read by drizzle-kit and the
// migrations), `types.ts` and `*-types.ts` (the types its facade takes and returns).
const PUBLIC_FILE = "(module|index|settings|schema|types|[a-z0-9-]+-types)\\.ts$";

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "No import cycles between files (type-only imports count: they tie the files together just the same).",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "edges-side-by-side",
      comment: "http and rpc stand side by side: neither imports the other; what both need lives in src/contract.",
      severity: "error",
      from: { path: "^src/(http|rpc)/" },
      to: { path: "^src/(http|rpc)/", pathNot: "^src/$1/" },
    },
    {
      name: "domain-knows-no-transport",
      comment: "A domain module imports neither edge (src/rpc, src/http) nor a transport package (@connectrpc/*, hono).",
      severity: "error",
      from: { path: DOMAIN },
      to: { path: [`^src/(rpc|http)/`, TRANSPORT_PACKAGES] },
    },
    {
      name: "contract-knows-no-edge",
      comment: "src/contract is what both edges share, so it imports neither of them, nor the server above them.",
      severity: "error",
      from: { path: "^src/contract/" },
      to: { path: "^src/(rpc|http|server|cli)/" },
    },
    {
      name: "infra-knows-no-domain",
      comment: "src/db, src/infra, src/crypto and src/net know no domain and nothing above them.",
      severity: "error",
      from: { path: INFRA },
      to: { path: [DOMAIN, "^src/(jobs|contract|rpc|http|server|cli)/"] },
    },
    {
      name: "base-imports-only-base",
      comment: "The base (errors, config, config-env, config-types, ids, logger, paths, etag, budgets, run-time-files) imports nothing of src/ but other base files.",
      severity: "error",
      from: { path: BASE },
      to: { path: "^src/", pathNot: BASE },
    },
    {
      name: "verify-is-self-contained",
      comment: "src/verify is the browser-safe verifier library: it imports nothing outside src/verify but npm packages, and no Node built-in.",
      severity: "error",
      from: { path: "^src/verify/", pathNot: SPEC },
      to: { pathNot: ["^src/verify/", "(^|/)node_modules/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "verify-uses-no-node-builtins",
      comment: "src/verify runs in the browser: no node: modules.",
      severity: "error",
      from: { path: "^src/verify/", pathNot: SPEC },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "facade-is-the-door",
      comment: `From outside a domain folder, import only its public files (${PUBLIC_FILE}); the rest is its internals.`,
      severity: "error",
      // $1 is the importer's own top folder under src/: inside its own domain a file may import anything.
      from: { path: "^src/([^/]+)", pathNot: SPEC },
      to: {
        path: DOMAIN,
        pathNot: ["^src/$1/", `^src/${DOMAINS}/${PUBLIC_FILE}`],
      },
    },
  ],
  options: {
    // Only our code is checked: npm packages are reached (for the transport rule) but not followed.
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "^(gen|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
