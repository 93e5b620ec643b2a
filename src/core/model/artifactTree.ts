/**
 * Reading an artifact's files into a `Tree` (what the planner compares) and turning a result tree into
 * the `FileChange`s that make the collection hold it. Noise (base/noise.ts: `.DS_Store`, swap files,
 * `.git`, `__pycache__`…) inside an artifact folder is never read, planned, hashed or touched: it stays
 * where it is, and so do the folders holding it. Names that are not UTF-8 (and symlink targets) are in
 * the lossless string form of fileNames.ts, so they read, compare, hash and write back byte for byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { createHash } from 'node:crypto';
import { decodeName, fsPath, nameBytes } from '../base/fileNames.js';
import { isNoiseName, isNoisePath } from '../base/noise.js';
import { updateWithPath } from './hash.js';
import {
  blobIdOf,
  DiskFile,
  diskTreeFile,
  hashBytesInto,
  LARGE_FILE_BYTES,
  sameBytes,
} from './largeFiles.js';
import { comparePaths, walkSync } from '../ports/walk.js';

export interface TreeFile {
  /** The bytes. A large file (`disk`) reads them at every access: prefer largeFiles.ts's helpers. */
  readonly data: Buffer;
  /** 0o644 or 0o755 for files; 0o120000 marks a symlink whose target is `data`. */
  mode: number;
  /** Set for a large file, whose bytes stay on disk (largeFiles.ts). */
  readonly disk?: DiskFile;
}

/** An artifact's files by POSIX path relative to the artifact (a single-file artifact: its file name). */
export type Tree = Map<string, TreeFile>;

export const SYMLINK_MODE = 0o120000;

/**
 * A folder's files without noise (or one file, keyed by its name, whatever its name) with modes; symlinks
 * kept as links. `keptDirs`: folders an update must not remove (empty ones, and those holding noise).
 */
export function readTree(target: string, isFolder: boolean): { tree: Tree; keptDirs: string[] } {
  const tree: Tree = new Map();
  if (!isFolder) {
    const st = fs.lstatSync(fsPath(target), { throwIfNoEntry: false });
    if (st) tree.set(path.basename(target), readEntry(target, st));
    return { tree, keptDirs: [] };
  }
  if (!fs.existsSync(fsPath(target))) return { tree, keptDirs: [] };
  const walked = walkSync(target, { skipName: isNoiseName, keepSymlinks: true });
  for (const file of walked.files) {
    const abs = path.join(target, file.rel);
    tree.set(file.rel, readEntry(abs, fs.lstatSync(fsPath(abs))));
  }
  const nonEmpty = new Set<string>();
  for (const rel of tree.keys()) for (const dir of ancestors(rel)) nonEmpty.add(dir);
  const emptyDirs = walked.dirs
    .map((d) => d.rel)
    .filter((rel) => !nonEmpty.has(rel) && !walked.dirs.some((o) => o.rel.startsWith(`${rel}/`)));
  // Noise stays where it is (a nested repository's .git, a .DS_Store), so the folders holding it do too.
  const keptDirs = new Set(emptyDirs);
  for (const rel of walked.skipped) for (const dir of ancestors(rel)) keptDirs.add(dir);
  return { tree, keptDirs: [...keptDirs] };
}

function readEntry(abs: string, st: fs.Stats): TreeFile {
  if (st.isSymbolicLink())
    return { data: fs.readlinkSync(fsPath(abs), { encoding: 'buffer' }), mode: SYMLINK_MODE };
  const mode = st.mode & 0o111 ? 0o755 : 0o644;
  if (st.size >= LARGE_FILE_BYTES) return diskTreeFile(new DiskFile(abs, st.size), mode);
  return { data: fs.readFileSync(fsPath(abs)), mode };
}

