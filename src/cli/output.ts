import type { Command } from "commander";

/** How a command prints: --json, and a result as JSON with it, else as the human lines. Nothing else is loaded with it (see main.ts). */
export interface Output {
  /** --json: machine-readable output (and no progress bars). */
  json(): boolean;
  /** Prints a result: JSON with --json, else the human lines. */
  output(value: unknown, human: () => string): void;
}

export function programOutput(program: Command): Output {
  const json = () => Boolean(program.opts().json);
  return {
    json,
    output(value, human) {
      process.stdout.write((json() ? JSON.stringify(value, null, 2) : human()) + "\n");
    },
  };
}
