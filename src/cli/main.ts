/**
 * The `artifact-keeper` command: parses arguments, runs one command from the table, prints, and maps
 * failures to exit codes. Commands hold no logic of their own beyond wording; the core does the work.
 */
import * as path from 'node:path';
import { CoreError, describeFailure, printable, rememberGitVersionsIn } from '../core/index.js';
import { parseArgs, UsageError } from './args.js';
import type { FlagSpec } from './args.js';
import { createContext } from './context.js';
import type { CliContext } from './context.js';
import { EXIT, exitCodeFor } from './exitCodes.js';
import { exitWhenDone } from './exitWhenDone.js';
import { COMMANDS } from './commands/index.js';
import { startCliTrace } from './trace.js';
import { cliCacheFolder } from './cacheFolder.js';

export interface CliCommand {
  summary: string;
  usage: string;
  flags?: Record<string, FlagSpec>;
  /** The command creates a snapshot: it takes `--keep N` and `--max-age-days D` for the retention after it. */
  retention?: boolean;
  run(ctx: CliContext): Promise<number>;
}

/** Retention after a snapshot-creating command (DESIGN §4); parsed into `ctx.retention`. */
const RETENTION_FLAGS: Record<string, FlagSpec> = {
  keep: { value: true },
  'max-age-days': { value: true },
};
const RETENTION_USAGE = ' [--keep N] [--max-age-days D]';

function usageOf(command: CliCommand): string {
  return `${command.usage}${command.retention ? RETENTION_USAGE : ''}`;
}

const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  collection: { value: true, short: 'C' },
  json: { value: false },
  help: { value: false, short: 'h' },
};

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

export async function main(argv: readonly string[]): Promise<number> {
  startCliTrace();
  rememberGitVersionsIn(path.join(cliCacheFolder(), 'git-versions.json'));
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`artifact-keeper ${VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`artifact-keeper: unknown command "${printable(name)}"\n${helpText()}\n`);
    return EXIT.usage;
  }
  let ctx: CliContext;
  try {
    const args = parseArgs(rest, {
      ...GLOBAL_FLAGS,
      ...(command.retention ? RETENTION_FLAGS : {}),
      ...command.flags,
    });
    if (args.flags.get('help')) {
      process.stdout.write(`usage: artifact-keeper ${usageOf(command)}\n${command.summary}\n`);
      return EXIT.ok;
    }
    ctx = createContext(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(
        `artifact-keeper ${name}: ${printable(err.message)}\nusage: artifact-keeper ${usageOf(command)}\n`,
      );
      return EXIT.usage;
    }
    throw err;
  }
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.err(`artifact-keeper ${name}: ${printable(err.message)}`);
      ctx.err(`usage: artifact-keeper ${usageOf(command)}`);
      return EXIT.usage;
    }
    if (err instanceof CoreError) {
      const code = exitCodeFor(err.failure.code);
      if (ctx.json) ctx.printJson({ error: { ...err.failure, message: describeFailure(err.failure) } });
      ctx.err(`artifact-keeper: ${describeFailure(err.failure)}`);
      return code;
    }
    const e = err as Error;
    ctx.err(`artifact-keeper: internal error: ${printable(e?.message ?? String(err))}`);
    if (process.env.ARTIFACT_KEEPER_DEBUG) ctx.err(e?.stack ?? '');
    return EXIT.software;
  }
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
