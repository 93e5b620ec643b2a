/**
 * Lists the files below a folder the way SkillMeat's hash sees them (Python `sorted(Path.rglob("*"))`
 * filtered by `is_file()`): hidden files count, symlinked folders are not entered, a symlink to a file
 * counts as that file, and the order compares path components by code point. A name that is not UTF-8
 * is listed in the lossless string form of fileNames.ts (Python's `os.fsdecode`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { codePointBytes, fsPath, readDirSync } from '../base/fileNames.js';

export interface WalkedFile {
  /** POSIX path relative to the walked root (raw bytes escaped, see fileNames.ts). */
  rel: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  isSymlink: boolean;
}

export interface WalkedDir {
  rel: string;
  mtimeMs: number;
  ino: number;
}

export interface WalkResult {
  files: WalkedFile[];
  /** Every folder below the root (not the root itself), including empty ones. */
  dirs: WalkedDir[];
  /** Entries left out by `skipName` (files, links and folders, not entered), in walk order. */
  skipped: string[];
}

export interface WalkOptions {
  /** Names skipped at any depth (e.g. `.git` for snapshots). */
  skipNames?: ReadonlySet<string>;
  /** Names skipped at any depth by a rule (noise); what it skips is listed in `skipped`. */
  skipName?: (name: string) => boolean;
  /** Relative paths skipped (e.g. `.artifact-keeper` at the collection root). */
  skipPaths?: ReadonlySet<string>;
  /** Keep symlinks as links (snapshots) instead of following links to files (hashing). */
  keepSymlinks?: boolean;
}

/** Synchronous on purpose: tens of thousands of lstat calls are several times faster this way. */
export function walkSync(root: string, options: WalkOptions = {}): WalkResult {
  const files: WalkedFile[] = [];
  const dirs: WalkedDir[] = [];
  const skipped: string[] = [];
  const visit = (absDir: string, relDir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = readDirSync(absDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const name = entry.name;
      if (options.skipNames?.has(name)) continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      if (options.skipPaths?.has(rel)) continue;
      if (options.skipName?.(name)) {
        skipped.push(rel);
        continue;
      }
      const abs = path.join(absDir, name);
      const target = fsPath(abs);
      if (entry.isDirectory()) {
        const st = fs.lstatSync(target);
        dirs.push({ rel, mtimeMs: st.mtimeMs, ino: st.ino });
        visit(abs, rel);
      } else if (entry.isFile()) {
        const st = fs.lstatSync(target);
        files.push(fileOf(rel, st, false));
      } else if (entry.isSymbolicLink()) {
        if (options.keepSymlinks) {
          files.push(fileOf(rel, fs.lstatSync(target), true));
          continue;
        }
        let linked: fs.Stats;
        try {
          linked = fs.statSync(target);
        } catch {
          continue; // a dangling link is not a file for Python's is_file()
        }
        if (linked.isFile()) files.push(fileOf(rel, linked, false));
      }
    }
  };
  visit(root, '');
  files.sort((a, b) => comparePaths(a.rel, b.rel));
  dirs.sort((a, b) => comparePaths(a.rel, b.rel));
  return { files, dirs, skipped };
}

function fileOf(rel: string, st: fs.Stats, isSymlink: boolean): WalkedFile {
  return {
    rel,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    mode: st.mode,
    isSymlink,
  };
}

/**
 * Python's PurePosixPath order: components compared one by one, each by code point. Joining with
 * U+0000 (lower than any character a name may hold) and comparing UTF-8 bytes gives exactly that; a
 * raw byte sorts as Python's `os.fsdecode` string does, as the code point U+DC80–U+DCFF.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(sortKey(a), sortKey(b));
}

const keyCache = new Map<string, Buffer>();
function sortKey(p: string): Buffer {
  let key = keyCache.get(p);
  if (!key) {
    key = codePointBytes(p.replaceAll('/', '\0'));
    if (keyCache.size > 200_000) keyCache.clear();
    keyCache.set(p, key);
  }
  return key;
}
