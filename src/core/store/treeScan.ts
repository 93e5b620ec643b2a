/**
 * Scanning a folder into tree entries: the walk (every `.git` skipped, `.artifact-keeper` at the top),
 * trusting the stat index for files and folders whose stat did not change, hashing only the others.
 * Reads the folder, never writes it; blobs it hashes go to the repository with the trees.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { fsPath, readDirSync } from '../base/fileNames.js';
import { ancestors } from '../model/artifactTree.js';
import { LARGE_FILE_BYTES } from '../model/largeFiles.js';
import { LINKED_DOCUMENTS } from '../model/lock.js';
import type { Tree } from '../model/artifactTree.js';
import { isErrno } from '../ports/fs.js';
import { STAMP_FIELDS, STAMP_MISSING, statMany } from '../ports/parallelStat.js';
import { traced, tracedSync } from '../base/trace.js';
import { gitModeOf, gitObject } from './gitObjects.js';
import type { GitMode, GitObject, GitObjects } from './gitObjects.js';
import { RACY_WINDOW_MS } from './statIndex.js';
import type { DirStamp, IndexedFile, StatIndex, StatIndexFile } from './statIndex.js';
import { assertSafeRel, buildTrees, parentOf, treeObjects, writeTrees } from './trees.js';
import type { FolderState, ScannedFile } from './trees.js';

/** What the last scan cost: for logs, the benchmark and the incremental tests. */
export interface ScanStats {
  files: number;
  hashed: number;
  /** Folders listed; the others were known unchanged from the stat index. */
  readdirs: number;
  treesWritten: number;
  ms: number;
}

export interface ScanResult extends FolderState {
  hashed: number;
  /** Bytes read to hash those files. */
  hashedBytes: number;
  /** Folders actually listed (the others were known unchanged from the index). */
  readdirs: number;
  /** What the stat index should hold after this scan (unchanged records are the index's own objects). */
  records: Map<string, IndexedFile>;
  /** Stamps of every folder, the root ('') included. */
  dirStamps: Map<string, DirStamp>;
}

/**
 * Changed files smaller than LARGE_FILE_BYTES, up to this total size, are read and hashed in JS and
 * written with the trees by one git process; beyond it (a huge first snapshot), and for every large file,
 * git reads them itself, keeping memory bounded.
 */
