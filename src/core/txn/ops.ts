/**
 * The transaction's operations: a change set checked against the disk and turned into journal ops (what each
 * path holds as the earlier changes leave it, never looked up through a symlink), one op applied, folders
 * synced. Pure of policy: the engine in `transaction.ts` decides the order and the commit point.
 */
import * as fsSync from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';
import { isErrno } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { unsafeRelReason } from './journal.js';
import type { JournalOp, TxnPaths } from './journal.js';
import { LOCK_FILE } from '../model/lock.js';
import { exists } from './diskState.js';
// ---------------------------------------------------------------------------------------------------------

/**
 * Validates the changes against the disk before any IO, and works out which targets already exist (as
 * each earlier change leaves them). A malformed spec throws Error; a disk that no longer matches the
 * plan throws `plan-stale`. Every ancestor of a target must be a real folder, so no rename can leave the
 * collection through a symlinked folder.
 */
export function planOps(root: string, changes: FileChange[]): JournalOp[] {
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

export function findLockOp(ops: JournalOp[]): (JournalOp & { kind: 'write' }) | undefined {
  const last = ops[ops.length - 1];
  return last?.kind === 'write' && last.rel === LOCK_FILE ? last : undefined;
}

export async function applyOp(
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

export async function fsyncDirs(
  fs: Fs,
  dirs: string[],
  at: (op: string, target: string) => void,
): Promise<void> {
  for (const dir of new Set(dirs)) {
    // A folder removed by a later change has nothing left to sync; its parent is in the list.
    if (!exists(dir)) continue;
    at('fsync', dir);
    await fs.fsync(dir);
  }
}

export function targetPath(root: string, rel: string): string {
  return path.join(root, ...rel.split('/'));
}
