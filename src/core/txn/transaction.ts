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
import { silentLogger, STATE_DIR } from '../base/changes.js';
import type { FileChange, Logger } from '../base/changes.js';
import { CoreError, ioFailure, isCoreError } from '../base/errors.js';
import type { LockHolder } from '../base/errors.js';
import { systemClock } from '../base/time.js';
import type { Clock } from '../base/time.js';
import { fsPath } from '../base/fileNames.js';
import { isErrno, nodeFs } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { appendHistory, HISTORY_FILE } from '../store/history.js';
import type { HistoryOutcome } from '../store/history.js';
import {
  JOURNAL_FILE,
  JOURNAL_VERSION,
  hasJournal,
  journalPath,
  readJournal,
  txnPaths,
  txnRoot,
  unsafeRelReason,
  writeJournal,
} from './journal.js';
import type { Journal, JournalOp, TxnPaths } from './journal.js';
import { LOCK_FILE } from '../model/lock.js';
import { acquireWriterLock } from './writerLock.js';
import { isAbandonedTemp, sweepGitLeftovers, sweepStaleTemp } from '../ports/tempSpace.js';

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
}

export interface TransactionOptions {
  fs?: Fs;
  logger?: Logger;
  /** Checked between steps; once the commit point is passed, cancelling has no effect. */
  signal?: AbortSignal;
  /** The times written into the journal and the history (default: the system clock). */
  clock?: Clock;
}

export interface ApplyResult {
  txId: string;
  /**
   * True when the transaction committed but a cleanup step (history, work area, journal) failed: the
   * journal stays, the collection reads as `interrupted`, and the next `recoverJournal` finishes the job.
   */
  cleanupPending: boolean;
}

export type RecoveryOutcome = 'none' | 'rolled-back' | 'rolled-forward';

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
 * the year 5188), and 4 random base-36 digits so two transactions in the same millisecond differ.
 */