/** `a/b/c.md` → ['a', 'a/b']. */
export function ancestors(rel: string): string[] {
  const parts = rel.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** A digest of a tree (paths, modes, bytes) for plan fingerprints. */
export function treeDigest(tree: Tree | undefined): string {
  const hash = createHash('sha256');
  if (!tree) return 'none';
  for (const rel of [...tree.keys()].sort(comparePaths)) {
    const file = tree.get(rel) as TreeFile;
    hash.update(nameBytes(rel));
    // A large file by its blob id: its size already tells the two forms apart.
    if (file.disk) hash.update(`\0${file.mode}\0${file.disk.size}\0${blobIdOf(file)}`);
    else hash.update(`\0${file.mode}\0${file.data.length}\0`).update(file.data);
  }
  return hash.digest('hex');
}

/**
 * Finds, among trees already read, a file holding exactly the git blob `sha`, for the stored entry at
 * `rel` (`StoredTreeReading.reuse`): at `rel` in a folder artifact's trees, or a single-file artifact's
 * one file whatever its name (stored under upstream's name, read under the local one). Earlier trees
 * are asked first.
 */
export function heldFile(
  trees: readonly Tree[],
  isFolder: boolean,
): (rel: string, sha: string) => TreeFile | undefined {
  return (rel, sha) => {
    for (const tree of trees) {
      for (const file of isFolder ? [tree.get(rel)] : tree.values())
        if (file && blobIdOf(file) === sha) return file;
    }
    return undefined;
  };
}

/** A folder's tree without noise paths (a base stored before noise was left out, say). */
export function withoutNoise(tree: Tree): Tree {
  return new Map([...tree].filter(([rel]) => !isNoisePath(rel)));
}

/**
 * The content hash we lock for the artifact as it will be after the change (model/hash.ts
 * `contentHash`): the result files without noise in Python order, symlinks to files read through
 * (links to folders and dangling links skipped, as `is_file()` does). Noise left on disk never counts.
 */
export function resultHash(result: Tree, isFolder: boolean): string {
  const hash = createHash('sha256');
  if (!isFolder) {
    const only = [...result.values()][0];
    const target = only ? resolveLink(result, [...result.keys()][0] as string, only) : undefined;
    if (target) hashBytesInto(hash, target);
    return hash.digest('hex');
  }
  const entries = new Map<string, TreeFile>();
  for (const [rel, file] of result) {
    if (isNoisePath(rel)) continue;
    const target = resolveLink(result, rel, file);
    if (target) entries.set(rel, target);
  }
  for (const rel of [...entries.keys()].sort(comparePaths)) {
    updateWithPath(hash, rel);
    hashBytesInto(hash, entries.get(rel) as TreeFile);
  }
  return hash.digest('hex');
}

/** The file a result path holds: itself, or for a symlink the file it leads to within the result. */
function resolveLink(result: Tree, rel: string, file: TreeFile, depth = 0): TreeFile | undefined {
  if (file.mode !== SYMLINK_MODE) return file;
  if (depth > 20) return undefined;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), decodeName(file.data)));
  const next = result.get(target);
  return next ? resolveLink(result, target, next, depth + 1) : undefined;
}

/**
 * The changes that turn the artifact at `artifactRel` (collection-relative) from `before` into `after`:
 * deletions, then folders removed (deepest first), folders created (shallowest first), then writes.
 * Folders that held only files now deleted are removed; `keptDirs` (empty folders we found, folders
 * holding noise) stay.
 */
export function changesForArtifact(
  artifactRel: string,
  isFolder: boolean,
  before: Tree,
  after: Tree,
  keptDirs: readonly string[] = [],
  /** Collection-relative folders to create first, shallowest first (a new artifact's root and parents). */
  createDirs: readonly string[] = [],
): FileChange[] {
  const at = (rel: string): string => (isFolder ? `${artifactRel}/${rel}` : artifactRel);
  const deletes: FileChange[] = [];
  const writes: FileChange[] = [];
  for (const [rel, file] of before) {
    const next = after.get(rel);
    if (!next) deletes.push({ kind: 'delete', rel: at(rel) });
    else if (next.mode !== file.mode || !sameBytes(next, file)) {
      // A symlink replaced by a file (or back) must be removed first: rename cannot swap kinds safely.
      if ((next.mode === SYMLINK_MODE) !== (file.mode === SYMLINK_MODE))
        deletes.push({ kind: 'delete', rel: at(rel) });
      writes.push(writeChange(at(rel), next));
    }
  }
  for (const [rel, file] of after) if (!before.has(rel)) writes.push(writeChange(at(rel), file));
  if (!isFolder)
    return [...deletes, ...createDirs.map((rel): FileChange => ({ kind: 'mkdir', rel })), ...writes];

  const dirsOf = (tree: Tree, extra: readonly string[]): Set<string> => {
    const dirs = new Set<string>(extra);
    for (const rel of tree.keys()) for (const dir of ancestors(rel)) dirs.add(dir);
    return dirs;
  };
  const beforeDirs = dirsOf(before, keptDirs);
  const afterDirs = dirsOf(after, keptDirs);
  const rmdirs = [...beforeDirs]
    .filter((d) => !afterDirs.has(d) && !after.has(d))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  const mkdirs = [...afterDirs]
    .filter((d) => !beforeDirs.has(d))
    .sort((a, b) => a.split('/').length - b.split('/').length);
  const rootChanges = createDirs.map((rel): FileChange => ({ kind: 'mkdir', rel }));
  // A path that turns from a file into a folder: the file's deletion already comes first.
  return [
    ...deletes,
    ...rmdirs.map((d): FileChange => ({ kind: 'rmdir', rel: at(d) })),
    ...rootChanges,
    ...mkdirs.map((d): FileChange => ({ kind: 'mkdir', rel: at(d) })),
    ...writes,
  ];
}

function writeChange(rel: string, file: TreeFile): FileChange {
  if (file.mode === SYMLINK_MODE)
    return {
      kind: 'write',
      rel,
      data: Buffer.alloc(0),
      mode: 0o777,
      symlinkTarget: decodeName(file.data),
    };
  // A large file is copied when the transaction stages it, never read into memory.
  return { kind: 'write', rel, data: file.disk ? { copyOf: file.disk.path } : file.data, mode: file.mode };
}
