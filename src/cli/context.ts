/**
 * What every CLI command receives: parsed arguments, the collection folder, output helpers, and the
 * IO ports (with faults injected from ARTIFACT_KEEPER_FAULT for the crash and fault campaigns, and the
 * clock pinned by ARTIFACT_KEEPER_NOW). The CLI's root is the only place that reads them.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import {
  clockFromEnv,
  DEFAULT_RETENTION,
  FaultPlan,
  nodeFs,
  parseFaultSpec,
  printable,
  withFaults,
} from '../core/index.js';
import type {
  Clock,
  Collection,
  Fs,
  KeptObjectReaders,
  Logger,
  OperationOptions,
  Retention,
  StatCache,
} from '../core/index.js';
import { UsageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { cliLogger } from './logger.js';
import { execPolicy } from './execApproval.js';

export interface CliContext {
  args: ParsedArgs;
  collectionDir: string;
  /** The home folder (`~`): SkillMeat's config and collections, the user-scope profile root. */
  home: string;
  json: boolean;
  fs: Fs;
  faults: FaultPlan | undefined;
  /** The clock every operation records with: ARTIFACT_KEEPER_NOW pins it (the crash campaign does). */
  clock: Clock;
  /**
   * Retention after a snapshot-creating command: `--keep N` (default 20) and `--max-age-days D` (default
   * none), for the commands that take them (`retention: true` in the table).
   */
  retention: Retention;
  out(line: string): void;
  err(line: string): void;
  printJson(value: unknown): void;
  flag(name: string): string | undefined;
  has(name: string): boolean;
  isTerminal: boolean;
  /** See `CliIo.cannotAsk`. */
  cannotAsk?: () => never;
  /** Warnings (and ARTIFACT_KEEPER_LOG's levels) on the command's stderr. */
  logger: Logger;
  /** Aborted on SIGINT/SIGTERM: git children run in their own process groups and never see the signal. */
  signal: AbortSignal;
  /** Set in a process that runs command after command (the status daemon): what it keeps between them. */
  warm?: WarmChecks;
}

/**
 * Where a command's text goes and what interrupts it: the process's own streams and signals
 * (`processIo`), or, in the status daemon, one request's buffers.
 */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  isTerminal: boolean;
  signal: AbortSignal;
  /** The folder relative arguments are read against (the client's, in the daemon); default the process's. */
  cwd?: string;
  /**
   * Set where the terminal is not this process's own (the daemon runs a client's command): a question
   * for the terminal calls it instead of reading stdin, and it throws, so the command stops there.
   */
  cannotAsk?: () => never;
}

/**
 * What the daemon keeps between the commands it answers, by folder: stat caches, loaded collections (a
 * status reads them, an update borrows its folder's and gives it back committed), and the derived data
 * a command left to write once it has answered.
 */
export interface WarmChecks {
  statCaches: Map<string, StatCache>;
  collections: Map<string, Collection>;
  deferred: (() => Promise<void>)[];
  /** The snapshot store's `cat-file` readers, kept from one command to the next. */
  objectReaders: KeptObjectReaders;
}

export const TOOL = 'artifact-keeper-cli';

/** Writes unless the reader has gone (see `ignoreClosedOutput` in main.ts): then the text is dropped. */
function write(stream: NodeJS.WriteStream, text: string): void {
  if (!stream.destroyed) stream.write(text);
}

/** `--keep N` (a whole number ≥ 1) and `--max-age-days D` (≥ 0; 0 or absent: no age rule). Throws UsageError. */
function retentionFrom(keepText: string | undefined, ageText: string | undefined): Retention {
  const keep = keepText === undefined ? DEFAULT_RETENTION.keep : Number(keepText);
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError('--keep takes a whole number ≥ 1');
  if (ageText === undefined) return { keep };
  const maxAgeDays = Number(ageText);
  if (ageText.trim() === '' || !Number.isFinite(maxAgeDays) || maxAgeDays < 0)
    throw new UsageError('--max-age-days takes a number ≥ 0');
  return maxAgeDays > 0 ? { keep, maxAgeDays } : { keep };
}

/** The process's own streams, and a signal aborted by the first SIGINT or SIGTERM (the second exits). */
export function processIo(): CliIo {
  const controller = new AbortController();
  const abort = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    stdout: (text) => write(process.stdout, text),
    stderr: (text) => write(process.stderr, text),
    isTerminal: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    signal: controller.signal,
  };
}

export function createContext(args: ParsedArgs, io: CliIo, warm?: WarmChecks): CliContext {
  const spec = process.env.ARTIFACT_KEEPER_FAULT;
  const faults = spec ? new FaultPlan(parseFaultSpec(spec)) : undefined;
  const flag = (name: string): string | undefined => {
    const value = args.flags.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  return {
    signal: io.signal,
    args,
    collectionDir: path.resolve(io.cwd ?? process.cwd(), flag('collection') ?? '.'),
    home: os.homedir(),
    json: args.flags.get('json') === true,
    fs: faults ? withFaults(nodeFs, faults) : nodeFs,
    faults,
    clock: clockFromEnv(process.env),
    retention: retentionFrom(flag('keep'), flag('max-age-days')),
    // Human output is one printable line per call: file and artifact names may hold newlines, terminal
    // escapes or bytes that are not UTF-8 (machine output goes through printJson).
    out: (line) => io.stdout(`${printable(line)}\n`),
    err: (line) => io.stderr(`${printable(line)}\n`),
    printJson: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    flag,
    has: (name) => args.flags.has(name),
    isTerminal: io.isTerminal,
    ...(io.cannotAsk ? { cannotAsk: io.cannotAsk } : {}),
    logger: cliLogger((text) => io.stderr(text)),
    ...(warm ? { warm } : {}),
  };
}

function warmOptions(
  warm: WarmChecks,
): Pick<OperationOptions, 'parallelStat' | 'loaded' | 'defer' | 'keptReaders'> {
  return {
    parallelStat: true,
    keptReaders: warm.objectReaders,
    loaded: warm.collections,
    defer: (work) => {
      warm.deferred.push(work);
    },
  };
}

/** The options every mutating core operation takes, from the command's context. */
export function operationOptions(ctx: CliContext): OperationOptions {
  return {
    fs: ctx.fs,
    logger: ctx.logger,
    tool: TOOL,
    // A process that lives on (the daemon) takes the stamps on two threads, as the extension does, keeps
    // the collections it parsed, and writes derived data after it answered.
    ...(ctx.warm ? warmOptions(ctx.warm) : {}),
    signal: ctx.signal,
    clock: ctx.clock,
    retention: ctx.retention,
    exec: execPolicy(ctx),
    home: ctx.home,
    ...(ctx.faults ? { faults: ctx.faults } : {}),
    // For measuring only (the bench's update over a slow link): the snapshot scanned after the fetch.
    ...(process.env.ARTIFACT_KEEPER_SCAN_AHEAD === '0' ? { scanAhead: false } : {}),
  };
}
