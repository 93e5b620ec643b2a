/**
 * Trees as the snapshot store holds them: entries by path (files, symlinks, empty folders), the state of a
 * folder as blob ids, building git tree objects from such a state (only the folders that changed), and
 * reading stored trees back. Paths are checked on the way in and out: none may leave the collection.
 */
import { STATE_DIR } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { decodeName, nameBytes, showName } from '../base/fileNames.js';
import { assertObjectId, isObjectId, parseLsTree } from '../ports/git.js';
import type { Git } from '../ports/git.js';
import { EMPTY_TREE, gitModeOf, objectId } from './gitObjects.js';
import type { GitMode, GitObject, GitObjects } from './gitObjects.js';

export type TreeEntryKind = 'file' | 'symlink' | 'dir';

export interface TreeEntry {
  mode: GitMode;
  sha: string;
  kind: TreeEntryKind;
}

/** rel (POSIX) → entry; `dir` entries only for empty folders (others are implied by their files). */
export type SnapshotTree = Map<string, TreeEntry>;

export interface ScannedFile {
  mode: GitMode;
  sha: string;
  kind: 'file' | 'symlink';
}

export interface FolderState {
  files: Map<string, ScannedFile>;
  /** Every folder (not the root), empty or not. */
  dirs: Set<string>;
  /** Blobs hashed in JS that the repository does not have yet: written with the trees. */
  pending?: GitObject[];
  /**
   * Set by a scan through a stat index: every file not in `changed` holds the entry `basis` records for
   * it (same path, blob and mode), so building against that basis looks only at `changed`.
   */
  delta?: { basis: TreeBasis; changed: readonly string[] };
}

interface LoadedTree extends FolderState {
  entries: SnapshotTree;
}

const NO_FILES: ReadonlyMap<string, ScannedFile> = new Map();
const NO_DIRS: ReadonlySet<string> = new Set();

interface BuiltEntry {
  name: Buffer;
  /** Git's sort key: the name, with a '/' after a folder's. */
  key: Buffer;
  mode: GitMode;
  sha: string;
}

interface BuiltTree {
  rel: string;
  sha: string;
  body: Buffer;
}

/** What the previous snapshot left in the stat index: file records and each folder's tree id (a StatIndex). */
export interface TreeBasis {
  files: ReadonlyMap<string, { sha: string; mode: number }>;
  dirs: ReadonlyMap<string, { tree: string }>;
}

/**
 * The tree objects of the folders that differ from `basis` (an entry changed, appeared or went; and their
 * ancestors), children before parents, the root last; clean folders keep their recorded id. Without a
 * basis every folder is built. Ids are git's: sha1("tree <len>\0" + body). `state.dirs` lists every folder.
 */
