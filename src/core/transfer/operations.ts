/**
 * The high-level operations shared by the CLI and the extension. Each mutating one takes the writer
 * lock, recovers an interrupted transaction first, snapshots, and applies through the transaction
 * engine. This file holds the shared types; the operations live in update.ts, add.ts, check.ts, restore.ts.
 */
import type { Fs } from '../ports/fs.js';
import type { FaultPlan } from '../ports/faults.js';
import type { KeptObjectReaders } from '../ports/keptReaders.js';
import * as path from 'node:path';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotStore, SnapshotStoreOptions } from '../store/snapshots.js';
import type { Logger } from '../base/changes.js';
import { systemClock } from '../base/time.js';
import type { Clock } from '../base/time.js';
import { withWriter } from '../txn/transaction.js';
import type { TransactionOptions, WithWriterOptions } from '../txn/transaction.js';
import type { Decision, FilePlan, Strategy } from './plan.js';
import type { CoreError, FailureCode } from '../base/errors.js';
import type { Retention } from './retention.js';
import type { ExecPolicy } from '../exec/approval.js';
import type { Collection } from '../model/collection.js';

export interface OperationOptions {
  fs: Fs;
  logger: Logger;
  /** `artifact-keeper-cli` or `artifact-keeper-vscode`: written into the writer lock and history. */
  tool: string;
  signal?: AbortSignal;
  /** How long a second writer waits for the lock before `locked` (default 3000 ms). */
  lockWaitMs?: number;
  /** Fault injection for the operation's git processes, the snapshot store's and the upstream fetches' (tests and campaigns only). */
  faults?: FaultPlan;
  /**
   * Every time the operation records (lock, manifest, journal, history, snapshots). Default: the system
   * clock. The composition roots build it (`clockFromEnv`); the core never reads the environment.
   */
  clock?: Clock;
  /**
   * Snapshot scans take the stamps of the files they know on two threads (`SnapshotStoreOptions`): on
   * in the extension, which lives on; off in the CLI, where starting the helper costs more than it saves.
   */
  parallelStat?: boolean;
  /**
   * The snapshot before a one-shot update scanned while its fetch runs (snapshotAhead.ts). Default on;
   * off only to measure what it saves (the bench's row over a slow link, through the CLI's
   * `ARTIFACT_KEEPER_SCAN_AHEAD=0`): the snapshot is then scanned after the fetch, at the commit.
   */
  scanAhead?: boolean;
  /** A process that lives on (the daemon): `cat-file` readers kept from one operation to the next. */
  keptReaders?: KeptObjectReaders;
  /**
   * A process that lives on (the daemon): the collections it keeps parsed, by folder. An update borrows
   * its folder's (used only if manifest and lock still hold the bytes it was parsed from) and gives it
   * back once its transaction committed, holding the bytes it wrote; any other end leaves it out, so a
   * model an operation edited is used again only as what is on disk.
   */
  loaded?: Map<string, Collection>;
  /**
   * A process that lives on: where derived data (the parse cache's new entries) is written after the
   * command has answered, instead of before. Without it, it is written before the operation returns.
   */
  defer?: (work: () => Promise<void>) => void;
  /**
   * Retention after every snapshot-creating operation (retention.ts): the CLI's `--keep`/`--max-age-days`,
   * the extension's `artifactKeeper.retention.*` settings. Default: keep the newest 20, no age rule.
   */
  retention?: Retention;
  /** How executable changes get their yes (DESIGN §11); without it, an operation that has any refuses. */
  exec?: ExecPolicy;
  /** The home folder (`~`), from the composition root: SkillMeat's collections and the user scope are there. */
  home?: string;
}

/** The operation's clock: the one it was given, else the machine's. */
export function clockOf(opts: Pick<OperationOptions, 'clock'>): Clock {
  return opts.clock ?? systemClock;
}

/** The snapshot store's options for an operation: its fs, logger, clock, and git fault plan if any. */
export function storeOptions(
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock' | 'parallelStat' | 'keptReaders'>,
): SnapshotStoreOptions {
  return {
    fs: opts.fs,
    logger: opts.logger,
    clock: clockOf(opts),
    ...(opts.faults ? { git: { fault: opts.faults } } : {}),
    ...(opts.parallelStat ? { parallelStat: true } : {}),
    ...(opts.keptReaders ? { keptReaders: opts.keptReaders } : {}),
  };
}

