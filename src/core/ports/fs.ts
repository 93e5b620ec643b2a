/**
 * The file-system port. Every mutation of a collection goes through an `Fs`, so tests (and the
 * crash/fault campaign) can make any named step fail. Reads that only inspect (status, hashing)
 * use node:fs directly: they never change anything and never need undoing.
 */
import * as nodeFsPromises from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsPath } from '../base/fileNames.js';

export type FsOp =
  | 'writeFile'
  | 'appendFile'
  | 'copyFile'
  | 'fsync'
  | 'rename'
  | 'unlink'
  | 'mkdir'
  | 'rmdir'
  | 'rm'
  | 'symlink'
  | 'chmod'
  | 'readFile';

export interface Fs {
  readFile(file: string): Promise<Buffer>;
  /** Creates or truncates `file` and writes `data`; does not fsync. */
  writeFile(file: string, data: Uint8Array | string, mode?: number): Promise<void>;
  /** Adds `data` at the end of `file` (opened to append, created if missing); does not fsync. */
  appendFile(file: string, data: Uint8Array | string): Promise<void>;
  /**
   * Creates or truncates `to` with the bytes of `from`, copied by the kernel (or cloned) without passing
   * through memory: how a large file is staged. Does not fsync.
   */
  copyFile(from: string, to: string, mode: number): Promise<void>;
  /** fsync of a file or a directory. */
  fsync(target: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Recursive; succeeds when the folder exists. */
  mkdir(dir: string): Promise<void>;
  /** Removes an empty folder. */
  rmdir(dir: string): Promise<void>;
  /** Recursive, forced removal: only for our own temp and state folders. */
  rm(target: string): Promise<void>;
  symlink(target: string, file: string): Promise<void>;
  chmod(file: string, mode: number): Promise<void>;
}

/** Paths may hold bytes that are not UTF-8, in the escaped form of fileNames.ts: `fsPath` restores them. */
export const nodeFs: Fs = {
  readFile: (file) => nodeFsPromises.readFile(fsPath(file)),
  async writeFile(file, data, mode) {
    await nodeFsPromises.writeFile(fsPath(file), data, mode === undefined ? {} : { mode });
    // writeFile's mode is filtered by the umask; an executable bit from a snapshot must survive it.
    if (mode !== undefined) await nodeFsPromises.chmod(fsPath(file), mode);
  },
  appendFile: (file, data) => nodeFsPromises.appendFile(fsPath(file), data),
  async copyFile(from, to, mode) {
    await nodeFsPromises.copyFile(fsPath(from), fsPath(to), nodeFsPromises.constants.COPYFILE_FICLONE);
    // The copy keeps the source's permission bits; the mode is the change's.
    await nodeFsPromises.chmod(fsPath(to), mode);
  },
  async fsync(target) {
    const handle = await nodeFsPromises.open(fsPath(target), 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  rename: (from, to) => nodeFsPromises.rename(fsPath(from), fsPath(to)),
  unlink: (file) => nodeFsPromises.unlink(fsPath(file)),
  mkdir: async (dir) => {
    await nodeFsPromises.mkdir(fsPath(dir), { recursive: true });
  },
  rmdir: (dir) => nodeFsPromises.rmdir(fsPath(dir)),
  rm: (target) => nodeFsPromises.rm(fsPath(target), { recursive: true, force: true }),
  symlink: (target, file) => nodeFsPromises.symlink(fsPath(target), fsPath(file)),
  chmod: (file, mode) => nodeFsPromises.chmod(fsPath(file), mode),
};

/**
 * Writes `file` atomically: a temp file in the same folder, fsync, rename over the target, fsync the
 * folder. A reader sees the old bytes or the new bytes, never a mix; a crash leaves at most the temp.
 */
export function writeFileAtomic(
  fs: Fs,
  file: string,
  data: Uint8Array | string,
  mode?: number,
): Promise<void> {
  return replaceThroughTemp(fs, file, data, mode, true);
}

/**
 * Replaces `file` as writeFileAtomic does (a temp beside it, renamed over it) but without the two
 * fsyncs: for derived data only, which a reader checks and can always rebuild. A crash of the process
 * leaves the old or the new file; a power cut may leave the new one empty or cut short, which for a JSON
 * cache entry does not parse and reads as a miss.
 */
export function replaceDerivedFile(fs: Fs, file: string, data: Uint8Array | string): Promise<void> {
  return replaceThroughTemp(fs, file, data, undefined, false);
}

async function replaceThroughTemp(
  fs: Fs,
  file: string,
  data: Uint8Array | string,
  mode: number | undefined,
  durable: boolean,
): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, atomicTempName(path.basename(file)));
  try {
    await fs.writeFile(temp, data, mode);
    if (durable) await fs.fsync(temp);
    await fs.rename(temp, file);
  } catch (err) {
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
  if (durable) await fs.fsync(dir);
}

/**
 * The temp name writeFileAtomic writes `name` through: `.<name>.<pid>.<8 hex>.ak-tmp`. Hidden, so a
 * walk skips it; carrying the writer's pid, so a sweep can tell a temp still being written by a live
 * process (a reader saving its cache) from one a dead process left (see `atomicTempOwner`).
 */
export function atomicTempName(name: string): string {
  return `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.ak-tmp`;
}

/** The pid in a temp name of writeFileAtomic (`atomicTempName`), or undefined for any other name. */
export function atomicTempOwner(name: string): number | undefined {
  const match = ATOMIC_TEMP.exec(name);
  const pid = Number(match?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

const ATOMIC_TEMP = /^\..+\.(\d+)\.[0-9a-z]+\.ak-tmp$/;

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