const JS_HASH_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Up to these many files (and bytes) re-hashed, and folders listed, a scan leaves the stat index as it
 * is: writing 11k records costs more than hashing a few files again next time, and an older index is
 * still exact (a file whose stat moved since is re-hashed, whatever the index's age).
 */
const INDEX_KEPT_MAX_FILES = 64;
const INDEX_KEPT_MAX_BYTES = 4 * 1024 * 1024;
const INDEX_KEPT_MAX_READDIRS = 16;

/**
 * Scans of the collection itself, through its stat index, in a repository that exists. Remembers what
 * the last one cost.
 */
export class CollectionScanner {
  /** Cost of the most recent scan of the collection (create, planRestore, diff against 'working'). */
  lastScan: ScanStats | undefined;
  /** Whether `collectionTree`'s last scan went through a valid stat index. */
  private indexUsed = false;

  constructor(
    private readonly collectionDir: string,
    private readonly objects: GitObjects,
    private readonly statIndex: StatIndexFile,
    private readonly logger: Logger,
    /** Take the stamps the index knows on two threads (see `takeIndexStamps`). */
    private readonly parallelStat = false,
  ) {}

  /**
   * The collection as it is now with every folder's tree id, computed without writing anything (a huge
   * set of changed files is the exception: git hashes those into the repository itself).
   */
  async collectionState(): Promise<FolderState & { root: string; dirShas: Record<string, string> }> {
    const started = performance.now();
    const index = this.statIndex.loadIndex();
    const state = await scanFolder(this.objects, this.collectionDir, true, index, this.parallelStat);
    const built = buildTrees(state, index);
    this.noteScan(state, 0, started);
    return { ...state, root: built.root, dirShas: built.dirShas };
  }

  /**
   * Scans the collection and writes its changed blobs and folder trees (plus `extra` objects made from
   * the root tree id): the tree id of the collection as it is now. If the stat index points at objects
   * that are gone (every link written is checked), it starts over without the index: a snapshot is
   * never built on missing objects.
   */
  async collectionTree(extra?: (root: string) => GitObject[]): Promise<{
    state: ScanResult;
    root: string;
    treesWritten: number;
    dirShas: Record<string, string>;
  }> {
    const started = performance.now();
    const index = tracedSync('load the stat index', () => this.statIndex.loadIndex());
    let result: { state: ScanResult; root: string; treesWritten: number; dirShas: Record<string, string> };
    try {
      const state = await traced('scan the collection', () =>
        scanFolder(this.objects, this.collectionDir, true, index, this.parallelStat),
      );
      result = {
        state,
        ...(await traced('build and write the trees', () => writeTrees(this.objects, state, index, extra))),
      };
      this.indexUsed = index !== undefined;
    } catch (err) {
      if (!index || !isRefusedObjects(err)) throw err;
      // revalidateIndex after gc is the first line of defence; this is the last.
      this.logger.warn(
        `[Snapshots] the stat index points at missing objects; hashing everything (${err.message})`,
      );
      const state = await scanFolder(this.objects, this.collectionDir, true, undefined);
      result = { state, ...(await writeTrees(this.objects, state, undefined, extra)) };
      this.indexUsed = false;
    }
    this.noteScan(result.state, result.treesWritten, started);
    return result;
  }

  /**
   * The collection's blobs and trees as `collectionTree` would write them, computed and kept, with
   * nothing written (SnapshotStore.scanAhead). Undefined when that is not possible: changed files that
   * only git should hash (a large one, or very many), or no stat index to scan through.
   */
  async treeAhead(pause: Pause): Promise<TreeAhead | undefined> {
    const started = performance.now();
    const index = tracedSync('load the stat index', () => this.statIndex.loadIndex());
    if (!index) return undefined;
    let state: ScanResult;
    try {
      state = await traced('scan the collection', () =>
        scanFolder(this.objects, this.collectionDir, true, index, this.parallelStat, pause, true),
      );
    } catch (err) {
      if (err instanceof NeedsGit) return undefined;
      throw err;
    }
    const built = tracedSync('build the trees', () => treeObjects(state, index));
    this.indexUsed = true;
    this.noteScan(state, built.treesWritten, started);
    return { state, root: built.root, objects: built.objects, dirShas: built.dirShas };
  }

  /** Remembers what a scan that started at `started` (performance.now()) cost, as `lastScan`. */
  private noteScan(
    state: { files: ReadonlyMap<string, unknown>; hashed: number; readdirs: number },
    treesWritten: number,
    started: number,
  ): void {
    this.lastScan = {
      files: state.files.size,
      hashed: state.hashed,
      readdirs: state.readdirs,
      treesWritten,
      ms: performance.now() - started,
    };
  }

  /**
   * Whether the stat index should be rewritten after `collectionTree` produced `state`: when there was
   * none (or it was not trusted), or when keeping it would make the next scans re-hash or re-list much.
   * Skipping the write is always safe: the index only spares work for files whose stat it still matches.
   */
  indexNeedsSaving(state: ScanResult): boolean {
    return (
      !this.indexUsed ||
      state.hashed > INDEX_KEPT_MAX_FILES ||
      state.hashedBytes > INDEX_KEPT_MAX_BYTES ||
      state.readdirs > INDEX_KEPT_MAX_READDIRS
    );
  }
}

/**
 * Walks `root` (skipping every `.git`, and `.artifact-keeper` at the top) and finds each file's blob:
 * from the stat index when its stat is unchanged and not racy, else by hashing it. A few changed files
 * are hashed here and left `pending` (written with the trees); many go through `git hash-object`.
 */
export async function scanFolder(
  objects: GitObjects,
  root: string,
  skipStateDir: boolean,
  index: StatIndex | undefined,
  parallelStat = false,
  /**
   * Awaited about every `PAUSE_AFTER_MS` of a walk through the stat index: a scan made while an update
   * fetches lets the fetch start its next git process there (snapshotAhead.ts).
   */
  pause?: Pause,
  /** Throw `NeedsGit` rather than let git hash (and write) any file: a scan that must write nothing. */
  hashInJsOnly = false,
): Promise<ScanResult> {
  const files = new Map<string, ScannedFile>();
  const records = new Map<string, IndexedFile>();
  const toHash: { rel: string; record: IndexedFile; isSymlink: boolean }[] = [];
  const trustedBefore = (index?.writtenAt ?? 0) - RACY_WINDOW_MS;
  const walked = await walkFolder(root, skipStateDir, index, parallelStat, pause, (rel, st, isSymlink) => {
    const record = index?.files.get(rel);
    // ctime too: tools that restore an old mtime (tar, rsync -t) still move ctime.
    if (
      record &&
      record.size === st.size &&
      record.mtimeMs === st.mtimeMs &&
      record.ctimeMs === st.ctimeMs &&
      record.ino === st.ino &&
      record.mode === st.mode &&
      Math.max(st.mtimeMs, st.ctimeMs) < trustedBefore
    ) {
      record.entry ??= {
        mode: gitModeOf(record.mode),
        sha: record.sha,
        kind: isSymlink ? 'symlink' : 'file',
      };
      files.set(rel, record.entry);
      records.set(rel, record);
    } else {
      const fresh = {
        size: st.size,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        ino: st.ino,
        mode: st.mode,
        sha: '',
      };
      toHash.push({ rel, record: fresh, isSymlink });
    }
  });
  const pending: GitObject[] = [];
  // Large files always go to git by path: git reads them itself, so they never sit in our memory.
  const large = toHash.filter(({ record, isSymlink }) => !isSymlink && record.size >= LARGE_FILE_BYTES);
  const small = toHash.filter(({ record, isSymlink }) => isSymlink || record.size < LARGE_FILE_BYTES);
  const bytes = small.reduce((sum, { record }) => sum + record.size, 0);
  const inJs = bytes <= JS_HASH_MAX_BYTES ? small : [];
  if (hashInJsOnly && (large.length > 0 || inJs !== small)) throw new NeedsGit();
  for (const { rel, record, isSymlink } of inJs) {
    const abs = fsPath(absolutePath(root, rel));
    const blob = gitObject(
      'blob',
      isSymlink ? nodeFs.readlinkSync(abs, { encoding: 'buffer' }) : nodeFs.readFileSync(abs),
    );
    record.sha = blob.sha;
    files.set(rel, { mode: gitModeOf(record.mode), sha: blob.sha, kind: isSymlink ? 'symlink' : 'file' });
    records.set(rel, record);
    pending.push(blob);
  }
  // Large ones (a new manifest and lock) are deflated on the thread pool while the trees are built.
  objects.deflateAhead(pending);
  // Large files are written uncompressed (see hashObjects); small ones too many to hash here, as git does.
  const groups = [
    { items: inJs === small ? [] : small, uncompressed: false },
    { items: large, uncompressed: true },
  ];
  for (const { items: byGit, uncompressed } of groups) {
    if (byGit.length === 0) continue;
    const shas = await objects.hashObjects(
      byGit.map(({ rel, isSymlink }) => {
        const abs = absolutePath(root, rel);
        return isSymlink ? nodeFs.readlinkSync(fsPath(abs), { encoding: 'buffer' }) : abs;
      }),
      { uncompressed },
    );
    byGit.forEach(({ rel, record, isSymlink }, i) => {
      record.sha = shas[i] as string;
      files.set(rel, {
        mode: gitModeOf(record.mode),
        sha: record.sha,
        kind: isSymlink ? 'symlink' : 'file',
      });
      records.set(rel, record);
    });
  }
  const dirs = new Set(walked.dirStamps.keys());
  dirs.delete('');
  return {
    files,
    dirs,
    pending,
    ...(index ? { delta: { basis: index, changed: toHash.map(({ rel }) => rel) } } : {}),
    hashed: toHash.length,
    hashedBytes: bytes,
    readdirs: walked.readdirs,
    records,
    dirStamps: walked.dirStamps,
  };
}

/** A folder (like a collection) or a single file (a tree holding just it, under its base name). */
export async function scanPath(objects: GitObjects, source: string): Promise<FolderState> {
  const abs = path.resolve(source);
  const target = fsPath(abs);
  const st = nodeFs.lstatSync(target);
  if (st.isDirectory()) return scanFolder(objects, abs, false, undefined);
  const mode = gitModeOf(st.mode);
  const kind = mode === '120000' ? 'symlink' : 'file';
  if (kind === 'file' && st.size >= LARGE_FILE_BYTES) {
    const [sha] = await objects.hashObjects([abs], { uncompressed: true });
    return { files: new Map([[path.basename(abs), { mode, sha: sha as string, kind }]]), dirs: new Set() };
  }
  const blob = gitObject(
    'blob',
    st.isSymbolicLink() ? nodeFs.readlinkSync(target, { encoding: 'buffer' }) : nodeFs.readFileSync(target),
  );
  return {
    files: new Map([[path.basename(abs), { mode, sha: blob.sha, kind }]]),
    dirs: new Set(),
    pending: [blob],
  };
}

/**
 * An in-memory tree (an upstream file or folder) as tree entries; its blobs are left pending, except those
 * `written` already holds (path → blob id: see `writeLargeBlobs`).
 */
export function scanContent(content: Tree, written?: ReadonlyMap<string, string>): FolderState {
  const files = new Map<string, ScannedFile>();
  const dirs = new Set<string>();
  const pending: GitObject[] = [];
  for (const [rel, file] of content) {
    assertSafeRel(rel, 'upstream tree');
    const mode: GitMode = file.mode === 0o120000 ? '120000' : file.mode & 0o111 ? '100755' : '100644';
    let sha = written?.get(rel);
    if (sha === undefined) {
      const blob = gitObject('blob', file.data);
      pending.push(blob);
      sha = blob.sha;
    }
    files.set(rel, { mode, sha, kind: mode === '120000' ? 'symlink' : 'file' });
    for (const parent of ancestors(rel)) dirs.add(parent);
  }
  return { files, dirs, pending };
}

/**
 * Writes the large files of a tree (those kept on disk) into the repository with one `hash-object`, which
 * reads them itself: path → blob id, for `scanContent`.
 */
export async function writeLargeBlobs(objects: GitObjects, content: Tree): Promise<Map<string, string>> {
  const large = [...content].flatMap(([rel, file]) => (file.disk ? [[rel, file.disk.path] as const] : []));
  const shas = await objects.hashObjects(
    large.map(([, file]) => file),
    { uncompressed: true },
  );
  return new Map(large.map(([rel], i) => [rel, shas[i] as string]));
}

// ---- walking --------------------------------------------------------------------------------------

/** What the walk needs of an `lstat`: a `Stats`, or a stamp taken ahead (`TakenStamp`). */
interface EntryStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** Full st_mode (type and permission bits). */
  mode: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

const S_IFMT = 0o170000;

/** One row of a `statMany` table (links kept), as the walk reads a `Stats`. */
class TakenStamp implements EntryStat {
  constructor(
    readonly size: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
    readonly ino: number,
    readonly mode: number,
  ) {}
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000;
  }
}

