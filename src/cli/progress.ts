import { SingleBar } from "cli-progress";

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/**
 * A progress bar on stderr for long work (bulk append, bundles): only on a
 * terminal, and never with --json, whose output is for programs.
 */
export function progressBar(total: number, unit: string, json: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (json || !stream.isTTY) return silent;
  const bar = new SingleBar({
    stream,
    format: `[{bar}] {percentage}% {value}/{total} ${unit} · {eta_formatted} left`,
    hideCursor: true,
    barsize: 30,
    barCompleteChar: "\u2588",
    barIncompleteChar: "\u2591",
  });
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}
