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
import { LINKED_DOCUMENTS, LOCK_FILE } from '../model/lock.js';
import { exists } from './diskState.js';
// ---------------------------------------------------------------------------------------------------------

/** What `planOps` makes of a change list: the journal's ops and the other folders they change. */
export interface PlannedOps {
  ops: JournalOp[];
  /** `JournalOp.root` indexes this list. */
  roots: string[];
}

/**
 * Validates the changes against the disk before any IO, and works out which targets already exist (as
 * each earlier change leaves them). A malformed spec throws Error; a disk that no longer matches the
 * plan throws `plan-stale`. Every ancestor of a target must be a real folder, so no rename can leave the
 * collection through a symlinked folder.
 *
 * A write of `collection.toml` or `collection.lock` where that file is a symlink (dotfiles setups) goes
 * through the link: the op targets the link's final target, in a root of its own, and the link stays.
 * A change with `root` targets that folder instead of the collection. Every other root must be a real
 * path outside the collection on the collection's file system (renames stay atomic): else `io-failed`
 * EXDEV naming it, before anything is written.
 */
export function planOps(root: string, changes: FileChange[]): PlannedOps {
  type Kind = 'file' | 'dir' | 'none';
  const roots: string[] = [];
  const baseOf = (ri: number | undefined): string => (ri === undefined ? root : (roots[ri] as string));
  const rootIndex = (dir: string, why: string): number => {
    const known = roots.indexOf(dir);
    if (known >= 0) return known;
    checkOtherRoot(root, dir, why);
    roots.push(dir);
    return roots.length - 1;
  };
  // What each path holds as the earlier changes leave it, keyed by root and rel. A symlink counts as a
  // file (even one to a folder), and nothing is ever looked up through it: below a path that is not a
  // real folder in this view, or below a folder the plan itself creates, there is nothing yet. (Asking
  // the disk there would see through a symlinked artifact folder that an earlier change replaces by a
  // real one.)
  const view = new Map<string, Kind>();
  const created = new Set<string>();
  const keyOf = (ri: number | undefined, rel: string): string => `${ri ?? ''}\0${rel}`;
  const kindOf = (ri: number | undefined, rel: string): Kind => {
    const key = keyOf(ri, rel);
    const known = view.get(key);
    if (known) return known;
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : undefined;
    let kind: Kind = 'none';
    if (parent === undefined || (kindOf(ri, parent) === 'dir' && !created.has(keyOf(ri, parent)))) {
      const target = targetPath(baseOf(ri), rel);
      try {
        kind = fsSync.lstatSync(fsPath(target)).isDirectory() ? 'dir' : 'file';
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw ioFailure('stat', target, err);
      }
    }
    view.set(key, kind);
    return kind;
  };
  /** Records `rel`'s new kind; whatever was known below it is gone with it. */
  const becomes = (ri: number | undefined, rel: string, kind: Kind): void => {
    const key = keyOf(ri, rel);
    if (view.get(key) === 'dir' && kind !== 'dir') {
      for (const known of [...view.keys()]) if (known.startsWith(`${key}/`)) view.delete(known);
    }
    if (kind === 'dir' && view.get(key) !== 'dir') created.add(key);
    else if (kind !== 'dir') created.delete(key);
    view.set(key, kind);
  };
  const parentIsFolder = (ri: number | undefined, rel: string): boolean => {
    const segments = rel.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      if (kindOf(ri, segments.slice(0, depth).join('/')) !== 'dir') return false;
    }
    return true;
  };
  const stale = (rel: string, reason: string): CoreError =>
    new CoreError({ code: 'plan-stale', reason: `${rel}: ${reason}` });

  return {
    roots,
    ops: changes.map((change, n): JournalOp => {
      const unsafe = unsafeRelReason(change.rel);
      if (unsafe) throw new Error(`applyChanges: change ${n} "${change.rel}" ${unsafe}`);
      const isLock = change.rel === LOCK_FILE && change.root === undefined;
      if (isLock && (change.kind !== 'write' || n !== changes.length - 1)) {
        // Its rename is the commit point: anything after it could no longer be undone.
        throw new Error(`applyChanges: the write of ${LOCK_FILE} must be the last change`);
      }
      let ri = change.root === undefined ? undefined : rootIndex(path.resolve(change.root), change.root);
      let rel = change.rel;
      const through = ri === undefined && change.kind === 'write' ? writeThrough(root, change) : undefined;
      if (through) {
        ri = rootIndex(path.dirname(through), `${change.rel} links to ${through}`);
        rel = path.basename(through);
      }
      const at = ri === undefined ? {} : { root: ri };
      if (!parentIsFolder(ri, rel)) throw stale(rel, 'its folder does not exist');
      const current = kindOf(ri, rel);
      switch (change.kind) {
        case 'write':
          if (current === 'dir') throw stale(change.rel, 'is a folder, not a file');
          becomes(ri, rel, 'file');
          return {
            kind: 'write',
            rel,
            n,
            existed: current === 'file',
            ...at,
            ...(isLock && through ? { commit: true } : {}),
          };
        case 'delete':
          if (current !== 'file')
            throw stale(rel, current === 'dir' ? 'is a folder, not a file' : 'does not exist');
          becomes(ri, rel, 'none');
          return { kind: 'delete', rel, n, ...at };
        case 'mkdir':
          if (current === 'file') throw stale(rel, 'is a file, not a folder');
          becomes(ri, rel, 'dir');
          return { kind: 'mkdir', rel, n, existed: current === 'dir', ...at };
        case 'rmdir':
          if (current !== 'dir') throw stale(rel, 'is not a folder');
          becomes(ri, rel, 'none');
          return { kind: 'rmdir', rel, n, ...at };
      }
    }),
  };
}

