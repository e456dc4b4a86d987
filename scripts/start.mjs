// `npm start`: refuses a busy port at once, builds only when the sources
// changed since the last build (one line while it does), then serves from
// dist/. Plain JavaScript on purpose: it runs before anything is compiled.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stampFile = path.join(root, "dist", ".sources-sha256");
/** What the build reads: a change to any of these rebuilds. */
const inputs = ["src", "gen/ts", "tsconfig.json", "tsconfig.build.json", "package.json", "package-lock.json"];
const args = process.argv.slice(2);

const fail = (message) => {
  process.stderr.write(`attesto: ${message}\n`);
  process.exit(1);
};

/** --port/--host from the arguments, else PORT/HOST, else the defaults of `attesto serve`. */
function listenAddress() {
  const flag = (name) => {
    const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    return args[i].includes("=") ? args[i].slice(args[i].indexOf("=") + 1) : args[i + 1];
  };
  return { host: flag("host") ?? process.env.HOST ?? "127.0.0.1", port: Number(flag("port") ?? process.env.PORT ?? 8080) };
}

/** Resolves when host:port can be bound now; port 0 always can. */
function checkPortFree({ host, port }) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port ${port}`);
  if (port === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", (err) => {
      if (err.code === "EADDRINUSE") fail(`port ${port} on ${host} is already in use (another attesto?): stop it, or start on another port with PORT=… or --port`);
      if (err.code === "EADDRNOTAVAIL") fail(`cannot listen on ${host}: no such local address (HOST or --host)`);
      fail(`cannot listen on ${host}:${port}: ${err.message}`);
    });
    probe.listen(port, host, () => probe.close(resolve));
  });
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

/** SHA-256 over every input file's path and content, in a stable order. */
function sourcesHash() {
  const hash = createHash("sha256");
  for (const input of inputs) {
    const full = path.join(root, input);
    if (!existsSync(full)) continue;
    const list = statSync(full).isDirectory() ? [...files(full)].sort() : [full];
    for (const file of list) hash.update(path.relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

async function buildIfChanged() {
  const hash = sourcesHash();
  const built = ["dist/src/cli/main.js", "dist/verify-page/verify.js", "dist/api-reference/redoc.standalone.js"].every((f) => existsSync(path.join(root, f)));
  if (built && existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === hash) return;
  const started = Date.now();
  process.stderr.write(built ? "attesto: sources changed, building…\n" : "attesto: first start, building (about 20 s; later starts skip this unless the sources change)…\n");
  // Incremental (tsconfig.build.json keeps its tsBuildInfo in dist/): only what changed is recompiled.
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  if (tsc.status !== 0) fail("the build failed (see above); nothing was started");
  const { bundleVerifyPage, VERIFY_PAGE_BUILT } = await import(pathToFileURL(path.join(root, "dist/src/verify-page/assets.js")).href);
  mkdirSync(path.dirname(VERIFY_PAGE_BUILT), { recursive: true });
  writeFileSync(VERIFY_PAGE_BUILT, await bundleVerifyPage());
  const { REDOC_BUNDLE_BUILT, REDOC_BUNDLE_SOURCE } = await import(pathToFileURL(path.join(root, "dist/src/http/api-reference.js")).href);
  mkdirSync(path.dirname(REDOC_BUNDLE_BUILT), { recursive: true });
  copyFileSync(REDOC_BUNDLE_SOURCE, REDOC_BUNDLE_BUILT);
  // esbuild keeps a service process for later builds; this one serves next, it builds nothing more.
  (await import("esbuild")).stop();
  writeFileSync(stampFile, hash + "\n");
  process.stderr.write(`attesto: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

await checkPortFree(listenAddress());
await buildIfChanged();
// The compiled CLI in this process (no second Node start-up): `attesto serve <args>`.
process.argv = [process.argv[0], path.join(root, "bin/attesto.js"), "serve", ...args];
await import(pathToFileURL(path.join(root, "bin/attesto.js")).href);
