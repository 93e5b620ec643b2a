/**
 * SkillMeat's lock content hash (format doc §2.1), byte for byte: SHA-256 of a file's bytes, or for
 * a folder of every regular file in Python path order, its relative POSIX path (UTF-8) then its bytes,
 * fed to one hasher with nothing between. Files are read in fixed-size chunks, never whole.
 *
 * The hash we write and compare (`contentHash`) runs that algorithm over a folder's files minus noise
 * (base/noise.ts), so it equals SkillMeat's whenever there is no noise; `skillMeatHash` runs it over
 * every file, as SkillMeat does, so a SkillMeat lock that hashed a `.DS_Store` can still be recognised.
 *
 * A path that is not UTF-8 is hashed as its raw bytes (`os.fsencode`), in the order of its `os.fsdecode`
 * string. SkillMeat itself cannot hash such a folder (`str.encode('utf-8')` raises on the escaped bytes),
 * so no SkillMeat lock matches it and the artifact reads `modified`; a lock we write matches it exactly.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath, isRawName, nameBytes } from '../base/fileNames.js';
import { isNoiseName, isNoisePath } from '../base/noise.js';
import { walkSync } from '../ports/walk.js';
import type { WalkedFile } from '../ports/walk.js';

const CHUNK = 1 << 20;
let sharedBuffer: Buffer | undefined;

/** Feeds a file's bytes into `hash` in 1 MiB chunks. */
export function hashFileInto(hash: Hash, file: string): void {
  sharedBuffer ??= Buffer.allocUnsafe(CHUNK);
  const fd = fs.openSync(fsPath(file), 'r');
  try {
    for (;;) {
      const n = fs.readSync(fd, sharedBuffer, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(n === CHUNK ? sharedBuffer : sharedBuffer.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
}

export function hashFile(file: string): string {
  const hash = createHash('sha256');
  hashFileInto(hash, file);
  return hash.digest('hex');
}

/** The hash of a folder given its walked file list (already in Python order). */
export function hashFolderFiles(root: string, files: readonly WalkedFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    updateWithPath(hash, file.rel);
    hashFileInto(hash, path.join(root, file.rel));
  }
  return hash.digest('hex');
}

/**
 * The content hash we lock for an artifact at `target`: a file's bytes, or §2.1 over a folder's files
 * without noise (never entering `.git` or `__pycache__`). Throws ENOENT when absent.
 */
export function contentHash(target: string): string {
  const st = fs.statSync(fsPath(target));
  if (st.isDirectory()) return hashFolderFiles(target, walkSync(target, { skipName: isNoiseName }).files);
  return hashFile(target);
}

/** SkillMeat's own hash of `target` (§2.1 over every file, noise included). Throws ENOENT when absent. */
export function skillMeatHash(target: string): string {
  const st = fs.statSync(fsPath(target));
  if (st.isDirectory()) return hashFolderFiles(target, walkSync(target).files);
  return hashFile(target);
}

/** A folder's walked files without noise: what `contentHash` hashes. */
export function contentFiles<T extends { rel: string }>(files: readonly T[]): T[] {
  return files.filter((file) => !isNoisePath(file.rel));
}

/** The same hash over in-memory content, for staged trees: `files` maps POSIX rel path → bytes. */
export function contentHashOfEntries(
  files: ReadonlyMap<string, Uint8Array>,
  compare: (a: string, b: string) => number,
): string {
  const hash = createHash('sha256');
  for (const rel of [...files.keys()].sort(compare)) {
    updateWithPath(hash, rel);
    hash.update(files.get(rel) as Uint8Array);
  }
  return hash.digest('hex');
}

/** Feeds a relative path into `hash` as SkillMeat does (UTF-8), raw bytes as themselves. */
export function updateWithPath(hash: Hash, rel: string): void {
  if (isRawName(rel)) hash.update(nameBytes(rel));
  else hash.update(rel, 'utf8');
}