/**
 * The real path a write of `collection.toml` or `collection.lock` must go to when that file is a
 * symlink, or undefined when it is not one (or the write is itself a symlink). A dangling link is
 * written through to where it points, which must be in an existing folder.
 */
function writeThrough(root: string, change: FileChange & { kind: 'write' }): string | undefined {
  if (!LINKED_DOCUMENTS.has(change.rel) || change.symlinkTarget !== undefined) return undefined;
  const link = targetPath(root, change.rel);
  let st: fsSync.Stats;
  try {
    st = fsSync.lstatSync(link);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw ioFailure('stat', link, err);
  }
  if (!st.isSymbolicLink()) return undefined;
  let target: string;
  try {
    target = fsSync.realpathSync(link);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw ioFailure('stat', link, err);
    // Dangling: the file it names is created, in the real folder of that name.
    const named = path.resolve(root, fsSync.readlinkSync(link));
    target = path.join(realFolder(path.dirname(named), link), path.basename(named));
  }
  if (fsSync.existsSync(target) && !fsSync.statSync(target).isFile()) {
    throw new CoreError({
      code: 'plan-stale',
      reason: `${change.rel} links to ${target}, which is not a file`,
    });
  }
  return target;
}

function realFolder(dir: string, link: string): string {
  try {
    return fsSync.realpathSync(dir);
  } catch (err) {
    throw ioFailure('stat', link, err);
  }
}

/**
 * Checks another folder a transaction changes: a real path (no symlink on the way), outside the
 * collection, and on the collection's file system, so a rename into it stays atomic and a rename out of
 * it into the work area is possible. Throws `io-failed` (EXDEV for another file system).
 */
function checkOtherRoot(root: string, dir: string, why: string): void {
  let real: string;
  let dev: number;
  try {
    real = fsSync.realpathSync(dir);
    dev = fsSync.statSync(real).dev;
  } catch (err) {
    throw ioFailure('stat', dir, err);
  }
  if (real !== dir) throw new Error(`applyChanges: ${dir} is not a real path (${real}); ${why}`);
  if (real === root || real.startsWith(`${root}${path.sep}`)) {
    throw new CoreError({ code: 'plan-stale', reason: `${why}: a folder inside the collection itself` });
  }
  if (dev !== fsSync.statSync(root).dev) {
    const err = Object.assign(new Error(`${why}: it is on another file system than the collection`), {
      code: 'EXDEV',
    });
    throw ioFailure('rename', dir, err);
  }
}

export function findLockOp(ops: JournalOp[]): (JournalOp & { kind: 'write' }) | undefined {
  const last = ops[ops.length - 1];
  if (last?.kind !== 'write') return undefined;
  return last.commit === true || (last.rel === LOCK_FILE && last.root === undefined) ? last : undefined;
}

/** The path an op changes: in the collection, or in the journal's other root it names. */
export function opTarget(root: string, roots: readonly string[] | undefined, op: JournalOp): string {
  return targetPath(op.root === undefined ? root : (roots?.[op.root] ?? root), op.rel);
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