export function buildTrees(
  state: FolderState,
  basis?: TreeBasis,
): { root: string; trees: BuiltTree[]; dirShas: Record<string, string> } {
  const dirty = new Set<string>();
  const markDirty = (dir: string): void => {
    for (let d = dir; !dirty.has(d); d = parentOf(d)) {
      dirty.add(d);
      if (d === '') break;
    }
  };
  if (!basis) {
    for (const dir of state.dirs) dirty.add(dir);
    dirty.add('');
  } else {
    // A path of the basis missing now is looked for only when the counts say one is: every path now
    // found in the basis, and as many as it has, means none went.
    // A scan through this basis names the files that may differ; all the others are the basis's own.
    const delta = state.delta?.basis === basis ? state.delta : undefined;
    let filesKept = delta ? state.files.size - delta.changed.length : 0;
    const compare = (rel: string, file: ScannedFile): void => {
      const before = basis.files.get(rel);
      if (before) filesKept++;
      if (!before || before.sha !== file.sha || gitModeOf(before.mode) !== file.mode)
        markDirty(parentOf(rel));
    };
    if (delta) for (const rel of delta.changed) compare(rel, state.files.get(rel) as ScannedFile);
    else for (const [rel, file] of state.files) compare(rel, file);
    if (filesKept !== basis.files.size)
      for (const rel of basis.files.keys()) if (!state.files.has(rel)) markDirty(parentOf(rel));
    let dirsKept = 0;
    for (const dir of state.dirs) {
      if (basis.dirs.has(dir)) dirsKept++;
      else markDirty(dir);
    }
    if (dirsKept !== basis.dirs.size - (basis.dirs.has('') ? 1 : 0))
      for (const dir of basis.dirs.keys()) if (dir !== '' && !state.dirs.has(dir)) markDirty(parentOf(dir));
    if (!basis.dirs.has('')) markDirty('');
  }
  const children = new Map<string, BuiltEntry[]>();
  for (const dir of dirty) children.set(dir, []);
  const inDirty = dirtyParent(dirty);
  // Nothing differs from the basis: every folder keeps its recorded tree.
  for (const [rel, file] of dirty.size > 0 ? state.files : NO_FILES) {
    const parent = inDirty(rel);
    if (parent === undefined) continue;
    const name = nameBytes(baseOf(rel));
    (children.get(parent) as BuiltEntry[]).push({ name, key: name, mode: file.mode, sha: file.sha });
  }
  const subdirs = new Map<string, string[]>();
  for (const dir of dirty.size > 0 ? state.dirs : NO_DIRS) {
    const parent = inDirty(dir);
    if (parent === undefined) continue;
    const list = subdirs.get(parent);
    if (list) list.push(dir);
    else subdirs.set(parent, [dir]);
  }
  const computed = new Map<string, string>();
  const trees: BuiltTree[] = [];
  // Deepest first so every subfolder's id is known before its parent's; the root ('', depth 0) last.
  const order = [...dirty].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : depth(b) - depth(a)));
  for (const dir of order) {
    const entries = children.get(dir) as BuiltEntry[];
    for (const sub of subdirs.get(dir) ?? []) {
      const sha = computed.get(sub) ?? basis?.dirs.get(sub)?.tree;
      if (sha === undefined) throw new Error(`no tree id for ${sub}`);
      const key = nameBytes(`${baseOf(sub)}/`);
      entries.push({ name: key.subarray(0, key.length - 1), key, mode: '040000', sha });
    }
    if (entries.length === 0) {
      computed.set(dir, EMPTY_TREE);
      continue;
    }
    entries.sort(compareTreeEntries);
    const body = treeBody(entries);
    const sha = objectId('tree', body);
    computed.set(dir, sha);
    trees.push({ rel: dir, sha, body });
  }
  const dirShas: Record<string, string> = {};
  for (const dir of state.dirs) dirShas[dir] = computed.get(dir) ?? (basis?.dirs.get(dir)?.tree as string);
  const root = computed.get('') ?? (basis?.dirs.get('')?.tree as string);
  dirShas[''] = root;
  return { root, trees, dirShas };
}

/**
 * Builds the tree objects of the folders that changed since `basis` (all of them without one) in JS,
 * and writes them, the state's pending blobs and `extra` objects (a commit of the root) with one
 * `git unpack-objects --strict`, which checks every object and that every link resolves.
 */
export async function writeTrees(
  objects: GitObjects,
  state: FolderState,
  basis: TreeBasis | undefined,
  extra?: (root: string) => GitObject[],
): Promise<{ root: string; treesWritten: number; dirShas: Record<string, string> }> {
  const built = treeObjects(state, basis, extra);
  await objects.writeObjects(built.objects);
  return { root: built.root, treesWritten: built.treesWritten, dirShas: built.dirShas };
}

/** The objects `writeTrees` writes, without writing them (several trees go into one pack). */
export function treeObjects(
  state: FolderState,
  basis: TreeBasis | undefined,
  extra?: (root: string) => GitObject[],
): { root: string; objects: GitObject[]; treesWritten: number; dirShas: Record<string, string> } {
  const built = buildTrees(state, basis);
  const seen = new Set<string>([EMPTY_TREE]);
  const trees = built.trees.filter((tree) => !seen.has(tree.sha) && seen.add(tree.sha));
  return {
    root: built.root,
    objects: [
      ...(state.pending ?? []),
      ...trees.map((tree): GitObject => ({ type: 'tree', data: tree.body, sha: tree.sha })),
      ...(extra?.(built.root) ?? []),
    ],
    treesWritten: trees.length,
    dirShas: built.dirShas,
  };
}

/**
 * A tree object's body: `<mode> <name>\0<20-byte id>` per entry, in the order given. Written into one
 * buffer sized first: four small buffers per entry and a concat cost several milliseconds for a folder of
 * a thousand skills, rebuilt by every snapshot after one of them changed.
 */
