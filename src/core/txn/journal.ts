/**
 * The transaction journal, `.artifact-keeper/journal.json`, and the layout of a transaction's work area
 * (`.artifact-keeper/txn/<txId>/stage|backup/<n>`). The journal is only ever replaced atomically, so a
 * reader sees a whole journal or none; while it exists the collection is `interrupted`.
 */
import * as fsSync from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { isErrno, writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import type { ProjectChange, RecordedApproval } from '../store/history.js';

export const JOURNAL_FILE = 'journal.json';
export const TXN_DIR = 'txn';
export const JOURNAL_VERSION = 1;

/**
 * `applying`: renames may be under way; whether the commit point was passed is read off the disk.
 * `rolling-back`: undo decided (and perhaps partly done); recovery finishes it.
 * `committed`: the new state is final; only cleanup and history may be missing.
 */
export type JournalState = 'applying' | 'rolling-back' | 'committed';

/**
 * One step of a transaction. `rel` is inside the collection, or, with `root`, inside `roots[root]` of the
 * journal: another folder the same transaction changes (the target of a symlinked `collection.toml` or
 * `collection.lock`; a project's profile root).
 */
export type JournalOp = (
  | {
      kind: 'write';
      /**
       * `existed`: the target was there before, so it was (or will be) moved to `backup/<n>` first.
       * `stagedIno`: the inode of `stage/<n>`, which a rename keeps: undo removes a target only if it is
       * still that very file, so a repeated undo never removes what an earlier undo step put back.
       * `commit`: this write is the commit point (the lock's, written through its symlink); without it,
       * the last write of `collection.lock` in the collection is.
       */
      rel: string;
      n: number;
      existed: boolean;
      stagedIno?: number;
      commit?: boolean;
    }
  | { kind: 'delete'; rel: string; n: number }
  /** `existed`: the folder was already there, so undo must not remove it. */
  | { kind: 'mkdir'; rel: string; n: number; existed: boolean }
  | { kind: 'rmdir'; rel: string; n: number }
) & { root?: number };

export interface Journal {
  version: number;
  txId: string;
  kind: string;
  description: string;
  artifacts: string[];
  preSnapshot?: string;
  tool: string;
  pid: number;
  started: string;
  state: JournalState;
  ops: JournalOp[];
  /** Approvals of executable changes, carried into the history entry. */
  approvals?: RecordedApproval[];
  /** The project a deploy, undeploy or pull changes, carried into the history entry. */
  project?: ProjectChange;
  /** Absolute real paths of the other folders the ops change (`JournalOp.root`), on the collection's file system. */
  roots?: string[];
}

export function journalPath(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, JOURNAL_FILE);
}

export function txnRoot(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, TXN_DIR);
}

export interface TxnPaths {
  dir: string;
  stageDir: string;
  backupDir: string;
  stage(n: number): string;
  backup(n: number): string;
}

/** Inside `.artifact-keeper/`: the same file system as the collection (renames stay atomic) and out of readers' sight. */
export function txnPaths(collectionDir: string, txId: string): TxnPaths {
  const dir = path.join(txnRoot(collectionDir), txId);
  const stageDir = path.join(dir, 'stage');
  const backupDir = path.join(dir, 'backup');
  return {
    dir,
    stageDir,
    backupDir,
    stage: (n) => path.join(stageDir, String(n)),
    backup: (n) => path.join(backupDir, String(n)),
  };
}

/** Replaces the journal atomically (temp, fsync, rename, fsync of `.artifact-keeper/`). */
export async function writeJournal(fs: Fs, collectionDir: string, journal: Journal): Promise<void> {
  await writeFileAtomic(fs, journalPath(collectionDir), `${JSON.stringify(journal, null, 2)}\n`);
}

/** Whether an interrupted (or running) transaction left its journal. Never blocks, never writes. */
export function hasJournal(collectionDir: string): boolean {
  return fsSync.existsSync(journalPath(collectionDir));
}

/**
 * The journal, or undefined when there is none. Throws CoreError `interrupted` when a journal exists
 * but cannot be understood: recovery then refuses to guess, and a person has to look.
 */
export function readJournal(collectionDir: string): Journal | undefined {
  const file = journalPath(collectionDir);
  let text: string;
  try {
    text = fsSync.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw ioFailure('read', file, err);
  }
  try {
    return parseJournal(text);
  } catch (err) {
    throw new CoreError({ code: 'interrupted', journal: file }, { cause: err });
  }
}

function parseJournal(text: string): Journal {
  const value = JSON.parse(text) as Journal;
  if (value.version !== JOURNAL_VERSION) throw new Error(`unknown journal version ${String(value.version)}`);
  if (typeof value.txId !== 'string' || !/^[a-z0-9]+$/.test(value.txId)) throw new Error('bad txId');
  if (!['applying', 'rolling-back', 'committed'].includes(value.state)) throw new Error('bad state');
  if (!Array.isArray(value.ops)) throw new Error('bad ops');
  const roots = value.roots ?? [];
  if (!Array.isArray(roots) || roots.some((r) => typeof r !== 'string' || !path.isAbsolute(r)))
    throw new Error('bad roots');
  for (const op of value.ops) {
    if (!['write', 'delete', 'mkdir', 'rmdir'].includes(op.kind) || typeof op.rel !== 'string') {
      throw new Error(`bad op ${JSON.stringify(op)}`);
    }
    if (typeof op.n !== 'number' || unsafeRelReason(op.rel)) throw new Error(`bad op ${JSON.stringify(op)}`);
    if (op.root !== undefined && (!Number.isInteger(op.root) || roots[op.root] === undefined))
      throw new Error(`bad op ${JSON.stringify(op)}`);
  }
  return value;
}

/**
 * Why `rel` may not name a change target, or undefined when it may: POSIX, relative, no `.`/`..`/empty
 * segments, and never inside our own state folder. Checked before applying and again when a journal
 * is read back, so a tampered journal cannot make recovery rename files outside the collection.
 */
export function unsafeRelReason(rel: string): string | undefined {
  // A backslash is a separator only on Windows; elsewhere it is an ordinary character of a file name.
  const backslash = process.platform === 'win32' && rel.includes('\\');
  if (rel === '' || rel.startsWith('/') || backslash || rel.includes('\0'))
    return 'is not a relative POSIX path';
  const segments = rel.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'has an empty, "." or ".." segment';
  }
  if (segments[0] === STATE_DIR) return `is inside ${STATE_DIR}/`;
  return undefined;
}
