/**
 * Recovery (DESIGN §5 step 9): a journal found at start-up is undone, or finished past its commit point;
 * then leftovers no journal names go. Also the steps after a commit (history, work area), shared with a
 * live transaction. Idempotent: killed halfway and run again, it converges.
 */
import * as path from 'node:path';
import { silentLogger, STATE_DIR } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import { systemClock } from '../base/time.js';
import type { Clock } from '../base/time.js';
import { nodeFs } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { appendHistory, HISTORY_FILE } from '../store/history.js';
import type { HistoryOutcome } from '../store/history.js';
import { JOURNAL_FILE, journalPath, readJournal, txnPaths, txnRoot, writeJournal } from './journal.js';
import type { Journal, TxnPaths } from './journal.js';
import { isAbandonedTemp } from '../ports/tempSpace.js';
import {
  exists,
  listDir,
  readJournalQuietly,
  ignoreErrno,
  guard,
  toCoreError,
  messageOf,
} from './diskState.js';
import { opTarget, findLockOp } from './ops.js';
import { undoOps } from './undo.js';
import type { Engine } from './undo.js';
export type RecoveryOutcome = 'none' | 'rolled-back' | 'rolled-forward';

/** The ports recovery works through (a transaction's options, less its cancel signal). */
export interface RecoveryOptions {
  fs?: Fs;
  logger?: Logger;
  /** The times written into the history (default: the system clock). */
  clock?: Clock;
}

/**
 * Finishes an interrupted transaction, if a journal says there is one, then removes leftovers that no
 * journal names (`txn/*` folders, `*.ak-tmp` files). The caller holds the writer lock. Idempotent: run
 * twice, or killed halfway and run again, it converges on the same state. Throws `io-failed` (the journal
 * stays for the next attempt) or `interrupted` (a journal it cannot read).
 */
export async function recoverJournal(
  collectionDir: string,
  options: RecoveryOptions = {},
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
      await undoOps({ fs, root, logger, clock }, paths, [...journal.ops].reverse(), journal.roots);
      await guard('remove', paths.dir, () => removeWorkArea(fs, root, paths.dir, true));
      outcome = 'rolled-back';
    }
  }
  await removeStrays(fs, root, logger);
  return outcome;
}

/**
 * After the commit point: sync the lock's folder, mark the journal committed, record history, remove the
 * journal and the work area. Stops at the first failure and returns it (logged); nothing here may fail
 * the transaction, which has already happened, and recovery repeats whatever is missing.
 */
export async function finishCommit(
  engine: Engine,
  journal: Journal,
  paths: TxnPaths,
  outcome: HistoryOutcome,
): Promise<unknown> {
  const { fs, root, logger } = engine;
  const tag = `[Txn] ${journal.txId}`;
  try {
    // Until this sync the commit rename itself may not survive a power loss.
    const lockOp = findLockOp(journal.ops);
    if (lockOp) await fs.fsync(path.dirname(opTarget(root, journal.roots, lockOp)));
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
        ...(journal.approvals ? { approvals: journal.approvals } : {}),
        ...(journal.project ? { project: journal.project } : {}),
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
export async function removeWorkArea(
  fs: Fs,
  root: string,
  txnDir: string,
  journalMayExist: boolean,
): Promise<void> {
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
export function passedCommitPoint(root: string, journal: Journal, paths: TxnPaths): boolean {
  if (journal.state === 'committed') return true;
  if (journal.state === 'rolling-back') return false;
  const lockOp = findLockOp(journal.ops);
  if (!lockOp) return false;
  return !exists(paths.stage(lockOp.n)) && exists(opTarget(root, journal.roots, lockOp));
}

/** Only the writer writes these, and recovery runs as the writer: their temps are always leftovers. */
export const WRITER_TEMPS = [`.${JOURNAL_FILE}.`, `.${HISTORY_FILE}.`, '.approvals.json.'];

/**
 * Removes `txn/*` folders no journal names and `*.ak-tmp` leftovers in the collection root (only the writer
 * writes there) and in `.artifact-keeper/`, where readers may be writing their cache right now: there only
 * writer-owned temps, temps of dead processes and old temps go.
 */
export async function removeStrays(fs: Fs, root: string, logger: Logger): Promise<void> {
  let current = { op: 'rm', path: txnRoot(root) };
  try {
    await removeStrayFiles(fs, root, logger, (op, target) => {
      current = { op, path: target };
    });
  } catch (err) {
    throw toCoreError(err, current);
  }
}

export async function removeStrayFiles(
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