/** Every path the stat index knows (folders, root excepted, then files), and where each is in that list. */
const indexPaths = new WeakMap<StatIndex, { rels: string[]; at: Map<string, number> }>();

/**
 * The `lstat` of every file and folder the stat index knows, taken at once (`statMany`: two threads for a
 * long list), for the walk to read instead of one `lstat` each. A missing path reads as missing, which
 * sends its folder to `readdir` and fresh `lstat`s; a path the index does not know gets its own `lstat`.
 */
function takeIndexStamps(root: string, index: StatIndex): (rel: string) => EntryStat | undefined {
  let known = indexPaths.get(index);
  if (!known) {
    const rels = [...index.dirs.keys()].filter((rel) => rel !== '');
    for (const rel of index.files.keys()) rels.push(rel);
    known = { rels, at: new Map(rels.map((rel, i) => [rel, i])) };
    indexPaths.set(index, known);
  }
  const { rels, at } = known;
  const table = statMany(
    rels.map((rel) => fsPath(absolutePath(root, rel))),
    { links: 'keep' },
  );
  return (rel) => {
    const i = at.get(rel);
    if (i === undefined) return lstatOrUndefined(absolutePath(root, rel));
    const o = i * STAMP_FIELDS;
    if (table[o] === STAMP_MISSING) return undefined;
    return new TakenStamp(
      table[o + 1] as number,
      table[o + 2] as number,
      table[o + 3] as number,
      table[o + 4] as number,
      table[o + 5] as number,
    );
  };
}

