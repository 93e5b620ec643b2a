/**
 * Undoing a transaction's ops, newest first, from what the disk shows: backups renamed back, staged files
 * (known by inode) and the folders they leave removed, and room made for every backup whatever type
 * changes happened, moving aside (never deleting) anything the transaction did not write.
 */
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import type { Clock } from '../base/time.js';
import { isErrno } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import type { JournalOp, TxnPaths } from './journal.js';
import {
  exists,
  isRealDir,
  isStagedFile,
  lstatQuietly,
  listDir,
  ignoreErrno,
  guard,
  toCoreError,
} from './diskState.js';
import { targetPath, fsyncDirs } from './ops.js';
/** What the undo and the finishing steps work with: the collection's root and the operation's ports. */
export interface Engine {
  fs: Fs;
  root: string;
  logger: Logger;
  clock: Clock;
}

/**
 * Undoes `ops` (given newest first). Each step looks at the disk rather than trusting memory, so it is
 * safe to repeat after a crash at any point, including a crash inside an earlier undo. Throws CoreError.
 */
export async function undoOps(
  engine: Engine,
  paths: TxnPaths,
  ops: JournalOp[],
  roots: readonly string[] = [],
): Promise<void> {
  const { fs, root, logger } = engine;
  const touchedDirs = new Set<string>();
  const step = (op: string, target: string, work: () => Promise<void>): Promise<void> =>
    guard(op, target, work);
  const aside = path.join(root, STATE_DIR, 'displaced', path.basename(paths.dir));
  const room: Room = { ...engine, ours: stagedInodes(ops), aside };
  for (const op of ops) {
    const base = op.root === undefined ? root : (roots[op.root] ?? root);
    const target = targetPath(base, op.rel);
    touchedDirs.add(path.dirname(target));
    switch (op.kind) {
      case 'write':
      case 'delete':
        if (exists(paths.backup(op.n))) {
          await makeRoom(room, base, op.rel, step);
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

export interface Room extends Engine {
  /** Inodes of this transaction's staged files: what it may remove again. */
  ours: Set<number>;
  /** Where anything else in the way is moved to: `.artifact-keeper/displaced/<txId>/`, outside the work area, which goes. */
  aside: string;
}

export function stagedInodes(ops: JournalOp[]): Set<number> {
  const out = new Set<number>();
  for (const op of ops) if (op.kind === 'write' && op.stagedIno !== undefined) out.add(op.stagedIno);
  return out;
}

/**
 * Makes `rel` (inside `base`: the collection or another root of the transaction) free for a backup to be put back, whatever type changes the transaction made there (a
 * symlinked folder replaced by a real one, a file by a folder, or the other way round): every ancestor
 * must be a real folder (a missing one is made; a symlink or file in the way is moved off, so nothing
 * is ever followed out of the collection), and a folder at `rel` loses what the transaction put in it
 * (its staged files, by inode, and folders left empty). Anything else in the way, which only another
 * program can have written, is moved to `.artifact-keeper/displaced/<txId>/` and named in a warning; it
 * is never deleted. Looks at the disk each time, so a repeated or interrupted undo converges.
 */
export async function makeRoom(
  room: Room,
  base: string,
  rel: string,
  step: (op: string, target: string, work: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const segments = rel.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    const ancestor = targetPath(base, segments.slice(0, depth).join('/'));
    const st = lstatQuietly(ancestor);
    if (st?.isDirectory()) continue;
    if (st) await moveOff(room, base, ancestor, step);
    await step('mkdir', ancestor, () => room.fs.mkdir(ancestor));
  }
  const target = targetPath(base, rel);
  if (!lstatQuietly(target)?.isDirectory()) return;
  await clearOurs(room, target, step);
  if (lstatQuietly(target)) await moveOff(room, base, target, step);
}

/** Removes this transaction's staged files and the folders they leave empty, bottom up, from `dir`. */
export async function clearOurs(
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
export async function moveOff(
  room: Room,
  base: string,
  target: string,
  step: (op: string, target: string, work: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const st = lstatQuietly(target);
  if (!st) return;
  if (!st.isDirectory() && room.ours.has(st.ino)) {
    await step('unlink', target, () => ignoreErrno(room.fs.unlink(target), 'ENOENT'));
    return;
  }
  const rel = path.relative(base, target).split(path.sep).join('/');
  // The machine's clock, not the operation's: the stamp only keeps two displacements of one path apart,
  // which a pinned clock would not.
  const aside = path.join(room.aside, `${Date.now().toString(36)}-${rel.replaceAll('/', '%')}`);
  room.logger.warn(`[Txn] undo moves ${rel} out of the way, to ${aside}: this transaction did not write it`);
  await step('mkdir', room.aside, () => room.fs.mkdir(room.aside));
  await step('rename', aside, () => room.fs.rename(target, aside));
}
