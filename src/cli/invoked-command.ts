/**
 * The command an attesto command line invokes (its first word after the
 * global options), or undefined when there is none or it asks for the
 * version or help. main.ts loads only that command's module for `verify`:
 * the rest of the CLI loads the server's module graph, 1.3 s of CPU, which
 * an offline verifier does not need.
 */
export function invokedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--url")
      i++; // its value follows
    else if (arg === "--json" || arg === "--local" || arg.startsWith("--url=")) continue;
    else if (arg.startsWith("-"))
      return undefined; // --help, --version, or an option commander will refuse
    else return arg;
  }
  return undefined;
}

/**
 * True when the command line only asks for the version (-V or --version
 * after the global options): main.ts then registers no command group, so
 * `attesto --version` answers without loading the server's module graph.
 */
export function asksForVersion(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--url") i++;
    else if (arg === "--json" || arg === "--local" || arg.startsWith("--url=")) continue;
    else return arg === "-V" || arg === "--version";
  }
  return false;
}
