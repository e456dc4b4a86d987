// npm run deps:weight: what each top-level dependency costs on disk, from package-lock.json and
// node_modules. A package's cost is its own folder plus every package it pulls in that no other
// top-level dependency pulls in ("alone"); shared packages are counted once in "shared". Prints
// the production dependencies (what `npm ci --omit=dev` installs, and the image ships) and the
// development ones, largest first, with each group's total as `npm ci --omit=dev` would lay it out.
//
//   npm run deps:weight            (a table)
//   npm run deps:weight -- --json  (the figures as JSON)
import { readdirSync, readFileSync, lstatSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
interface LockEntry {
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** Bytes on disk of a folder, without descending into nested node_modules (those are packages of their own). */
function folderBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules") total += folderBytes(p);
    } else total += lstatSync(p).blocks * 512;
  }
  return total;
}

/** npm's resolution from a package folder: the nearest node_modules/<name> up the tree that the lock holds. */
function resolve(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const at = dir.lastIndexOf("/node_modules/");
    dir = at < 0 ? "" : dir.slice(0, at);
  }
}

function closure(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const key = stack.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const e = lock.packages[key]!;
    for (const name of Object.keys({ ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies })) {
      const dep = resolve(key, name);
      if (dep && !seen.has(dep)) stack.push(dep);
    }
  }
  return seen;
}

const size = new Map<string, number>();
const bytesOf = (key: string) => {
  if (!size.has(key)) size.set(key, folderBytes(path.join(root, key)));
  return size.get(key)!;
};

/** `installed`: packages a production install holds already, left out of the development figures. */
function weigh(names: string[], installed = new Set<string>()) {
  const closures = new Map(names.map((n) => [n, new Set([...closure(`node_modules/${n}`)].filter((k) => !installed.has(k)))]));
  const owners = new Map<string, number>();
  for (const c of closures.values()) for (const k of c) owners.set(k, (owners.get(k) ?? 0) + 1);
  const rows = names.map((name) => {
    const c = closures.get(name)!;
    let alone = 0;
    let shared = 0;
    for (const k of c) {
      if (owners.get(k) === 1) alone += bytesOf(k);
      else shared += bytesOf(k);
    }
    return { name, packages: c.size, alone, shared };
  });
  const all = new Set([...closures.values()].flatMap((c) => [...c]));
  return { rows: rows.sort((a, b) => b.alone - a.alone), total: [...all].reduce((n, k) => n + bytesOf(k), 0), packages: all.size, all };
}

const prod = weigh(Object.keys(manifest.dependencies));
const dev = weigh(Object.keys(manifest.devDependencies), prod.all);
const mb = (n: number) => (n / 2 ** 20).toFixed(1).padStart(7);
if (process.argv.includes("--json")) {
  const figures = (g: typeof prod) => ({ packages: g.packages, bytes: g.total, rows: g.rows });
  console.log(JSON.stringify({ production: figures(prod), development: figures(dev) }, null, 2));
} else {
  for (const [label, group] of [
    ["production (npm ci --omit=dev)", prod],
    ["development only (beyond the production install)", dev],
  ] as const) {
    console.log(`\n${label}: ${group.packages} packages, ${mb(group.total).trim()} MiB on disk`);
    console.log(`${"dependency".padEnd(28)} ${"alone MiB".padStart(9)} ${"shared MiB".padStart(10)} packages`);
    for (const r of group.rows) console.log(`${r.name.padEnd(28)} ${mb(r.alone).padStart(9)} ${mb(r.shared).padStart(10)} ${String(r.packages).padStart(8)}`);
  }
}