export function newTxId(now: number = systemClock.now().getTime()): string {
  return `t${now.toString(36).padStart(9, '0')}${randomInt(36 ** 4)
    .toString(36)
    .padStart(4, '0')}`;
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
  const ops = planOps(root, spec.changes);
  const paths = txnPaths(root, spec.txId);
  const lockOp = findLockOp(ops);
  const journal: Journal = {
    version: JOURNAL_VERSION,
    txId: spec.txId,
    kind: spec.kind,
    description: spec.description,
    artifacts: spec.artifacts,
    ...(spec.preSnapshot !== undefined ? { preSnapshot: spec.preSnapshot } : {}),
    tool: spec.tool,
    pid: process.pid,
    started: clock.now().toISOString(),
    state: 'applying',
    ops,
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

  try {
    // Step 1: stage every new file, durably, before anything in the collection moves.
    throwIfAborted(signal);
    at('mkdir', paths.stageDir);
    await fs.mkdir(paths.stageDir);
    at('mkdir', paths.backupDir);
    await fs.mkdir(paths.backupDir);
    for (const [n, change] of spec.changes.entries()) {
      if (change.kind !== 'write') continue;
      throwIfAborted(signal);
      const target = targetPath(root, change.rel);
      const staged = paths.stage(n);
      if (change.symlinkTarget !== undefined) {
        // A symlink cannot be opened for fsync; the fsync of the stage folder below persists it.
        at('symlink', staged);
        await fs.symlink(change.symlinkTarget, staged);
        continue;
      }
      at('read', target);
      const data = typeof change.data === 'function' ? await change.data() : change.data;
      at('write', staged);
      await fs.writeFile(staged, data, change.mode);
      at('fsync', staged);
      await fs.fsync(staged);
    }
    at('fsync', paths.stageDir);
    await fs.fsync(paths.stageDir);
    for (const op of ops) {
      if (op.kind === 'write') op.stagedIno = fsSync.lstatSync(paths.stage(op.n)).ino;
    }

    // Step 2: the journal, so that from the first rename on, a crash can be undone by `recoverJournal`.
    throwIfAborted(signal);
    journalMayExist = true;
    at('write', journalPath(root));
    await writeJournal(fs, root, journal);
    logger.debug(`${tag} journal written (applying)`);

    // Step 3: renames in order; the lock's rename, last, is the commit point.
    for (const op of ops) {
      throwIfAborted(signal);
      lastStarted = op.n;
      const target = targetPath(root, op.rel);
      if (op === lockOp) {
        if (op.existed) {
          at('rename', target);
          await fs.rename(target, paths.backup(op.n));
        }
        await fsyncDirs(fs, [...touchedDirs, root, paths.backupDir], at);
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

  logger.debug(`${tag} committed`);
  const finished = lockOp ? journal : { ...journal, state: 'committed' as const };
  const cleanupPending =
    (await finishCommit({ fs, root, logger, clock }, finished, paths, 'committed')) !== undefined;
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
        await undoOps({ fs, root, logger, clock }, paths, ops.slice(0, lastStarted + 1).reverse());
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

/**
 * Finishes an interrupted transaction, if a journal says there is one, then removes leftovers that no
 * journal names (`txn/*` folders, `*.ak-tmp` files). The caller holds the writer lock. Idempotent: run
 * twice, or killed halfway and run again, it converges on the same state. Throws `io-failed` (the journal
 * stays for the next attempt) or `interrupted` (a journal it cannot read).
 */
export async function recoverJournal(
  collectionDir: string,
  options: Omit<TransactionOptions, 'signal'> = {},
): Promise<RecoveryOutcome> {
  const root = path.resolve(collectionDir);
  const fs = options.fs ?? nodeFs;
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const journal = readJournal(root);
  let outcome: RecoveryOutcome = 'none';
  if (journal) {
    const paths = txnPaths(root, journal.txId);
    const tag = `[Recover] ${journal.txId}`;
    if (passedCommitPoint(root, journal, paths)) {
      logger.info(`${tag} ${journal.kind} had committed; finishing it`);
      const failed = await finishCommit({ fs, root, logger, clock }, journal, paths, 'recovered');
      if (failed !== undefined) throw toCoreError(failed, { op: 'finish', path: journalPath(root) });
      outcome = 'rolled-forward';
    } else {
      logger.info(`${tag} ${journal.kind} had not committed; undoing it`);
      if (journal.state !== 'rolling-back') {
        await guard('write', journalPath(root), () =>
          writeJournal(fs, root, { ...journal, state: 'rolling-back' }),
        );
      }
      await undoOps({ fs, root, logger, clock }, paths, [...journal.ops].reverse());
      await guard('remove', paths.dir, () => removeWorkArea(fs, root, paths.dir, true));
      outcome = 'rolled-back';
    }
  }
  await removeStrays(fs, root, logger);
  return outcome;
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
  const lock = await acquireWriterLock(collectionDir, {
    tool: options.tool,
    ...(options.operation !== undefined ? { operation: options.operation } : {}),
    ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
    ...(options.fs !== undefined ? { fs: options.fs } : {}),
  });
  try {
    const recovered = await recoverJournal(collectionDir, {
      ...(options.fs !== undefined ? { fs: options.fs } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      logger,
    });
    sweepStaleTemp(collectionDir);
    sweepGitLeftovers(collectionDir);
    return await fn({ holder: lock.holder, recovered });
  } finally {
    await lock
      .release()
      .catch((err: unknown) => logger.error(`[WriterLock] release failed: ${messageOf(err)}`));
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Validates the changes against the disk before any IO, and works out which targets already exist (as
 * each earlier change leaves them). A malformed spec throws Error; a disk that no longer matches the
 * plan throws `plan-stale`. Every ancestor of a target must be a real folder, so no rename can leave the
 * collection through a symlinked folder.
 */
function planOps(root: string, changes: FileChange[]): JournalOp[] {
  type Kind = 'file' | 'dir' | 'none';
  // What each path holds as the earlier changes leave it. A symlink counts as a file (even one to a
  // folder), and nothing is ever looked up through it: below a path that is not a real folder in this
  // view, or below a folder the plan itself creates, there is nothing yet. (Asking the disk there would
  // see through a symlinked artifact folder that an earlier change replaces by a real one.)
  const view = new Map<string, Kind>();
  const created = new Set<string>();
  const kindOf = (rel: string): Kind => {
    const known = view.get(rel);
    if (known) return known;
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : undefined;
    let kind: Kind = 'none';
    if (parent === undefined || (kindOf(parent) === 'dir' && !created.has(parent))) {
      try {
        kind = fsSync.lstatSync(fsPath(targetPath(root, rel))).isDirectory() ? 'dir' : 'file';
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw ioFailure('stat', targetPath(root, rel), err);
      }
    }
    view.set(rel, kind);
    return kind;
  };
  /** Records `rel`'s new kind; whatever was known below it is gone with it. */
  const becomes = (rel: string, kind: Kind): void => {
    if (view.get(rel) === 'dir' && kind !== 'dir') {
      for (const known of [...view.keys()]) if (known.startsWith(`${rel}/`)) view.delete(known);
    }
    if (kind === 'dir' && view.get(rel) !== 'dir') created.add(rel);
    else if (kind !== 'dir') created.delete(rel);
    view.set(rel, kind);
  };
  const parentIsFolder = (rel: string): boolean => {
    const segments = rel.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      if (kindOf(segments.slice(0, depth).join('/')) !== 'dir') return false;
    }
    return true;
  };
  const stale = (rel: string, reason: string): CoreError =>
    new CoreError({ code: 'plan-stale', reason: `${rel}: ${reason}` });

  return changes.map((change, n): JournalOp => {
    const { rel } = change;
    const unsafe = unsafeRelReason(rel);
    if (unsafe) throw new Error(`applyChanges: change ${n} "${rel}" ${unsafe}`);
    if (rel === LOCK_FILE && (change.kind !== 'write' || n !== changes.length - 1)) {
      // Its rename is the commit point: anything after it could no longer be undone.
      throw new Error(`applyChanges: the write of ${LOCK_FILE} must be the last change`);
    }
    if (!parentIsFolder(rel)) throw stale(rel, 'its folder does not exist');
    const current = kindOf(rel);
    switch (change.kind) {
      case 'write':
        if (current === 'dir') throw stale(rel, 'is a folder, not a file');
        becomes(rel, 'file');
        return { kind: 'write', rel, n, existed: current === 'file' };
      case 'delete':
        if (current !== 'file')
          throw stale(rel, current === 'dir' ? 'is a folder, not a file' : 'does not exist');
        becomes(rel, 'none');
        return { kind: 'delete', rel, n };
      case 'mkdir':
        if (current === 'file') throw stale(rel, 'is a file, not a folder');
        becomes(rel, 'dir');
        return { kind: 'mkdir', rel, n, existed: current === 'dir' };
      case 'rmdir':
        if (current !== 'dir') throw stale(rel, 'is not a folder');
        becomes(rel, 'none');
        return { kind: 'rmdir', rel, n };
    }
  });
}

function findLockOp(ops: JournalOp[]): (JournalOp & { kind: 'write' }) | undefined {
  const last = ops[ops.length - 1];
  return last?.kind === 'write' && last.rel === LOCK_FILE ? last : undefined;
}

async function applyOp(
  fs: Fs,
  op: JournalOp,
  target: string,
  paths: TxnPaths,
  at: (op: string, target: string) => void,
): Promise<void> {
  at(op.kind === 'mkdir' || op.kind === 'rmdir' ? op.kind : 'rename', target);
  switch (op.kind) {
    case 'write':
      // Never delete before the replacement is in place: the old file moves aside, then the new one in.
      if (op.existed) await fs.rename(target, paths.backup(op.n));
      await fs.rename(paths.stage(op.n), target);
      return;
    case 'delete':
      await fs.rename(target, paths.backup(op.n));
      return;
    case 'mkdir':
      await fs.mkdir(target);
      return;
    case 'rmdir':
      await fs.rmdir(target);
      return;
  }
}

/**
 * Undoes `ops` (given newest first). Each step looks at the disk rather than trusting memory, so it is
 * safe to repeat after a crash at any point, including a crash inside an earlier undo. Throws CoreError.
 */
/** What the undo and the finishing steps work with: the collection's root and the operation's ports. */
interface Engine {
  fs: Fs;
  root: string;
  logger: Logger;
  clock: Clock;
}

async function undoOps(engine: Engine, paths: TxnPaths, ops: JournalOp[]): Promise<void> {
  const { fs, root, logger } = engine;
  const touchedDirs = new Set<string>();
  const step = (op: string, target: string, work: () => Promise<void>): Promise<void> =>
    guard(op, target, work);
  const aside = path.join(root, STATE_DIR, 'displaced', path.basename(paths.dir));
  const room: Room = { ...engine, ours: stagedInodes(ops), aside };
  for (const op of ops) {
    const target = targetPath(root, op.rel);
    touchedDirs.add(path.dirname(target));
    switch (op.kind) {
      case 'write':
      case 'delete':
        if (exists(paths.backup(op.n))) {
          await makeRoom(room, op.rel, step);
          await step('rename', target, () => fs.rename(paths.backup(op.n), target));
        } else if (op.kind === 'write' && !op.existed && isStagedFile(target, op.stagedIno)) {
          // Our staged file was renamed into place (same inode): the new file goes.
          await step('unlink', target, () => ignoreErrno(fs.unlink(target), 'ENOENT'));
        }
        break;
      case 'mkdir':
        // A file there is what an earlier op's undo put back (e.g. a file that became a folder).
        if (op.existed || !isRealDir(target)) break;
        await step('rmdir', target, async () => {
          try {
            await fs.rmdir(target);
          } catch (err) {
            if (isErrno(err, 'ENOENT')) return;
            // Someone else put files there: removing them is not ours to do.
            if (isErrno(err, 'ENOTEMPTY', 'EEXIST')) {
              logger.warn(`[Txn] undo keeps ${target}: the folder is not empty`);
              return;
            }
            throw err;
          }
        });
        break;
      case 'rmdir':
        // Anything there already is either the folder or a file whose own undo decided to keep it.
        if (!exists(target)) await step('mkdir', target, () => fs.mkdir(target));
        break;
    }
  }
  let current = { op: 'fsync', path: root };
  try {
    await fsyncDirs(fs, [...touchedDirs, paths.backupDir], (op, target) => {
      current = { op, path: target };
    });
  } catch (err) {
    throw toCoreError(err, current);
  }
}

interface Room extends Engine {
  /** Inodes of this transaction's staged files: what it may remove again. */
  ours: Set<number>;
  /** Where anything else in the way is moved to: `.artifact-keeper/displaced/<txId>/`, outside the work area, which goes. */
  aside: string;
}

function stagedInodes(ops: JournalOp[]): Set<number> {
  const out = new Set<number>();
  for (const op of ops) if (op.kind === 'write' && op.stagedIno !== undefined) out.add(op.stagedIno);
  return out;
}

/**
 * Makes `rel` free for a backup to be put back, whatever type changes the transaction made there (a
 * symlinked folder replaced by a real one, a file by a folder, or the other way round): every ancestor
 * must be a real folder (a missing one is made; a symlink or file in the way is moved off, so nothing
 * is ever followed out of the collection), and a folder at `rel` loses what the transaction put in it
 * (its staged files, by inode, and folders left empty). Anything else in the way, which only another
 * program can have written, is moved to `.artifact-keeper/displaced/<txId>/` and named in a warning; it
 * is never deleted. Looks at the disk each time, so a repeated or interrupted undo converges.
 */
async function makeRoom(
  room: Room,
  rel: string,
  step: (op: string, target: string, work: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const segments = rel.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    const ancestor = targetPath(room.root, segments.slice(0, depth).join('/'));
    const st = lstatQuietly(ancestor);
    if (st?.isDirectory()) continue;
    if (st) await moveOff(room, ancestor, step);
    await step('mkdir', ancestor, () => room.fs.mkdir(ancestor));
  }
  const target = targetPath(room.root, rel);
  if (!lstatQuietly(target)?.isDirectory()) return;
  await clearOurs(room, target, step);
  if (lstatQuietly(target)) await moveOff(room, target, step);
}

/** Removes this transaction's staged files and the folders they leave empty, bottom up, from `dir`. */
async function clearOurs(
  room: Room,
  dir: string,
  step: (op: string, target: string, work: () => Promise<void>) => Promise<void>,
): Promise<void> {
  for (const name of listDir(dir)) {
    const child = path.join(dir, name);
    const st = lstatQuietly(child);
    if (st?.isDirectory()) await clearOurs(room, child, step);
    else if (st && room.ours.has(st.ino)) {
      await step('unlink', child, () => ignoreErrno(room.fs.unlink(child), 'ENOENT'));
    }
  }
  if (listDir(dir).length === 0) await step('rmdir', dir, () => ignoreErrno(room.fs.rmdir(dir), 'ENOENT'));
}

/** A staged file goes; anything else moves to `displaced/`, kept for the user. */
async function moveOff(
  room: Room,
  target: string,
  step: (op: string, target: string, work: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const st = lstatQuietly(target);
  if (!st) return;
  if (!st.isDirectory() && room.ours.has(st.ino)) {
    await step('unlink', target, () => ignoreErrno(room.fs.unlink(target), 'ENOENT'));
    return;
  }
  const rel = path.relative(room.root, target).split(path.sep).join('/');
  // The machine's clock, not the operation's: the stamp only keeps two displacements of one path apart,
  // which a pinned clock would not.
  const aside = path.join(room.aside, `${Date.now().toString(36)}-${rel.replaceAll('/', '%')}`);
  room.logger.warn(`[Txn] undo moves ${rel} out of the way, to ${aside}: this transaction did not write it`);
  await step('mkdir', room.aside, () => room.fs.mkdir(room.aside));
  await step('rename', aside, () => room.fs.rename(target, aside));
}

/**
 * After the commit point: sync the lock's folder, mark the journal committed, record history, remove the
 * journal and the work area. Stops at the first failure and returns it (logged); nothing here may fail
 * the transaction, which has already happened, and recovery repeats whatever is missing.
 */
async function finishCommit(
  engine: Engine,
  journal: Journal,
  paths: TxnPaths,
  outcome: HistoryOutcome,
): Promise<unknown> {
  const { fs, root, logger } = engine;
  const tag = `[Txn] ${journal.txId}`;
  try {
    // Until this sync the commit rename itself may not survive a power loss.
    if (findLockOp(journal.ops)) await fs.fsync(root);
    if (journal.state !== 'committed') await writeJournal(fs, root, { ...journal, state: 'committed' });
    await appendHistory(
      fs,
      root,
      {
        txId: journal.txId,
        kind: journal.kind,
        description: journal.description,
        artifacts: journal.artifacts,
        ...(journal.preSnapshot !== undefined ? { preSnapshot: journal.preSnapshot } : {}),
        time: engine.clock.now().toISOString(),
        tool: journal.tool,
        outcome,
      },
      logger,
    );
    await removeWorkArea(fs, root, paths.dir, true);
    return undefined;
  } catch (err) {
    logger.warn(`${tag} committed; cleanup failed and is left for recovery: ${messageOf(err)}`);
    return err ?? new Error('cleanup failed');
  }
}

/**
 * The journal first (and durably), then the txn folder: an `applying` journal must never outlive its stage
 * files, or recovery would read the missing lock stage file as "the commit point was passed". A txn
 * folder without a journal is a harmless stray that the next recovery removes.
 */
async function removeWorkArea(fs: Fs, root: string, txnDir: string, journalMayExist: boolean): Promise<void> {
  if (journalMayExist) {
    await ignoreErrno(fs.unlink(journalPath(root)), 'ENOENT');
    await fs.fsync(path.join(root, STATE_DIR));
  }
  await fs.rm(txnDir);
}

/**
 * `applying` has passed the commit point exactly when the lock's staged file was renamed into place: it
 * is gone from the stage and the lock exists. Without a lock change only `committed` counts.
 */
function passedCommitPoint(root: string, journal: Journal, paths: TxnPaths): boolean {
  if (journal.state === 'committed') return true;
  if (journal.state === 'rolling-back') return false;
  const lockOp = findLockOp(journal.ops);
  if (!lockOp) return false;
  return !exists(paths.stage(lockOp.n)) && exists(targetPath(root, lockOp.rel));
}

/** Only the writer writes these, and recovery runs as the writer: their temps are always leftovers. */
const WRITER_TEMPS = [`.${JOURNAL_FILE}.`, `.${HISTORY_FILE}.`];

/**
 * Removes `txn/*` folders no journal names and `*.ak-tmp` leftovers in the collection root (only the writer
 * writes there) and in `.artifact-keeper/`, where readers may be writing their cache right now: there only
 * writer-owned temps, temps of dead processes and old temps go.
 */
async function removeStrays(fs: Fs, root: string, logger: Logger): Promise<void> {
  let current = { op: 'rm', path: txnRoot(root) };
  try {
    await removeStrayFiles(fs, root, logger, (op, target) => {
      current = { op, path: target };
    });
  } catch (err) {
    throw toCoreError(err, current);
  }
}

async function removeStrayFiles(
  fs: Fs,
  root: string,
  logger: Logger,
  at: (op: string, target: string) => void,
): Promise<void> {
  const journal = readJournalQuietly(root);
  for (const name of listDir(txnRoot(root))) {
    if (name === journal?.txId) continue;
    logger.debug(`[Recover] removing stray work area txn/${name}`);
    at('rm', path.join(txnRoot(root), name));
    await fs.rm(path.join(txnRoot(root), name));
  }
  for (const name of listDir(root)) {
    if (!name.endsWith('.ak-tmp')) continue;
    logger.debug(`[Recover] removing stray temp ${name}`);
    at('unlink', path.join(root, name));
    await ignoreErrno(fs.unlink(path.join(root, name)), 'ENOENT');
  }
  const stateDir = path.join(root, STATE_DIR);
  for (const name of listDir(stateDir)) {
    if (!name.endsWith('.ak-tmp')) continue;
    const file = path.join(stateDir, name);
    if (!WRITER_TEMPS.some((prefix) => name.startsWith(prefix)) && !isAbandonedTemp(file)) continue;
    logger.debug(`[Recover] removing stray temp ${STATE_DIR}/${name}`);
    at('unlink', file);
    await ignoreErrno(fs.unlink(file), 'ENOENT');
  }
}

async function fsyncDirs(fs: Fs, dirs: string[], at: (op: string, target: string) => void): Promise<void> {
  for (const dir of new Set(dirs)) {
    // A folder removed by a later change has nothing left to sync; its parent is in the list.
    if (!exists(dir)) continue;
    at('fsync', dir);
    await fs.fsync(dir);
  }
}

function targetPath(root: string, rel: string): string {
  return path.join(root, ...rel.split('/'));
}

function isStagedFile(target: string, stagedIno: number | undefined): boolean {
  try {
    const st = fsSync.lstatSync(fsPath(target));
    return stagedIno !== undefined && !st.isDirectory() && st.ino === stagedIno;
  } catch {
    return false;
  }
}

function isRealDir(target: string): boolean {
  try {
    return fsSync.lstatSync(fsPath(target)).isDirectory();
  } catch {
    return false;
  }
}

function lstatQuietly(file: string): fsSync.Stats | undefined {
  try {
    return fsSync.lstatSync(fsPath(file));
  } catch {
    return undefined;
  }
}

function exists(file: string): boolean {
  try {
    fsSync.lstatSync(fsPath(file));
    return true;
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  try {
    return fsSync.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function readJournalQuietly(root: string): Journal | undefined {
  try {
    return readJournal(root);
  } catch {
    return undefined;
  }
}

async function ignoreErrno(work: Promise<void>, ...codes: string[]): Promise<void> {
  try {
    await work;
  } catch (err) {
    if (!isErrno(err, ...codes)) throw err;
  }
}

async function guard<T>(op: string, target: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toCoreError(err, { op, path: target });
  }
}

function toCoreError(err: unknown, step: { op: string; path: string }): CoreError {
  return isCoreError(err) ? err : ioFailure(step.op, step.path, err);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