/** `withWriter`'s options for an operation named `operation` (shown to whoever is kept waiting). */
export function writerOptions(opts: OperationOptions, operation: string): WithWriterOptions {
  return {
    tool: opts.tool,
    operation,
    fs: opts.fs,
    logger: opts.logger,
    clock: clockOf(opts),
    ...(opts.lockWaitMs !== undefined ? { waitMs: opts.lockWaitMs } : {}),
  };
}

/** `applyChanges`' options for an operation. */
export function transactionOptions(opts: OperationOptions): TransactionOptions {
  return {
    fs: opts.fs,
    logger: opts.logger,
    clock: clockOf(opts),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.defer ? { defer: opts.defer } : {}),
  };
}

export interface ArtifactUpdatePlan {
  id: string;
  name: string;
  type: string;
  /** Folder artifact (skill) or single file (command, agent). */
  isFolder: boolean;
  from: { sha?: string; version?: string };
  to: { sha?: string; version?: string };
  upToDate: boolean;
  /** `keep`: the artifact stays as it is; its upstream was neither resolved nor fetched. */
  kept?: boolean;
  /** What a person should know before applying (upstream files that are git LFS pointers). */
  warnings?: string[];
  /** False when no stored or fetchable base existed: every difference is then a both-sides change. */
  baseKnown: boolean;
  files: FilePlan[];
  /** Absolute path of the artifact in the collection. */
  localRoot: string;
}

export interface UpdatePlan {
  collectionDir: string;
  strategy: Strategy;
  artifacts: ArtifactUpdatePlan[];
  /** Hash of every input (lock entry, local content, base, upstream); apply refuses a stale plan. */
  fingerprint: string;
  /** `update --all`: artifacts whose upstream could not be resolved or fetched (the others go on). */
  failed: { id: string; error: CoreError }[];
  /** Every selected artifact in manifest order: those planned and those that failed. */
  selected: string[];
  dispose(): Promise<void>;
}

export type ArtifactDecisions = Map<string, Decision> | 'skip';

/** A conflict committed into an artifact's files: `path` holds markers, or upstream's copy is beside it. */
export interface ConflictFile {
  path: string;
  /** Conflicting hunks (1 for a whole-file conflict). */
  conflicts: number;
  /** Where upstream's version was written (`<path>.upstream`) when the file cannot carry markers. */
  upstreamCopy?: string;
}

export interface UpdateResult {
  txId: string;
  preSnapshot: string;
  /** Every artifact the transaction changed, conflicted ones included. */
  updated: { id: string; sha?: string; version?: string }[];
  /** Committed with conflicts left in the files (the lock entry says `conflicted = true`). */
  conflicted: { id: string; files: ConflictFile[] }[];
  /** Skipped by the resolver (a prompt's "skip artifact", `--auto-resolve ours`). */
  skipped: string[];
  /** `keep`: nothing fetched, nothing written. */
  kept: string[];
  /** `update --all`: refused before the transaction (validation); nothing of theirs was written. */
  failed: { id: string; error: CoreError }[];
}

/** What happened to one artifact of an update, for the per-artifact summary of `update --all`. */
export type OutcomeKind = 'updated' | 'conflicted' | 'kept' | 'skipped' | 'up-to-date' | 'failed';

export interface ArtifactOutcome {
  id: string;
  outcome: OutcomeKind;
  /** updated/conflicted: the new version or sha; up-to-date: the current one. */
  to?: string;
  files?: ConflictFile[];
  /** failed: the one-line reason. */
  reason?: string;
  /** failed: what kind of failure (`exec-not-approved` makes `update --all` exit 6). */
  code?: FailureCode;
}

/** Runs `fn` with the collection's snapshot store open, and closes it whatever `fn` does. */
export async function withStore<T>(
  dir: string,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock' | 'parallelStat' | 'keptReaders'>,
  fn: (store: SnapshotStore) => Promise<T>,
): Promise<T> {
  const store = await openSnapshotStore(path.resolve(dir), storeOptions(opts));
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/**
 * `withStore` as the collection's writer (`withWriter`: lock, recovery first, release). `waitMs` 0 takes
 * the lock only when it is free (CoreError `locked` otherwise): for work that can wait for another time.
 */
export function asWriter<T>(
  dir: string,
  opts: OperationOptions,
  operation: string,
  fn: (store: SnapshotStore) => Promise<T>,
  waitMs?: number,
): Promise<T> {
  const options = writerOptions(opts, operation);
  return withWriter(path.resolve(dir), waitMs === undefined ? options : { ...options, waitMs }, () =>
    withStore(dir, opts, fn),
  );
}
