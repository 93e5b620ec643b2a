/**
 * The transaction engine: applies a list of `FileChange`s so that it is never half-applied. Everything is
 * staged and journaled first, renames follow, and the rename of `collection.lock` (the last change) is the
 * commit point; a failure or crash before it is undone, one after it only leaves cleanup for `recover`.
 *
 * Durability: files, the stage folder, the journal and every touched folder are fsynced before the commit
 * rename, and the lock's folder after it (write-file-atomic's order, plus directory fsyncs, which it skips).
 * That makes the outcome exact on a crash or kill -9, and on power loss wherever the file system honours
 * fsync. It cannot be guaranteed on file systems or disks that acknowledge fsync without persisting
 * (some network mounts, disks with volatile write caches and barriers off): there a power loss may revert
 * any recent rename, and the journal may then describe a state the disk no longer has. Nor does it guard
 * against other programs editing the collection meanwhile: the writer lock only excludes our own writers.
 */
import { randomInt } from 'node:crypto';
import * as fsSync from 'node:fs';
import * as path from 'node:path';
import { throwIfAborted } from '../base/abort.js';
import { traced, traceStart } from '../base/trace.js';
import { silentLogger } from '../base/changes.js';
import type { FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import type { LockHolder } from '../base/errors.js';
import { systemClock } from '../base/time.js';
import { rememberWrittenDocs } from '../model/collection.js';
import { nodeFs } from '../ports/fs.js';
import { JOURNAL_VERSION, hasJournal, journalPath, txnPaths, writeJournal } from './journal.js';
import type { Journal, JournalOp } from './journal.js';
import type { ProjectChange, RecordedApproval } from '../store/history.js';
import { acquireWriterLock } from './writerLock.js';
import { sweepGitLeftovers, sweepStaleTemp } from '../ports/tempSpace.js';
import { readJournalQuietly, toCoreError, messageOf } from './diskState.js';
import { planOps, findLockOp, applyOp, fsyncDirs, opTarget } from './ops.js';
import { undoOps } from './undo.js';
import { recoverJournal, finishCommit, removeWorkArea } from './recovery.js';
import type { RecoveryOptions, RecoveryOutcome } from './recovery.js';

export { recoverJournal } from './recovery.js';
export type { RecoveryOutcome } from './recovery.js';

export interface TransactionSpec {
  txId: string;
  /** What kind of operation this is (`update`, `restore`, `add`…), for history and the journal. */
  kind: string;
  description: string;
  /** `type/name` of every artifact touched. */
  artifacts: string[];
  preSnapshot?: string;
  /** Applied in order; a write of `collection.lock`, if present, must be the last change. */
  changes: FileChange[];
  tool: string;
  /** Approvals of the executable changes among `changes` (exec/approval.ts), for the history. */
  approvals?: RecordedApproval[];
  /** The project the transaction changes too (deploy, undeploy, pull), for the history and `undo`. */
  project?: ProjectChange;
}

export interface TransactionOptions extends RecoveryOptions {
  /** Checked between steps; once the commit point is passed, cancelling has no effect. */
  signal?: AbortSignal;
  /** Takes the parse cache's write of the committed manifest and lock for later (OperationOptions.defer). */
  defer?: (work: () => Promise<void>) => void;
}

export interface ApplyResult {
  txId: string;
  /**
   * True when the transaction committed but a cleanup step (history, work area, journal) failed: the
   * journal stays, the collection reads as `interrupted`, and the next `recoverJournal` finishes the job.
   */
  cleanupPending: boolean;
}

/**
 * Thrown when a failed transaction could not be undone either. It is an `interrupted` CoreError (the
 * journal was kept, so `recoverJournal` can finish the undo later) that carries both failures.
 */
export class UndoFailedError extends CoreError {
  constructor(
    journalFile: string,
    readonly original: CoreError,
    readonly undoError: CoreError,
  ) {
    super(
      { code: 'interrupted', journal: journalFile },
      { cause: new AggregateError([original, undoError]) },
    );
    this.name = 'UndoFailedError';
    this.message = `${original.message}; undoing it failed too (${undoError.message}); run recover to finish the undo (${journalFile})`;
  }
}

/**
 * A short id that sorts by time: `t`, the milliseconds in base 36 (padded to 9 digits, which lasts until
 * the year 5188), and 6 random base-36 digits so two transactions in the same millisecond differ. Under a
 * pinned clock (the CLI's env, see clockFromEnv) every id shares its time: with 4 digits, the fault campaign's few
 * hundred transactions on one store drew the same id about once in a hundred runs (a project image's ref
 * that already existed, a history entry taken for one already there). 6 digits make it about 1 in 50,000.
 */
export function newTxId(now: number = systemClock.now().getTime()): string {
  return `t${now.toString(36).padStart(9, '0')}${randomInt(36 ** 6)
    .toString(36)
    .padStart(6, '0')}`;
}

/**
 * Applies `spec.changes` all or nothing. The caller holds the writer lock. Throws CoreError `io-failed`
 * (after undoing everything), `cancelled` (likewise), `plan-stale` (the disk no longer matches what the
 * changes expect; nothing written) or `interrupted` (a journal of an earlier transaction is still there, or
 * an UndoFailedError: the undo failed and the journal is left for recovery). A malformed spec (unsafe path, lock not last) is a programming error: Error.
 */
export async function applyChanges(
  collectionDir: string,
  spec: TransactionSpec,
  options: TransactionOptions = {},
): Promise<ApplyResult> {
  const root = path.resolve(collectionDir);
  const fs = options.fs ?? nodeFs;
  const logger = options.logger ?? silentLogger;
  const signal = options.signal;
  const clock = options.clock ?? systemClock;
  // Overwriting another transaction's journal would lose the only record of how to undo it.
  if (hasJournal(root)) throw new CoreError({ code: 'interrupted', journal: journalPath(root) });
  const { ops, roots } = planOps(root, spec.changes);
  const paths = txnPaths(root, spec.txId);
  const lockOp = findLockOp(ops);
  const journal: Journal = {
    version: JOURNAL_VERSION,
    txId: spec.txId,
    kind: spec.kind,
    description: spec.description,
    artifacts: spec.artifacts,
    ...(spec.preSnapshot !== undefined ? { preSnapshot: spec.preSnapshot } : {}),
    ...(spec.approvals && spec.approvals.length > 0 ? { approvals: spec.approvals } : {}),
    ...(spec.project ? { project: spec.project } : {}),
    tool: spec.tool,
    pid: process.pid,
    started: clock.now().toISOString(),
    state: 'applying',
    ops,
    ...(roots.length > 0 ? { roots } : {}),
  };
  const tag = `[Txn] ${spec.txId}`;
  logger.trace(`${tag} ${spec.kind} started: ${ops.length} change(s)`);

  // The step under way, so a raw Node error can be reported as "rename <path> failed: EIO …".
  let step = { op: 'stage', path: paths.dir };
  const at = (op: string, target: string): void => {
    step = { op, path: target };
  };
  let journalMayExist = false;
  /** Index of the last op whose apply began: the in-process undo covers ops 0..lastStarted. */
  let lastStarted = -1;
  const touchedDirs = new Set<string>();

  let phase = traceStart('stage and fsync');
  try {
    // Step 1: stage every new file, durably, before anything in the collection moves.
    throwIfAborted(signal);
    at('mkdir', paths.stageDir);
    await fs.mkdir(paths.stageDir);
    at('mkdir', paths.backupDir);
    await fs.mkdir(paths.backupDir);
    throwIfAborted(signal);
    // A few side by side: each file is several calls on the thread pool, and one after another they
    // added up; a bound keeps a restore of thousands of files from opening them all at once.
    const stageOne = async (n: number): Promise<void> => {
      const change = spec.changes[n] as FileChange;
      if (change.kind !== 'write') return;
      const target = opTarget(root, roots, ops[n] as JournalOp);
      const staged = paths.stage(n);
      let where = { op: 'symlink', path: staged };
      try {
        if (change.symlinkTarget !== undefined) {
          // A symlink cannot be opened for fsync; the fsync of the stage folder below persists it.
          await fs.symlink(change.symlinkTarget, staged);
          return;
        }
        let data = change.data;
        if (typeof data === 'function') {
          where = { op: 'read', path: target };
          data = await data();
        }
        where = { op: 'write', path: staged };
        if ('copyOf' in data) await fs.copyFile(data.copyOf, staged, change.mode);
        else await fs.writeFile(staged, data, change.mode);
        where = { op: 'fsync', path: staged };
        await fs.fsync(staged);
      } catch (err) {
        throw new StageFailure(where, err);
      }
    };
    /** The failures by change index; once there is one, or a cancel, no file is begun. */
    const failures: StageFailure[] = [];
    let next = 0;
    const stager = async (): Promise<void> => {
      while (next < spec.changes.length && failures.length === 0 && signal?.aborted !== true) {
        const n = next++;
        await stageOne(n).catch((err: unknown) => {
          failures[n] =
            err instanceof StageFailure ? err : new StageFailure({ op: 'stage', path: paths.dir }, err);
        });
      }
    };
    await Promise.all(Array.from({ length: STAGE_SIDE_BY_SIDE }, stager));
    const failed = failures.find((failure) => failure !== undefined);
    if (failed) {
      at(failed.where.op, failed.where.path);
      throw failed.cause;
    }
    // A cancel may have left files unstaged: it must stop here, before the journal.
    throwIfAborted(signal);
    at('fsync', paths.stageDir);
    await fs.fsync(paths.stageDir);
    for (const op of ops) {
      if (op.kind === 'write') op.stagedIno = fsSync.lstatSync(paths.stage(op.n)).ino;
    }

    // Step 2: the journal, so that from the first rename on, a crash can be undone by `recoverJournal`.
    phase();
    phase = traceStart('journal');
    throwIfAborted(signal);
    journalMayExist = true;
    at('write', journalPath(root));
    await writeJournal(fs, root, journal);
    logger.debug(`${tag} journal written (applying)`);
    phase();
    phase = traceStart('renames up to the commit point');

    // Step 3: renames in order; the lock's rename, last, is the commit point.
    for (const op of ops) {
      throwIfAborted(signal);
      lastStarted = op.n;
      const target = opTarget(root, roots, op);
      if (op === lockOp) {
        if (op.existed) {
          at('rename', target);
          await fs.rename(target, paths.backup(op.n));
        }
        await fsyncDirs(fs, [...touchedDirs, path.dirname(target), paths.backupDir], at);
        throwIfAborted(signal);
        at('rename', target);
        await fs.rename(paths.stage(op.n), target);
        break;
      }
      await applyOp(fs, op, target, paths, at);
      touchedDirs.add(path.dirname(target));
    }
    if (!lockOp) {
      // Without a lock change, the journal's switch to `committed` is the commit point.
      await fsyncDirs(fs, [...touchedDirs, paths.backupDir], at);
      throwIfAborted(signal);
      at('write', journalPath(root));
      try {
        await writeJournal(fs, root, { ...journal, state: 'committed' });
      } catch (err) {
        // The rename inside may have happened before a later fsync failed: then it is committed.
        if (readJournalQuietly(root)?.state !== 'committed') throw err;
        logger.warn(`${tag} committed, but the journal's folder could not be synced: ${messageOf(err)}`);
      }
    }
  } catch (err) {
    throw await rollBack(err);
  }

  phase();
  logger.debug(`${tag} committed`);
  const finished = lockOp ? journal : { ...journal, state: 'committed' as const };
  const cleanupPending =
    (await traced('history and cleanup', () =>
      finishCommit({ fs, root, logger, clock }, finished, paths, 'committed'),
    )) !== undefined;
  const remember = (): Promise<void> => rememberWrittenDocs(root, spec.changes, fs);
  if (options.defer) options.defer(remember);
  else await traced('parse cache: the written manifest and lock', remember);
  logger.trace(`${tag} ${spec.kind} done${cleanupPending ? ' (cleanup left for recovery)' : ''}`);
  return { txId: spec.txId, cleanupPending };

  async function rollBack(err: unknown): Promise<CoreError> {
    const original = toCoreError(err, step);
    logger.debug(`${tag} failed before the commit point, undoing: ${original.message}`);
    if (lastStarted >= 0) {
      try {
        await writeJournal(fs, root, { ...journal, state: 'rolling-back' });
      } catch (stateErr) {
        // Not needed for correctness: an `applying` journal whose lock was not renamed is undone too.
        logger.warn(`${tag} could not mark the journal rolling-back: ${messageOf(stateErr)}`);
      }
      try {
        await undoOps({ fs, root, logger, clock }, paths, ops.slice(0, lastStarted + 1).reverse(), roots);
      } catch (undoErr) {
        const failure = new UndoFailedError(journalPath(root), original, toCoreError(undoErr, step));
        logger.error(`${tag} ${failure.message}`);
        return failure;
      }
    }
    try {
      await removeWorkArea(fs, root, paths.dir, journalMayExist);
      logger.debug(`${tag} rolled back`);
    } catch (cleanupErr) {
      logger.warn(`${tag} rolled back; cleanup left for recovery: ${messageOf(cleanupErr)}`);
    }
    return original;
  }
}

export interface WithWriterOptions extends Omit<TransactionOptions, 'signal'> {
  tool: string;
  operation?: string;
  waitMs?: number;
}

export interface WriterContext {
  holder: LockHolder;
  /** What recovery did before `fn` ran (DESIGN §5 step 2). */
  recovered: RecoveryOutcome;
}

/**
 * Runs `fn` as the collection's only writer: takes the writer lock (CoreError `locked` after the wait),
 * recovers an interrupted transaction first, and always releases the lock. A failed release is logged,
 * not thrown: the lock then names a holder that is gone or, in this process, one it no longer tracks,
 * and the next writer reclaims it.
 */
export async function withWriter<T>(
  collectionDir: string,
  options: WithWriterOptions,
  fn: (ctx: WriterContext) => Promise<T>,
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  const lock = await traced('writer lock', () =>
    acquireWriterLock(collectionDir, {
      tool: options.tool,
      ...(options.operation !== undefined ? { operation: options.operation } : {}),
      ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
      ...(options.fs !== undefined ? { fs: options.fs } : {}),
    }),
  );
  try {
    const recovery = traceStart('recovery check and sweep');
    const recovered = await recoverJournal(collectionDir, {
      ...(options.fs !== undefined ? { fs: options.fs } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      logger,
    });
    sweepStaleTemp(collectionDir);
    sweepGitLeftovers(collectionDir);
    recovery();
    return await fn({ holder: lock.holder, recovered });
  } finally {
    await traced('release the writer lock', () =>
      lock.release().catch((err: unknown) => logger.error(`[WriterLock] release failed: ${messageOf(err)}`)),
    );
  }
}

/** Files staged at once at most (`applyChanges`, step 1). */
const STAGE_SIDE_BY_SIDE = 8;

/** A staged file's failure, with the step it failed at. */
class StageFailure {
  constructor(
    readonly where: { op: string; path: string },
    readonly cause: unknown,
  ) {}
}
