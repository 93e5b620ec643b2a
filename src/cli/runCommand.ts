/**
 * One command from the table run with its arguments: flags parsed, the context made, failures mapped to
 * exit codes and one-line messages. `main` runs it for the process; the daemon runs `status` and `update`
 * through it for each client, so an answer from the daemon is the same text and code.
 */
import { CoreError, describeFailure, printable } from '../core/index.js';
import { parseArgs, UsageError } from './args.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { createContext } from './context.js';
import type { CliContext, CliIo, WarmChecks } from './context.js';
import { EXIT, exitCodeFor } from './exitCodes.js';

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

/** A command's arguments parsed as `runCommand` parses them (global, retention and its own flags). Throws UsageError. */
export function parseCommandArgs(command: CliCommand, argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, {
    ...GLOBAL_FLAGS,
    ...(command.retention ? RETENTION_FLAGS : {}),
    ...command.flags,
  });
}

export async function runCommand(
  name: string,
  command: CliCommand,
  argv: readonly string[],
  io: CliIo,
  warm?: WarmChecks,
): Promise<number> {
  let ctx: CliContext;
  try {
    const args = parseCommandArgs(command, argv);
    if (args.flags.get('help')) {
      io.stdout(`usage: artifact-keeper ${usageOf(command)}\n${command.summary}\n`);
      return EXIT.ok;
    }
    ctx = createContext(args, io, warm);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(
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
