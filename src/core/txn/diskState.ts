/**
 * What the engine asks the disk, always afresh (lstat, never following a link), and the small error
 * helpers its steps share: an IO step wrapped as CoreError `io-failed` naming the operation and path.
 */
import * as fsSync from 'node:fs';
import { ioFailure, isCoreError } from '../base/errors.js';
import type { CoreError } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';
import { isErrno } from '../ports/fs.js';
import { readJournal } from './journal.js';
import type { Journal } from './journal.js';

export function isStagedFile(target: string, stagedIno: number | undefined): boolean {
  try {
    const st = fsSync.lstatSync(fsPath(target));
    return stagedIno !== undefined && !st.isDirectory() && st.ino === stagedIno;
  } catch {
    return false;
  }
}

export function isRealDir(target: string): boolean {
  try {
    return fsSync.lstatSync(fsPath(target)).isDirectory();
  } catch {
    return false;
  }
}

export function lstatQuietly(file: string): fsSync.Stats | undefined {
  try {
    return fsSync.lstatSync(fsPath(file));
  } catch {
    return undefined;
  }
}

export function exists(file: string): boolean {
  try {
    fsSync.lstatSync(fsPath(file));
    return true;
  } catch {
    return false;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fsSync.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function readJournalQuietly(root: string): Journal | undefined {
  try {
    return readJournal(root);
  } catch {
    return undefined;
  }
}

export async function ignoreErrno(work: Promise<void>, ...codes: string[]): Promise<void> {
  try {
    await work;
  } catch (err) {
    if (!isErrno(err, ...codes)) throw err;
  }
}

export async function guard<T>(op: string, target: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toCoreError(err, { op, path: target });
  }
}

export function toCoreError(err: unknown, step: { op: string; path: string }): CoreError {
  return isCoreError(err) ? err : ioFailure(step.op, step.path, err);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
