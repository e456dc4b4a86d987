// Reads the Dockerfile for `npm run check:image`, which assembles the image's
// final stage without a Docker engine: the check follows what the Dockerfile
// says (its COPY lines, ENV, CMD), so a file the final stage forgets is missing
// in the check as it would be in the image. Only the forms the check can
// reproduce are accepted; any other instruction fails loudly rather than
// being skipped.
import path from "node:path";

export interface Instruction {
  keyword: string;
  args: string;
  /** 1-based line of the instruction's first line. */
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let current = lines[i]!;
    if (/^\s*(#|$)/.test(current)) continue;
    while (/\\\s*$/.test(current) && i + 1 < lines.length) {
      current = current.replace(/\\\s*$/, "");
      i++;
      // A comment line inside a continued instruction is dropped, as Docker does.
      if (!/^\s*#/.test(lines[i]!)) current += lines[i]!;
    }
    const match = /^\s*(\S+)\s*(.*?)\s*$/.exec(current)!;
    const instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!, line: start + 1 };
    if (instruction.keyword === "FROM") {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!from) throw new Error(`Dockerfile line ${instruction.line}: cannot read FROM ${instruction.args}`);
      stages.push({ image: from[1]!, name: from[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${instruction.line}: ${instruction.keyword} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new Error("Dockerfile: no FROM");
  return stages;
}

/** Words of a shell-form argument list, with double or single quotes and backslash escapes. */
function words(args: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const c = args[i]!;
    if (c === "\\" && quote !== "'" && i + 1 < args.length) word = (word ?? "") + args[++i];
    else if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  if (quote) throw new Error(`unclosed quote in ${args}`);
  if (word !== undefined) out.push(word);
  return out;
}

/** ENV in either form: `ENV A=1 B="two words"` or the legacy `ENV A one value`. */
export function parseEnv(args: string): Record<string, string> {
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=]*)$/.exec(args);
  if (legacy) return { [legacy[1]!]: legacy[2]!.trim() };
  const env: Record<string, string> = {};
  for (const word of words(args)) {
    const eq = word.indexOf("=");
    if (eq <= 0) throw new Error(`cannot read ENV ${args}`);
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}

/** The flags and paths of a COPY (shell or JSON form): the last path is the destination. */
export function parseCopy(args: string): { flags: Record<string, string>; sources: string[]; dest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)) {
    flags[m[1]!] = m[2] ?? "true";
    rest = rest.slice(m[0].length);
  }
  const paths = rest.startsWith("[") ? (JSON.parse(rest) as string[]) : words(rest);
  if (paths.length < 2) throw new Error(`cannot read COPY ${args}`);
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** One COPY --from of the final stage, as paths relative to each stage's WORKDIR. */
export interface StageCopy {
  /** Relative to the build stage's WORKDIR. */
  source: string;
  /** Relative to the final stage's WORKDIR; ends with "/" when the source goes into it by name. */
  dest: string;
  line: number;
}

/** Where a copy lands, relative to the final WORKDIR: a folder's contents go into the destination, as Docker copies them. */
export function copyTarget(copy: StageCopy, sourceIsDirectory: boolean): string {
  if (sourceIsDirectory || (!copy.dest.endsWith("/") && copy.dest !== "")) return copy.dest.replace(/\/$/, "") || ".";
  return path.posix.join(copy.dest, path.posix.basename(copy.source));
}

export interface FinalStage {
  /** The stage the final stage copies from. */
  buildStage: string;
  workdir: string;
  env: Record<string, string>;
  copies: StageCopy[];
  cmd: string[];
  user: string | undefined;
}

const inside = (dir: string, p: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/** The last stage as the check reproduces it; anything it cannot reproduce is an error naming the line. */
export function finalStage(stages: Stage[]): FinalStage {
  const stage = stages.at(-1)!;
  const workdirOf = (s: Stage) => s.instructions.filter((i) => i.keyword === "WORKDIR").reduce((dir, i) => path.posix.resolve(dir, i.args), "/");
  let workdir = "/";
  let env: Record<string, string> = {};
  let cmd: string[] | undefined;
  let user: string | undefined;
  let buildStage: string | undefined;
  const copies: StageCopy[] = [];
  for (const i of stage.instructions) {
    const where = `Dockerfile line ${i.line}`;
    switch (i.keyword) {
      case "WORKDIR":
        workdir = path.posix.resolve(workdir, i.args);
        break;
      case "ENV":
        env = { ...env, ...parseEnv(i.args) };
        break;
      case "USER":
        user = i.args;
        break;
      case "EXPOSE":
      case "LABEL":
        break;
      case "CMD":
        if (!i.args.startsWith("[")) throw new Error(`${where}: CMD must be the exec form (a JSON array)`);
        cmd = JSON.parse(i.args) as string[];
        break;
      case "COPY": {
        const { flags, sources, dest } = parseCopy(i.args);
        const from = flags.from;
        if (!from) throw new Error(`${where}: the check reproduces COPY --from=<stage> only, not COPY ${i.args}`);
        const source = stages.find((s) => s.name === from);
        if (!source) throw new Error(`${where}: COPY --from=${from} names no stage of this Dockerfile`);
        if (buildStage && buildStage !== from) throw new Error(`${where}: the check reproduces copies from one stage (${buildStage})`);
        buildStage = from;
        const sourceDir = workdirOf(source);
        const target = path.posix.resolve(workdir, dest);
        if (!inside(workdir, target)) throw new Error(`${where}: ${dest} is outside WORKDIR ${workdir}`);
        for (const s of sources) {
          if (/[*?[]/.test(s)) throw new Error(`${where}: the check does not expand wildcards (${s})`);
          const abs = path.posix.resolve("/", s);
          if (!inside(sourceDir, abs)) throw new Error(`${where}: ${s} is outside the ${from} stage's WORKDIR ${sourceDir}`);
          const intoDir = sources.length > 1 || dest.endsWith("/");
          const relDest = path.posix.relative(workdir, target);
          copies.push({ source: path.posix.relative(sourceDir, abs) || ".", dest: intoDir ? `${relDest ? `${relDest}/` : ""}` : relDest || ".", line: i.line });
        }
        break;
      }
      default:
        throw new Error(`${where}: the check cannot reproduce ${i.keyword} in the final stage`);
    }
  }
  if (!cmd) throw new Error("Dockerfile: the final stage has no CMD");
  if (!buildStage) throw new Error("Dockerfile: the final stage copies nothing from a build stage");
  return { buildStage, workdir, env, copies, cmd, user };
}

/** The build stage's commands after it copies the whole context (`COPY . .`): the check runs them as written. */
export function buildCommands(stages: Stage[], name: string): { workdir: string; commands: string[] } {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`Dockerfile: no stage named ${name}`);
  let workdir = "/";
  let afterContext = false;
  const commands: string[] = [];
  for (const i of stage.instructions) {
    if (i.keyword === "WORKDIR") workdir = path.posix.resolve(workdir, i.args);
    else if (i.keyword === "COPY" && !parseCopy(i.args).flags.from && parseCopy(i.args).sources.join(" ") === ".") afterContext = true;
    else if (i.keyword === "RUN" && afterContext) {
      if (i.args.startsWith("[")) throw new Error(`Dockerfile line ${i.line}: the check runs the shell form of RUN only`);
      commands.push(i.args);
    }
  }
  if (!afterContext) throw new Error(`Dockerfile: the ${name} stage never copies the whole context (COPY . .)`);
  return { workdir, commands };
}
