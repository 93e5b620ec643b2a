/**
 * The `artifact-keeper` command: parses arguments, runs one command from the table, prints, and maps
 * failures to exit codes. Commands hold no logic of their own beyond wording; the core does the work.
 */
import * as path from 'node:path';
import { printable, rememberGitVersionsIn } from '../core/index.js';
import { processIo } from './context.js';
import { EXIT } from './exitCodes.js';
import { runCommand } from './runCommand.js';
import { exitWhenDone } from './exitWhenDone.js';
import { COMMANDS } from './commands/index.js';
import { startCliTrace } from './trace.js';
import { cliCacheFolder } from './cacheFolder.js';

export type { CliCommand } from './runCommand.js';

function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: artifact-keeper <command> [--collection DIR] [--json] [options]',
    '',
    'commands:',
    ...lines,
    '',
    "Run `artifact-keeper <command> --help` for a command's options.",
  ].join('\n');
}

/** Runs one command of the table in this process, with its own streams and signals. */
export async function main(argv: readonly string[]): Promise<number> {
  const io = processIo();
  startCliTrace();
  rememberGitVersionsIn(path.join(cliCacheFolder(), 'git-versions.json'));
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${helpText()}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === 'version') {
    io.stdout(`artifact-keeper ${VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`artifact-keeper: unknown command "${printable(name)}"\n${helpText()}\n`);
    return EXIT.usage;
  }
  return runCommand(name, command, rest, io);
}

declare const __VERSION__: string | undefined;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.1.0';

/**
 * A reader that went away (`artifact-keeper snapshots | head -1`) is not a failure: the rest of the output
 * has nowhere to go, and the command's outcome and exit code stay its own (a committed update still
 * exits 0). Node ignores SIGPIPE, so the closed pipe arrives as EPIPE on the stream.
 */
export function ignoreClosedOutput(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}

if (require.main === module) {
  ignoreClosedOutput(process.stdout);
  ignoreClosedOutput(process.stderr);
  main(process.argv.slice(2)).then(
    (code) => exitWhenDone(code),
    (err: unknown) => {
      process.stderr.write(`artifact-keeper: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = EXIT.software;
    },
  );
}