/**
 * Walks `root` as walkSync does with keepSymlinks (each file and symlink with its stat, to `onFile`; `.git`
 * skipped at any depth, `.artifact-keeper` at the top), returning every folder's stamps. Unsorted: the
 * callers key everything by path.
 *
 * With a stat index the walk is flat, as git refreshes its index: one `lstat` per folder and per file the
 * index knows, in two loops, and a folder is listed only when its stamps moved (or are racy) or an entry
 * it had is gone. Creating, removing or renaming an entry always moves its folder's mtime, so a folder
 * with the same stamps holds exactly the index's entries (git's untracked cache rests on the same rule).
 * A folder counts only under folders that are still folders: a path through a symlink is never followed.
 * Walking the folders recursively instead, with each folder's children looked up in a map built from
 * the index, cost about 20 ms more for 15,000 paths in a new process than these loops.
 */
async function walkFolder(
  root: string,
  skipStateDir: boolean,
  index: StatIndex | undefined,
  parallelStat: boolean,
  pause: Pause | undefined,
  onFile: (rel: string, st: EntryStat, isSymlink: boolean) => void,
): Promise<{ dirStamps: Map<string, DirStamp>; readdirs: number }> {
  const dirStamps = new Map<string, DirStamp>();
  let readdirs = 0;
  // A collection's symlinked manifest or lock (dotfiles) is kept as the file behind the link, so a
  // restore puts its content back (through the link) rather than a link to content that moved on.
  const report = (rel: string, st: EntryStat): void => {
    if (skipStateDir && st.isSymbolicLink() && LINKED_DOCUMENTS.has(rel)) {
      const behind = statOrUndefined(absolutePath(root, rel));
      if (behind?.isFile()) return onFile(rel, behind, false);
    }
    onFile(rel, st, st.isSymbolicLink());
  };
  const stampOf = (rel: string, st: EntryStat): void => {
    dirStamps.set(rel, { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
  };
  /**
   * Lists a folder: each entry `isNew` says the flat loops have not seen is reported with a fresh
   * `lstat`, and each such folder is listed in turn (all of it new).
   */
  const list = (abs: string, rel: string, isNew: (childRel: string, isDir: boolean) => boolean): void => {
    readdirs++;
    for (const entry of readDirSync(abs)) {
      const name = entry.name;
      if (name === '.git' || (skipStateDir && rel === '' && name === STATE_DIR)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      const isDir = entry.isDirectory();
      if (!isDir && !entry.isFile() && !entry.isSymbolicLink()) continue;
      if (!isNew(childRel, isDir)) continue;
      const childAbs = path.join(abs, name);
      const st = nodeFs.lstatSync(fsPath(childAbs));
      if (isDir) {
        stampOf(childRel, st);
        list(childAbs, childRel, ALL_NEW);
      } else report(childRel, st);
    }
  };
  const rootStat = nodeFs.statSync(root);
  stampOf('', rootStat);
  if (!index) {
    list(root, '', ALL_NEW);
    return { dirStamps, readdirs };
  }
  const taken = parallelStat ? takeIndexStamps(root, index) : undefined;
  const lstatOf = (rel: string): EntryStat | undefined =>
    taken ? taken(rel) : lstatOrUndefined(absolutePath(root, rel));
  const trustedBefore = index.writtenAt - RACY_WINDOW_MS;
  const unchanged = (known: DirStamp | undefined, st: EntryStat): boolean =>
    known !== undefined &&
    known.mtimeMs === st.mtimeMs &&
    known.ctimeMs === st.ctimeMs &&
    known.ino === st.ino &&
    Math.max(st.mtimeMs, st.ctimeMs) < trustedBefore;
  /** Folders to list: stamps moved or racy, or an entry the index has is gone or changed type. */
  const toList = new Set<string>();
  if (!unchanged(index.dirs.get(''), rootStat)) toList.add('');
  /** Whether a folder of the index is a folder now, under folders only (memo; the root is one). */
  const isFolder = new Map<string, boolean>([['', true]]);
  const folderNow = (rel: string): boolean => {
    const memo = isFolder.get(rel);
    if (memo !== undefined) return memo;
    const parent = parentOf(rel);
    let found = false;
    // A parent the index lacks (it never does, as written) is looked at too, and listed: no gap hides a folder.
    if (folderNow(parent)) {
      const st = lstatOf(rel);
      if (st?.isDirectory()) {
        found = true;
        stampOf(rel, st);
        if (!unchanged(index.dirs.get(rel), st)) toList.add(rel);
      } else toList.add(parent);
    }
    isFolder.set(rel, found);
    return found;
  };
  // A pause is due once PAUSE_AFTER_MS of scan ran since the last, looked at every PAUSE_CHECK_EVERY paths.
  let sinceCheck = 0;
  let pauseAt = performance.now() + PAUSE_AFTER_MS;
  const pauseDue = (): boolean => {
    if (!pause || ++sinceCheck < PAUSE_CHECK_EVERY) return false;
    sinceCheck = 0;
    return performance.now() >= pauseAt;
  };
  const pauseNow = async (): Promise<void> => {
    await pause?.();
    pauseAt = performance.now() + PAUSE_AFTER_MS;
  };
  for (const rel of index.dirs.keys()) {
    folderNow(rel);
    if (pauseDue()) await pauseNow();
  }
  /** Files of the index not reported (gone, or now a folder): a listing reports what is there now. */
  const notReported = new Set<string>();
  for (const rel of index.files.keys()) {
    if (pauseDue()) await pauseNow();
    const parent = parentOf(rel);
    const inFolder = folderNow(parent);
    const st = inFolder ? lstatOf(rel) : undefined;
    if (st && (st.isFile() || st.isSymbolicLink())) report(rel, st);
    else {
      notReported.add(rel);
      if (inFolder) toList.add(parent);
    }
  }
  const isNew = (childRel: string, isDir: boolean): boolean =>
    isDir ? isFolder.get(childRel) !== true : !index.files.has(childRel) || notReported.has(childRel);
  for (const rel of toList) list(rel === '' ? root : absolutePath(root, rel), rel, isNew);
  return { dirStamps, readdirs };
}

const ALL_NEW = (): boolean => true;

/**
 * Whether writing objects failed because they were refused (by git, or by the checks of
 * ObjectFolder.write), as when the stat index points at objects that are gone; not an injected fault
 * (which carries its errno as cause).
 */
export function isRefusedObjects(err: unknown): err is CoreError {
  return (
    err instanceof CoreError &&
    (err.code === 'git-failed' || err.code === 'snapshot-invalid') &&
    err.cause === undefined
  );
}

/** A scan ahead (`treeAhead`) would need git to hash files, which writes them into the repository. */
class NeedsGit extends Error {}

/** What `treeAhead` found: the objects to write (blobs, then trees) and the tree ids. */
export interface TreeAhead {
  state: ScanResult;
  root: string;
  objects: GitObject[];
  dirShas: Record<string, string>;
}

/** Lets other work of the process run (`scanFolder`'s `pause`). */
export type Pause = () => Promise<void>;

/**
 * The longest stretch of scan between two pauses. Each awaited step of a fetch running beside the scan
 * (a git process started or ended, a file written on the thread pool) waits for the scan's turn to end,
 * which took 2–5 ms when a turn was 512 paths.
 */
const PAUSE_AFTER_MS = 1;
/** Paths walked between two looks at the clock. */
const PAUSE_CHECK_EVERY = 32;

function statOrUndefined(abs: string): nodeFs.Stats | undefined {
  try {
    return nodeFs.statSync(fsPath(abs));
  } catch {
    return undefined; // dangling: kept as the link it is
  }
}

function lstatOrUndefined(abs: string): nodeFs.Stats | undefined {
  try {
    return nodeFs.lstatSync(fsPath(abs));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

function absolutePath(root: string, rel: string): string {
  return path.sep === '/' ? `${root}/${rel}` : path.join(root, rel);
}