function treeBody(entries: readonly BuiltEntry[]): Buffer {
  let size = 0;
  for (const e of entries) size += treeMode(e.mode).length + e.name.length + 22;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of entries) {
    at += body.write(treeMode(e.mode), at, 'latin1');
    body[at++] = 0x20;
    at += e.name.copy(body, at);
    body[at++] = 0;
    at += body.write(e.sha, at, 'hex');
  }
  if (at !== size) throw new Error(`tree body: wrote ${at} of ${size} bytes`);
  return body;
}

/** A mode as a tree entry writes it: a folder's without its leading zero. */
function treeMode(mode: GitMode): string {
  return mode === '040000' ? '40000' : mode;
}

/** Git's order: bytes of the name, a folder compared as if its name ended in '/'. */
function compareTreeEntries(a: BuiltEntry, b: BuiltEntry): number {
  return Buffer.compare(a.key, b.key);
}

/** Stored trees read with `ls-tree`, the last few cached: restore previews diff the same snapshot often. */
export class StoredTrees {
  private readonly treeCache = new Map<string, Promise<LoadedTree>>();

  constructor(
    private readonly git: Git,
    private readonly logger: Logger,
  ) {}

  async loadTree(tree: string): Promise<LoadedTree> {
    let pending = this.treeCache.get(tree);
    if (!pending) {
      pending = this.readLsTree(tree);
      this.treeCache.set(tree, pending);
      pending.catch(() => this.treeCache.delete(tree));
      // A few recent trees are enough: restore previews diff the same snapshot several times.
      while (this.treeCache.size > 4) this.treeCache.delete(this.treeCache.keys().next().value as string);
    }
    return pending;
  }

  private async readLsTree(tree: string): Promise<LoadedTree> {
    const result = await this.git.pipe(['ls-tree', '-r', '-t', '-z', assertObjectId(tree)]);
    const files = new Map<string, ScannedFile>();
    const dirs = new Set<string>();
    const entries: SnapshotTree = new Map();
    for (const { mode, type, oid: sha, path: bytes } of parseLsTree(result.stdout)) {
      const rel = decodeName(bytes);
      assertSafeRel(rel, `tree ${tree}`);
      if (!sha || !isObjectId(sha)) continue;
      if (type === 'tree') {
        dirs.add(rel);
        if (sha === EMPTY_TREE) entries.set(rel, { mode: '040000', sha, kind: 'dir' });
      } else if (type === 'blob' && (mode === '100644' || mode === '100755' || mode === '120000')) {
        const kind = mode === '120000' ? 'symlink' : 'file';
        files.set(rel, { mode, sha, kind });
        entries.set(rel, { mode, sha, kind });
      } else {
        this.logger.warn(`[Snapshots] tree ${tree}: skipping ${rel} (${mode} ${type})`);
      }
    }
    return { files, dirs, entries };
  }

  /** Forgets every cached tree (after gc, which may have pruned them). */
  clear(): void {
    this.treeCache.clear();
  }
}

/** Refuses a path that could leave the collection or touch what snapshots never hold. */
export function assertSafeRel(rel: string, where: string): void {
  const parts = rel.split('/');
  const bad =
    rel.length === 0 ||
    rel.startsWith('/') ||
    rel.includes('\0') ||
    parts.some((p) => p === '' || p === '.' || p === '..' || p === '.git') ||
    parts[0] === STATE_DIR;
  if (bad)
    throw new CoreError({ code: 'snapshot-invalid', file: where, reason: `unsafe path "${showName(rel)}"` });
}

/**
 * The parent folder of a path when it is one of `dirty`, else undefined. With few dirty folders (a
 * snapshot after a change: the changed folders and their ancestors), a path is matched against them by
 * length and prefix, without slicing a string for each of the collection's files.
 */
function dirtyParent(dirty: ReadonlySet<string>): (rel: string) => string | undefined {
  if (dirty.size > 16) {
    return (rel) => {
      const parent = parentOf(rel);
      return dirty.has(parent) ? parent : undefined;
    };
  }
  const byLength = [...dirty].map((dir) => [dir.length, dir] as const);
  return (rel) => {
    const slash = rel.lastIndexOf('/');
    const length = slash < 0 ? 0 : slash;
    for (const [dirLength, dir] of byLength)
      if (dirLength === length && (length === 0 || rel.startsWith(dir))) return dir;
    return undefined;
  };
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function depth(rel: string): number {
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}
