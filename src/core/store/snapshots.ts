/**
 * The snapshot store (DESIGN §4): a bare repository at `.artifact-keeper/snapshots.git` whose commits are
 * snapshots of the collection minus `.artifact-keeper/` and every `.git`. Trees are built here, never by
 * `git add`, so ignore files and nested repositories change nothing; this module never writes a collection file.
 * Tree entries are bytes and names are kept in the lossless string form of fileNames.ts, so any name a
 * file system holds (not UTF-8, a newline, a tab, a backslash, a leading dash) is stored and restored exactly.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { isArtifactType } from '../model/artifact.js';
import { STATE_DIR } from '../base/changes.js';
import type { FileChange, Logger } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import type { FaultPlan } from '../ports/faults.js';
import { decodeName, fsPath, isRawName, nameBytes, readDirSync, showName } from '../base/fileNames.js';
import { isErrno } from '../ports/fs.js';
import type { Clock } from '../base/time.js';
import type { Fs } from '../ports/fs.js';
import {
  assertObjectId,
  assertRefName,
  checkGitVersion,
  compareVersions,
  createGit,
  isObjectId,
  parseLsTree,
  SNAPSHOT_IDENTITY,
} from '../ports/git.js';
import type { Git, ObjectReader } from '../ports/git.js';
import { comparePaths } from '../ports/walk.js';

export const SNAPSHOT_REPO = 'snapshots.git';
export const SNAPSHOT_INDEX_FILE = 'snapshot-index.json';
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
/** Stat entries stamped this close to the index write are re-hashed next time (a later edit may share the stamp). */
export const RACY_WINDOW_MS = 2000;

const ZERO_SHA = '0'.repeat(40);
const SNAPSHOT_REFS = 'refs/snapshots/';
const PIN_REFS = 'refs/pins/';
const UPSTREAM_REFS = 'refs/upstream/';
const SNAPSHOT_ID = /^s[0-9a-z]{9,}$/;
const INDEX_VERSION = 3;

export type SnapshotTrigger =
  | 'user'
  | 'update'
  | 'restore'
  | 'add'
  | 'remove'
  | 'import'
  | 'recover'
  // Forward compatible: a newer tool's trigger still reads.
  | (string & {});

/** Where an imported snapshot came from. */
export interface SnapshotOrigin {
  kind: 'export' | 'skillmeat';
  /** The id in the source (our snapshot id, or SkillMeat's timestamp id). */
  id: string;
  /** The source archive's file name. */
  file: string;
  /** SkillMeat's collection name, for SkillMeat imports. */
  collection?: string;
}

export interface SnapshotInfo {
  /** `s` + 9 base36 digits of epoch milliseconds + 3 random base36: short, unique, sorts by time. */
  id: string;
  commit: string;
  tree: string;
  reason: string;
  trigger: SnapshotTrigger;
  /** `type/name` ids of the artifacts the operation that took it was about to touch. */
  artifacts: string[];
  /** ISO-8601 UTC. */
  time: string;
  /** Current state (the `refs/pins/<id>` ref), not the value at creation time. */
  pinned: boolean;
  /** `artifact-keeper <version>` that took it. */
  tool: string;
  txId?: string;
  origin?: SnapshotOrigin;
}

export interface CreateSnapshotOptions {
  reason: string;
  trigger: SnapshotTrigger;
  artifacts?: readonly string[];
  pinned?: boolean;
  txId?: string;
}

export type GitMode = '100644' | '100755' | '120000' | '040000';
export type TreeEntryKind = 'file' | 'symlink' | 'dir';

export interface TreeEntry {
  mode: GitMode;
  sha: string;
  kind: TreeEntryKind;
}

/** rel (POSIX) → entry; `dir` entries only for empty folders (others are implied by their files). */
export type SnapshotTree = Map<string, TreeEntry>;

export interface SnapshotDiffEntry {
  rel: string;
  /** What `to` holds relative to `from`. */
  status: 'added' | 'modified' | 'deleted';
  /** The kind on the side that has it (`to`, or `from` for deletions). */
  kind: TreeEntryKind;
}

export interface PruneOptions {
  keep?: number;
  maxAgeDays?: number;
  now?: Date;
  /** Run `git gc --prune=now` even when no snapshot was removed (default: only when some were). */
  gc?: boolean;
}

/** The message JSON of an upstream commit, in SkillMeat's snake_case like the lock. */
export interface UpstreamMeta {
  resolved_sha: string;
  resolved_version?: string;
  source?: string;
  time?: string;
}

export interface UpstreamRecord {
  commit: string;
  tree: string;
  meta: UpstreamMeta;
}

/**
 * File contents by rel path, structurally the planner's `Tree`: mode 0o644/0o755, or 0o120000 for a
 * symlink whose target is `data`.
 */
export type ContentTree = Map<string, { data: Buffer; mode: number }>;

/** What the last scan cost: for logs, the benchmark and the incremental tests. */
export interface ScanStats {
  files: number;
  hashed: number;
  /** Folders listed; the others were known unchanged from the stat index. */
  readdirs: number;
  treesWritten: number;
  ms: number;
}

export interface SnapshotStoreOptions {
  fs: Fs;
  logger: Logger;
  git?: { fault?: FaultPlan; env?: NodeJS.ProcessEnv; binary?: string };
  /** Recorded in every snapshot, e.g. `artifact-keeper 0.1.0`. */
  tool?: string;
  /** Times of snapshots and stored upstream bases (default: the system clock). */
  clock?: Clock;
}

interface SnapshotMeta {
  id: string;
  reason: string;
  trigger: string;
  artifacts: string[];
  time: string;
  tool: string;
  pinned: boolean;
  txId?: string;
  origin?: SnapshotOrigin;
}

interface ScannedFile {
  mode: GitMode;
  sha: string;
  kind: 'file' | 'symlink';
}

interface FolderState {
  files: Map<string, ScannedFile>;
  /** Every folder (not the root), empty or not. */
  dirs: Set<string>;
  /** Blobs hashed in JS that the repository does not have yet: written with the trees. */
  pending?: GitObject[];
}

/** A loose object as git stores it: its id is sha1("<type> <length>\0" + data). */
interface GitObject {
  type: 'blob' | 'tree' | 'commit';
  data: Buffer;
  sha: string;
}

/** One line of `git diff-tree --raw`. */
interface TreeChange {
  rel: string;
  /** A, D, M or T. */
  status: string;
  srcMode: string;
  dstMode: string;
  srcSha: string;
  dstSha: string;
}

interface DirStamp {
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

interface IndexedFile {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** Full st_mode (type and permission bits). */
  mode: number;
  sha: string;
  /** The tree entry derived from this record, made once per parsed index (not stored). */
  entry?: ScannedFile;
}

interface IndexedDir extends DirStamp {
  tree: string;
}

/** The stat index in memory: what the last snapshot of the collection saw, file by file and folder by folder. */
interface StatIndex {
  writtenAt: number;
  files: Map<string, IndexedFile>;
  /** Every folder, the root ('') included, with its stamps and tree id. */
  dirs: Map<string, IndexedDir>;
}

/** On disk, as columns: a few flat arrays parse and print several times faster than one object per file. */
interface StatIndexFile {
  version: number;
  /** Identity of the object store the shas live in, so a recreated repository never trusts old shas. */
  repo: string;
  writtenAt: number;
  files: {
    rel: string[];
    size: number[];
    mtime: number[];
    ctime: number[];
    ino: number[];
    mode: number[];
    sha: string[];
  };
  dirs: { rel: string[]; mtime: number[]; ctime: number[]; ino: number[]; tree: string[] };
}

interface ScanResult extends FolderState {
  hashed: number;
  /** Folders actually listed (the others were known unchanged from the index). */
  readdirs: number;
  /** What the stat index should hold after this scan (unchanged records are the index's own objects). */
  records: Map<string, IndexedFile>;
  /** Stamps of every folder, the root ('') included. */
  dirStamps: Map<string, DirStamp>;
}

/**
 * Opens the store of `collectionDir`. Checks git (CoreError `git-missing` / `git-too-old`, nothing
 * written) and that the collection folder exists (`io-failed`); the repository is created on first write.
 */
export async function openSnapshotStore(
  collectionDir: string,
  options: SnapshotStoreOptions,
): Promise<SnapshotStore> {
  const gitOptions = options.git ?? {};
  const gitVersion = await checkGitVersion({
    ...(gitOptions.env ? { env: gitOptions.env } : {}),
    ...(gitOptions.binary ? { binary: gitOptions.binary } : {}),
  });
  const root = path.resolve(collectionDir);
  let st: nodeFs.Stats;
  try {
    st = nodeFs.statSync(root);
  } catch (err) {
    throw ioFailure('open collection', root, err);
  }
  if (!st.isDirectory()) {
    throw new CoreError({
      code: 'io-failed',
      op: 'open collection',
      path: root,
      errno: 'ENOTDIR',
      reason: 'not a folder',
    });
  }
  return new SnapshotStore(root, options, strictFsck(gitVersion));
}

export class SnapshotStore {
  readonly stateDir: string;
  readonly gitDir: string;
  /** Cost of the most recent scan of a folder (create, planRestore, diff against 'working'). */
  lastScan: ScanStats | undefined;

  /** The port every write of this store (and of its archive import/export) goes through. */
  readonly fs: Fs;
  readonly logger: Logger;
  private readonly tool: string;
  private readonly git: Git;
  private readonly indexFile: string;
  private reader: ObjectReader | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly treeCache = new Map<string, Promise<LoadedTree>>();

  constructor(
    readonly collectionDir: string,
    private readonly options: SnapshotStoreOptions,
    /** The `--strict=…` argument of the object writes, for this git version (see strictFsck). */
    private readonly strict: string,
  ) {
    this.fs = options.fs;
    this.logger = options.logger;
    this.tool = options.tool ?? 'artifact-keeper';
    this.stateDir = path.join(collectionDir, STATE_DIR);
    this.gitDir = path.join(this.stateDir, SNAPSHOT_REPO);
    this.indexFile = path.join(this.stateDir, SNAPSHOT_INDEX_FILE);
    this.git = createGit({ gitDir: this.gitDir, ...(options.git ?? {}) });
  }

  /** Snapshots the collection as it is now. Cheap when little changed: only files whose stat changed are hashed. */
  create(options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    return this.exclusive(async () => {
      const fields = {
        reason: options.reason,
        trigger: options.trigger,
        artifacts: [...(options.artifacts ?? [])],
        pinned: options.pinned ?? false,
        ...(options.txId ? { txId: options.txId } : {}),
      };
      let prepared: { meta: SnapshotMeta; commit: GitObject } | undefined;
      // The commit goes into the same object pack as the blobs and trees: one git process writes them all.
      const { state, root, dirShas } = await this.collectionTree((tree) => {
        prepared = this.prepareSnapshot(tree, fields, new Date());
        return [prepared.commit];
      });
      // The index first: if it cannot be written, the operation fails before any snapshot exists.
      await this.saveIndex(state, dirShas);
      const info = await this.publishSnapshot(prepared as { meta: SnapshotMeta; commit: GitObject }, root);
      const stats = this.lastScan as ScanStats;
      this.logger.debug(
        `[Snapshots] ${info.id} (${info.trigger}: ${info.reason}): ${stats.files} files, ${stats.hashed} hashed, ${stats.readdirs} folders listed, ${stats.treesWritten} trees written, ${stats.ms.toFixed(0)} ms`,
      );
      return info;
    });
  }

  /**
   * Snapshots any folder (an extracted archive) as if it were the collection: `.git` entries and a
   * root `.artifact-keeper` are left out. Never touches the collection or its stat index.
   */
  createFromFolder(
    folder: string,
    options: CreateSnapshotOptions & { time?: Date; origin?: SnapshotOrigin },
  ): Promise<SnapshotInfo> {
    return this.exclusive(async () => {
      await this.ensureRepo();
      const state = await this.scan(folder, true, undefined);
      const fields = {
        reason: options.reason,
        trigger: options.trigger,
        artifacts: [...(options.artifacts ?? [])],
        pinned: options.pinned ?? false,
        ...(options.txId ? { txId: options.txId } : {}),
        ...(options.origin ? { origin: options.origin } : {}),
      };
      let prepared: { meta: SnapshotMeta; commit: GitObject } | undefined;
      const { root } = await this.writeTrees(state, undefined, (tree) => {
        prepared = this.prepareSnapshot(tree, fields, options.time ?? new Date());
        return [prepared.commit];
      });
      return this.publishSnapshot(prepared as { meta: SnapshotMeta; commit: GitObject }, root);
    });
  }

  /** All snapshots, newest first. */
  async list(): Promise<SnapshotInfo[]> {
    if (!this.repoExists()) return [];
    const out = await this.git.run([
      'for-each-ref',
      '--format=%(refname)%00%(objectname)%00%(tree)%00%(contents)%00%00',
      SNAPSHOT_REFS,
      PIN_REFS,
    ]);
    const pinned = new Set<string>();
    const snapshots: SnapshotInfo[] = [];
    for (const record of out.split('\0\0\n')) {
      const [refname, commit, tree, contents] = record.replace(/^\n/, '').split('\0');
      if (!refname || !commit) continue;
      if (refname.startsWith(PIN_REFS)) {
        pinned.add(refname.slice(PIN_REFS.length));
        continue;
      }
      const id = refname.slice(SNAPSHOT_REFS.length);
      const meta = parseSnapshotMessage(contents ?? '');
      if (!meta || meta.id !== id || !tree) {
        this.logger.warn(`[Snapshots] ignoring ${refname}: its commit message is not snapshot metadata`);
        continue;
      }
      snapshots.push(toInfo(meta, commit, tree));
    }
    for (const info of snapshots) info.pinned = pinned.has(info.id);
    return snapshots.sort(newestFirst);
  }

  /** 'latest', an id, or a unique id prefix → the snapshot. Throws `snapshot-not-found` (also when ambiguous). */
  async resolve(idOrLatest: string): Promise<SnapshotInfo> {
    const all = await this.list();
    if (idOrLatest === 'latest') {
      const newest = all[0];
      if (!newest) throw new CoreError({ code: 'snapshot-not-found', snapshotId: idOrLatest });
      return newest;
    }
    const exact = all.find((s) => s.id === idOrLatest);
    if (exact) return exact;
    const matches = /^[0-9a-z]+$/.test(idOrLatest) ? all.filter((s) => s.id.startsWith(idOrLatest)) : [];
    if (matches.length === 1 && matches[0]) return matches[0];
    throw new CoreError({ code: 'snapshot-not-found', snapshotId: idOrLatest });
  }

  /** The snapshot's files, symlinks and empty folders. */
  async readTree(idOrLatest: string): Promise<SnapshotTree> {
    const info = await this.resolve(idOrLatest);
    return (await this.loadTree(info.tree)).entries;
  }

  /** Same as readTree for a raw tree object (an upstream tree, say). */
  async readTreeObject(tree: string): Promise<SnapshotTree> {
    return (await this.loadTree(assertObjectId(tree))).entries;
  }

  /** A blob's bytes, through one long-lived `cat-file --batch`. Throws `git-failed` when the object is missing. */
  async readBlob(sha: string): Promise<Buffer> {
    assertObjectId(sha);
    this.reader ??= this.git.openObjectReader();
    const object = await this.reader.read(sha);
    if (!object || object.type !== 'blob') {
      throw new CoreError({
        code: 'git-failed',
        command: 'cat-file',
        reason: `no blob ${sha} in the snapshot repository`,
      });
    }
    return object.data;
  }

  /**
   * The changes that turn the collection as it is now into snapshot `id`: writes only where content or
   * mode differ, deletes, mkdirs (parents first), rmdirs (children first), ordered so each step is valid,
   * with `collection.toml` and `collection.lock` last. Folders holding a nested `.git` are never removed,
   * and a lock the snapshot lacks is left in place (the transaction engine never deletes the lock).
   * Writes nothing; only folders whose tree ids differ from the snapshot's are compared.
   */
  planRestore(idOrLatest: string): Promise<FileChange[]> {
    return this.exclusive(async () => {
      const info = await this.resolve(idOrLatest);
      const current = await this.collectionState();
      if (current.root === info.tree) return [];
      const target: FolderState = { files: new Map(current.files), dirs: new Set(current.dirs) };
      for (const change of await this.diffWorking(current, info.tree)) applyTreeChange(target, change);
      const keptDirs = new Set<string>();
      for (const dir of current.dirs) {
        if (target.dirs.has(dir)) continue;
        if (nodeFs.existsSync(fsPath(path.join(this.collectionDir, dir, '.git')))) {
          keptDirs.add(dir);
          for (const parent of ancestorsOf(dir)) keptDirs.add(parent);
        }
      }
      const symlinkTargets = new Map<string, string>();
      for (const [rel, entry] of target.files) {
        const cur = current.files.get(rel);
        if (entry.kind === 'symlink' && (!cur || cur.sha !== entry.sha || cur.mode !== entry.mode)) {
          symlinkTargets.set(entry.sha, decodeName(await this.readBlob(entry.sha)));
        }
      }
      const { changes, skipped } = planTreeChanges(current, target, {
        keptDirs,
        symlinkTargets,
        load: (sha) => () => this.readBlob(sha),
      });
      for (const rel of skipped) {
        const why =
          rel === 'collection.lock' ? 'the snapshot has no lock file' : 'the folder there holds a .git';
        this.logger.warn(`[Snapshots] restore of ${info.id} leaves ${rel} alone: ${why}`);
      }
      return changes;
    });
  }

  /**
   * File-level differences from `from` to `to` (snapshot ids, or 'working' for the collection now), with
   * empty folders that appear or go. Identical folders are skipped by tree id (git's diff-tree between
   * two snapshots; the same walk in JS against the working collection).
   */
  diffSnapshots(from: string, to: string): Promise<SnapshotDiffEntry[]> {
    return this.exclusive(async () => {
      let changes: TreeChange[];
      if (from === 'working' && to === 'working') changes = [];
      else if (from === 'working')
        changes = await this.diffWorking(await this.collectionState(), (await this.resolve(to)).tree);
      else if (to === 'working') {
        changes = (await this.diffWorking(await this.collectionState(), (await this.resolve(from)).tree)).map(
          reverseChange,
        );
      } else changes = await this.diffTrees((await this.resolve(from)).tree, (await this.resolve(to)).tree);
      const out: SnapshotDiffEntry[] = [];
      for (const c of changes) {
        if (c.srcMode === '040000' || c.dstMode === '040000') {
          // A folder is reported only when it is an empty one appearing or going; files speak for the rest.
          if (c.status === 'A' && c.dstSha === EMPTY_TREE)
            out.push({ rel: c.rel, status: 'added', kind: 'dir' });
          if (c.status === 'D' && c.srcSha === EMPTY_TREE)
            out.push({ rel: c.rel, status: 'deleted', kind: 'dir' });
          continue;
        }
        const kind = (mode: string): TreeEntryKind => (mode === '120000' ? 'symlink' : 'file');
        if (c.status === 'A') out.push({ rel: c.rel, status: 'added', kind: kind(c.dstMode) });
        else if (c.status === 'D') out.push({ rel: c.rel, status: 'deleted', kind: kind(c.srcMode) });
        else out.push({ rel: c.rel, status: 'modified', kind: kind(c.dstMode) });
      }
      return out.sort((x, y) => comparePaths(x.rel, y.rel));
    });
  }

  /** Pins (never pruned) or unpins a snapshot; stored as the ref `refs/pins/<id>`. */
  setPinned(id: string, pinned: boolean): Promise<void> {
    return this.exclusive(async () => {
      const info = await this.resolve(id);
      const ref = assertRefName(`${PIN_REFS}${info.id}`);
      if (pinned) await this.git.run(['update-ref', ref, assertObjectId(info.commit)]);
      else await this.git.run(['update-ref', '-d', ref]);
    });
  }

  /**
   * Retention: keeps the newest `keep` (20), anything younger than `maxAgeDays` (30), always the newest,
   * never a pinned one; deletes the other refs, then `git gc --prune=now`. Returns the removed ids.
   */
  prune(options: PruneOptions = {}): Promise<string[]> {
    return this.exclusive(async () => {
      if (!this.repoExists()) return [];
      const keep = options.keep ?? 20;
      const maxAgeMs = (options.maxAgeDays ?? 30) * 86_400_000;
      const now = (options.now ?? new Date()).getTime();
      const all = await this.list();
      const doomed = all.filter(
        (s, i) => i !== 0 && i >= keep && !s.pinned && now - Date.parse(s.time) >= maxAgeMs,
      );
      if (doomed.length > 0) {
        const input = doomed
          .map((s) => `delete ${assertRefName(`${SNAPSHOT_REFS}${s.id}`)} ${s.commit}\n`)
          .join('');
        await this.git.pipe(['update-ref', '--stdin'], { input });
      }
      if (doomed.length > 0 || options.gc) {
        await this.git.run([
          '-c',
          'gc.reflogExpire=now',
          '-c',
          'gc.reflogExpireUnreachable=now',
          'gc',
          '--prune=now',
          '--quiet',
        ]);
        this.treeCache.clear();
        await this.revalidateIndex();
      }
      this.logger.debug(`[Snapshots] pruned ${doomed.length} of ${all.length}`);
      return doomed.map((s) => s.id);
    });
  }

  /**
   * Records the upstream content of an artifact as the next commit of `refs/upstream/<type>/<name>`, so a
   * later update has its true three-way base offline. `content` is a folder or file path, or a
   * ContentTree (a single-file artifact: one entry). Storing the same tree and sha again is a no-op.
   */
  storeUpstream(
    type: string,
    name: string,
    content: string | ContentTree,
    meta: UpstreamMeta,
  ): Promise<UpstreamRecord> {
    return this.exclusive(async () => {
      const ref = upstreamRef(type, name);
      await this.ensureRepo();
      const state = typeof content === 'string' ? await this.scanPath(content) : this.scanContent(content);
      const previous = (await this.upstreamHistory(ref))[0];
      const fullMeta: UpstreamMeta = { ...meta, time: meta.time ?? new Date().toISOString() };
      const message = `upstream ${type}/${name} ${meta.resolved_version ?? meta.resolved_sha}\n\n${JSON.stringify(fullMeta)}\n`;
      let commit: GitObject | undefined;
      const { root } = await this.writeTrees(state, undefined, (tree) => {
        if (previous && previous.tree === tree && previous.meta.resolved_sha === meta.resolved_sha) return [];
        commit = commitObject(tree, previous?.commit, message, new Date(fullMeta.time ?? Date.now()));
        return [commit];
      });
      if (!commit) return previous as UpstreamRecord;
      await this.git.pipe(['update-ref', '--stdin'], {
        input: `update ${ref} ${commit.sha} ${previous?.commit ?? ZERO_SHA}\n`,
      });
      return { commit: commit.sha, tree: root, meta: fullMeta };
    });
  }

  /**
   * The stored upstream content of an artifact at `resolvedSha` (or the newest stored one), or undefined
   * when none was stored. Paths are relative to the artifact (a single file: its upstream file name).
   */
  async readUpstream(type: string, name: string, resolvedSha?: string): Promise<ContentTree | undefined> {
    if (!this.repoExists()) return undefined;
    const history = await this.upstreamHistory(upstreamRef(type, name));
    const record =
      resolvedSha === undefined ? history[0] : history.find((r) => r.meta.resolved_sha === resolvedSha);
    if (!record) return undefined;
    const { entries } = await this.loadTree(record.tree);
    const out: ContentTree = new Map();
    for (const [rel, entry] of entries) {
      if (entry.kind === 'dir') continue;
      const mode = entry.kind === 'symlink' ? 0o120000 : entry.mode === '100755' ? 0o755 : 0o644;
      out.set(rel, { data: await this.readBlob(entry.sha), mode });
    }
    return out;
  }

  /** Every stored upstream of an artifact, newest first. */
  async listUpstream(type: string, name: string): Promise<UpstreamRecord[]> {
    if (!this.repoExists()) return [];
    return this.upstreamHistory(upstreamRef(type, name));
  }

  /** Ends the `cat-file` process. The store can still be used afterwards (it starts a new one). */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }

  // ---- internals ------------------------------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private repoExists(): boolean {
    return nodeFs.existsSync(path.join(this.gitDir, 'HEAD'));
  }

  /** Creates `.artifact-keeper/` (with its `*` ignore file) and the bare repository, atomically by rename. */
  private async ensureRepo(): Promise<void> {
    if (this.repoExists()) return;
    await io('mkdir', this.stateDir, () => this.fs.mkdir(this.stateDir));
    const ignore = path.join(this.stateDir, '.gitignore');
    if (!nodeFs.existsSync(ignore)) await io('write', ignore, () => this.fs.writeFile(ignore, '*\n'));
    const temp = path.join(
      this.stateDir,
      `${SNAPSHOT_REPO}.init-${process.pid}-${randomBytes(3).toString('hex')}`,
    );
    try {
      const initGit = createGit({ gitDir: temp, ...(this.options.git ?? {}) });
      await initGit.pipe(['init', '--bare', '--quiet', '--template=', '--object-format=sha1']);
      // Empty folders are entries pointing at the empty tree: make sure the object really exists.
      await initGit.pipe(['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' });
      if (this.repoExists()) return; // another process won the race
      await io('rename', this.gitDir, () => this.fs.rename(temp, this.gitDir));
    } finally {
      await this.fs.rm(temp).catch(() => undefined);
    }
  }

  /** The metadata and commit object of a new snapshot of `tree` (an id is drawn here). */
  private prepareSnapshot(
    tree: string,
    fields: Omit<SnapshotMeta, 'id' | 'time' | 'tool'>,
    time: Date,
  ): { meta: SnapshotMeta; commit: GitObject } {
    const meta: SnapshotMeta = {
      id: newSnapshotId(time),
      time: time.toISOString(),
      tool: this.tool,
      ...fields,
    };
    // Each snapshot is a root commit. Chaining it to the previous one would keep every pruned snapshot
    // reachable through its successors, and `gc` could then never free anything: retention wins.
    const commit = commitObject(tree, undefined, `${summaryLine(meta)}\n\n${JSON.stringify(meta)}\n`, time);
    return { meta, commit };
  }

  /** Creates the snapshot's ref (and pin) for a written commit; a clash of ids draws a new one. */
  private async publishSnapshot(
    prepared: { meta: SnapshotMeta; commit: GitObject },
    tree: string,
  ): Promise<SnapshotInfo> {
    for (let attempt = 0; ; attempt++) {
      const { meta, commit } = prepared;
      // `create` refuses an existing ref: two snapshots in the same millisecond with the same suffix.
      let input = `create ${assertRefName(`${SNAPSHOT_REFS}${meta.id}`)} ${commit.sha}\n`;
      if (meta.pinned) input += `create ${assertRefName(`${PIN_REFS}${meta.id}`)} ${commit.sha}\n`;
      const result = await this.git.pipe(['update-ref', '--stdin'], { input, okExitCodes: [0, 128] });
      if (result.exitCode === 0) return toInfo(meta, commit.sha, tree);
      if (attempt >= 3) {
        throw new CoreError({
          code: 'git-failed',
          command: 'update-ref',
          reason: result.stderr.split('\n', 1)[0] ?? '',
        });
      }
      const { id: _id, time, tool: _tool, ...fields } = meta;
      prepared = this.prepareSnapshot(tree, fields, new Date(time));
      await this.writeObjects([prepared.commit]);
    }
  }

  private async upstreamHistory(ref: string): Promise<UpstreamRecord[]> {
    const head = (await this.git.run(['for-each-ref', '--format=%(objectname)', ref])).trim();
    if (!isObjectId(head)) return [];
    const out = await this.git.run(['log', '--no-color', '--format=%H%x1f%T%x1f%B%x1e', head]);
    const records: UpstreamRecord[] = [];
    for (const chunk of out.split('\x1e')) {
      const [commit, tree, body] = chunk.replace(/^\n/, '').split('\x1f');
      if (!commit || !tree || !isObjectId(commit.trim())) continue;
      const json = body?.slice(body.indexOf('\n\n') + 2) ?? '';
      try {
        const meta = JSON.parse(json) as UpstreamMeta;
        if (typeof meta.resolved_sha === 'string') records.push({ commit: commit.trim(), tree, meta });
      } catch {
        this.logger.warn(`[Snapshots] ${ref}: commit ${commit} has no upstream metadata`);
      }
    }
    return records;
  }

  // ---- scanning and tree building -------------------------------------------------------------------

  /**
   * The collection as it is now with every folder's tree id, computed without writing anything (a huge
   * set of changed files is the exception: git hashes those into the repository itself).
   */
  private async collectionState(): Promise<FolderState & { root: string; dirShas: Record<string, string> }> {
    await this.ensureRepo();
    const started = performance.now();
    const index = this.loadIndex();
    const state = await this.scan(this.collectionDir, true, index);
    const built = buildTrees(state, index);
    this.lastScan = {
      files: state.files.size,
      hashed: state.hashed,
      readdirs: state.readdirs,
      treesWritten: 0,
      ms: performance.now() - started,
    };
    return { ...state, root: built.root, dirShas: built.dirShas };
  }

  /**
   * diff-tree's answer for "the collection now → stored tree `target`", without writing the collection's
   * trees: folders are compared by id, and only target folders whose id differs are read (through the
   * cat-file process that restores read blobs from anyway).
   */
  private async diffWorking(
    current: FolderState & { root: string; dirShas: Record<string, string> },
    target: string,
  ): Promise<TreeChange[]> {
    type Entry = { mode: string; sha: string };
    const kids = new Map<string, Map<string, Entry>>();
    const kidsOf = (dir: string): Map<string, Entry> => {
      let map = kids.get(dir);
      if (!map) kids.set(dir, (map = new Map()));
      return map;
    };
    for (const [rel, file] of current.files) kidsOf(parentOf(rel)).set(baseOf(rel), file);
    for (const dir of current.dirs)
      kidsOf(parentOf(dir)).set(baseOf(dir), { mode: '040000', sha: current.dirShas[dir] ?? '' });
    const out: TreeChange[] = [];
    const none = { mode: '000000', sha: ZERO_SHA };
    const record = (rel: string, status: string, src: Entry, dst: Entry): void => {
      out.push({ rel, status, srcMode: src.mode, dstMode: dst.mode, srcSha: src.sha, dstSha: dst.sha });
    };
    const compare = async (
      rel: string,
      ours: string | undefined,
      theirs: string | undefined,
    ): Promise<void> => {
      if (ours === theirs) return;
      const mine =
        ours === undefined ? new Map<string, Entry>() : (kids.get(rel) ?? new Map<string, Entry>());
      const other = theirs === undefined ? new Map<string, Entry>() : await this.readTreeEntries(theirs);
      for (const name of new Set([...mine.keys(), ...other.keys()])) {
        const a = mine.get(name);
        const b = other.get(name);
        const childRel = rel ? `${rel}/${name}` : name;
        if (a && b && a.sha === b.sha && a.mode === b.mode) continue;
        if (b) assertSafeRel(childRel, `tree ${target}`);
        const aTree = a?.mode === '040000';
        const bTree = b?.mode === '040000';
        if (a && b && aTree && bTree) {
          record(childRel, 'M', a, b);
          await compare(childRel, a.sha, b.sha);
        } else if (a && b && !aTree && !bTree) {
          record(childRel, (a.mode === '120000') === (b.mode === '120000') ? 'M' : 'T', a, b);
        } else {
          if (a) {
            record(childRel, 'D', a, none);
            if (aTree) await compare(childRel, a.sha, undefined);
          }
          if (b) {
            record(childRel, 'A', none, b);
            if (bTree) await compare(childRel, undefined, b.sha);
          }
        }
      }
    };
    await compare('', current.root, target);
    return out;
  }

  /** One tree object's entries by name (modes as diff-tree prints them: `040000` for folders). */
  private async readTreeEntries(tree: string): Promise<Map<string, { mode: string; sha: string }>> {
    this.reader ??= this.git.openObjectReader();
    const object = await this.reader.read(tree);
    if (!object || object.type !== 'tree') {
      throw new CoreError({
        code: 'git-failed',
        command: 'cat-file',
        reason: `no tree ${tree} in the snapshot repository`,
      });
    }
    const entries = new Map<string, { mode: string; sha: string }>();
    const data = object.data;
    let at = 0;
    while (at < data.length) {
      const space = data.indexOf(0x20, at);
      const nul = data.indexOf(0, space);
      if (space < 0 || nul < 0 || nul + 21 > data.length) {
        throw new CoreError({ code: 'git-failed', command: 'cat-file', reason: `tree ${tree} is malformed` });
      }
      const mode = data.toString('latin1', at, space).padStart(6, '0');
      const name = decodeName(data, space + 1, nul);
      entries.set(name, { mode, sha: data.toString('hex', nul + 1, nul + 21) });
      at = nul + 21;
    }
    return entries;
  }

  /**
   * Scans the collection and writes its changed blobs and folder trees (plus `extra` objects made from
   * the root tree id): the tree id of the collection as it is now. If the stat index points at objects
   * that are gone (git checks every link it writes), it starts over without the index: a snapshot is
   * never built on missing objects.
   */
  private async collectionTree(extra?: (root: string) => GitObject[]): Promise<{
    state: ScanResult;
    root: string;
    treesWritten: number;
    dirShas: Record<string, string>;
  }> {
    await this.ensureRepo();
    const started = performance.now();
    const index = this.loadIndex();
    let result: { state: ScanResult; root: string; treesWritten: number; dirShas: Record<string, string> };
    try {
      const state = await this.scan(this.collectionDir, true, index);
      result = { state, ...(await this.writeTrees(state, index, extra)) };
    } catch (err) {
      // Only git refusing the objects qualifies, not an injected fault (which carries its errno as cause).
      const refused = err instanceof CoreError && err.code === 'git-failed' && err.cause === undefined;
      if (!index || !refused) throw err;
      // revalidateIndex after gc is the first line of defence; this is the last.
      this.logger.warn(
        `[Snapshots] the stat index points at missing objects; hashing everything (${err.message})`,
      );
      const state = await this.scan(this.collectionDir, true, undefined);
      result = { state, ...(await this.writeTrees(state, undefined, extra)) };
    }
    this.lastScan = {
      files: result.state.files.size,
      hashed: result.state.hashed,
      readdirs: result.state.readdirs,
      treesWritten: result.treesWritten,
      ms: performance.now() - started,
    };
    return result;
  }

  /** `git diff-tree -r -t` between two trees: every blob and folder entry that differs. */
  private async diffTrees(from: string, to: string): Promise<TreeChange[]> {
    if (from === to) return [];
    const result = await this.git.pipe([
      'diff-tree',
      '-r',
      '-t',
      '-z',
      '--raw',
      '--no-renames',
      '--no-commit-id',
      assertObjectId(from),
      assertObjectId(to),
    ]);
    const out = result.stdout;
    const changes: TreeChange[] = [];
    // NUL-separated pairs: the raw line, then the path as bytes (decoded losslessly).
    for (let at = 0; at < out.length;) {
      const metaEnd = out.indexOf(0, at);
      const relEnd = metaEnd < 0 ? -1 : out.indexOf(0, metaEnd + 1);
      if (relEnd < 0) break;
      const meta = out.toString('latin1', at, metaEnd);
      const rel = decodeName(out, metaEnd + 1, relEnd);
      at = relEnd + 1;
      const [srcMode, dstMode, srcSha, dstSha, status] = meta.replace(/^:/, '').split(' ');
      if (!srcMode || !dstMode || !srcSha || !dstSha || !status) {
        throw new CoreError({
          code: 'git-failed',
          command: 'diff-tree',
          reason: `unexpected output "${meta}"`,
        });
      }
      assertSafeRel(rel, `tree ${to}`);
      changes.push({ rel, status: status.charAt(0), srcMode, dstMode, srcSha, dstSha });
    }
    return changes;
  }

  /**
   * Walks `root` (skipping every `.git`, and `.artifact-keeper` at the top) and finds each file's blob:
   * from the stat index when its stat is unchanged and not racy, else by hashing it. A few changed files
   * are hashed here and left `pending` (written with the trees); many go through `git hash-object`.
   */
  private async scan(root: string, skipStateDir: boolean, index: StatIndex | undefined): Promise<ScanResult> {
    const files = new Map<string, ScannedFile>();
    const records = new Map<string, IndexedFile>();
    const toHash: { rel: string; record: IndexedFile; isSymlink: boolean }[] = [];
    const trustedBefore = (index?.writtenAt ?? 0) - RACY_WINDOW_MS;
    const walked = walkFolder(root, skipStateDir, index, (rel, st, isSymlink) => {
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
    const bytes = toHash.reduce((sum, { record }) => sum + record.size, 0);
    if (toHash.length > 0 && bytes <= JS_HASH_MAX_BYTES) {
      for (const { rel, record, isSymlink } of toHash) {
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
    } else if (toHash.length > 0) {
      const shas = await this.hashObjects(
        toHash.map(({ rel, isSymlink }) => {
          const abs = absolutePath(root, rel);
          return isSymlink ? nodeFs.readlinkSync(fsPath(abs), { encoding: 'buffer' }) : abs;
        }),
      );
      toHash.forEach(({ rel, record, isSymlink }, i) => {
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
      hashed: toHash.length,
      readdirs: walked.readdirs,
      records,
      dirStamps: walked.dirStamps,
    };
  }

  /** A folder (like a collection) or a single file (a tree holding just it, under its base name). */
  private async scanPath(source: string): Promise<FolderState> {
    const abs = path.resolve(source);
    const target = fsPath(abs);
    const st = nodeFs.lstatSync(target);
    if (st.isDirectory()) return this.scan(abs, false, undefined);
    const blob = gitObject(
      'blob',
      st.isSymbolicLink() ? nodeFs.readlinkSync(target, { encoding: 'buffer' }) : nodeFs.readFileSync(target),
    );
    const mode = gitModeOf(st.mode);
    return {
      files: new Map([
        [path.basename(abs), { mode, sha: blob.sha, kind: mode === '120000' ? 'symlink' : 'file' }],
      ]),
      dirs: new Set(),
      pending: [blob],
    };
  }

  private scanContent(content: ContentTree): FolderState {
    const files = new Map<string, ScannedFile>();
    const dirs = new Set<string>();
    const pending: GitObject[] = [];
    for (const [rel, file] of content) {
      assertSafeRel(rel, 'upstream tree');
      const blob = gitObject('blob', file.data);
      const mode: GitMode = file.mode === 0o120000 ? '120000' : file.mode & 0o111 ? '100755' : '100644';
      files.set(rel, { mode, sha: blob.sha, kind: mode === '120000' ? 'symlink' : 'file' });
      for (const parent of ancestorsOf(rel)) dirs.add(parent);
      pending.push(blob);
    }
    return { files, dirs, pending };
  }

  /**
   * Writes blobs with one `git hash-object -w --stdin-paths`: a string is a file to read, a Buffer is
   * content (a symlink target, an in-memory file), staged in a temp folder under `.artifact-keeper/`.
   */
  private async hashObjects(items: readonly (string | Buffer)[]): Promise<string[]> {
    if (items.length === 0) return [];
    let temp: string | undefined;
    try {
      const paths: string[] = [];
      for (const [i, item] of items.entries()) {
        if (typeof item === 'string') {
          paths.push(item);
          continue;
        }
        if (!temp) {
          temp = path.join(this.stateDir, `tmp-hash-${process.pid}-${randomBytes(4).toString('hex')}`);
          const dir = temp;
          await io('mkdir', dir, () => this.fs.mkdir(dir));
        }
        const file = path.join(temp, String(i));
        await io('write', file, () => this.fs.writeFile(file, item));
        paths.push(file);
      }
      const args = ['hash-object', '-w', '--no-filters', '--stdin-paths'];
      const result = await this.git.pipe(args, {
        input: paths.map((p) => `${quoteForStdinPaths(p)}\n`).join(''),
      });
      const shas = result.stdout.toString('utf8').split('\n').filter(Boolean);
      if (shas.length !== items.length || !shas.every(isObjectId)) {
        throw new CoreError({
          code: 'git-failed',
          command: 'hash-object',
          reason: `expected ${items.length} ids, got ${shas.length}`,
        });
      }
      return shas;
    } finally {
      if (temp) await this.fs.rm(temp).catch(() => undefined);
    }
  }

  /**
   * Builds the tree objects of the folders that changed since `basis` (all of them without one) in JS,
   * and writes them, the state's pending blobs and `extra` objects (a commit of the root) with one
   * `git unpack-objects --strict`, which checks every object and that every link resolves.
   */
  private async writeTrees(
    state: FolderState,
    basis: TreeBasis | undefined,
    extra?: (root: string) => GitObject[],
  ): Promise<{ root: string; treesWritten: number; dirShas: Record<string, string> }> {
    const built = buildTrees(state, basis);
    const seen = new Set<string>([EMPTY_TREE]);
    const trees = built.trees.filter((tree) => !seen.has(tree.sha) && seen.add(tree.sha));
    await this.writeObjects([
      ...(state.pending ?? []),
      ...trees.map((tree): GitObject => ({ type: 'tree', data: tree.body, sha: tree.sha })),
      ...(extra?.(built.root) ?? []),
    ]);
    return { root: built.root, treesWritten: trees.length, dirShas: built.dirShas };
  }

  /**
   * Writes objects made in JS through git, which verifies them (format, links) before keeping any: a few
   * as loose objects, many as one pack (as git itself does with `transfer.unpackLimit`), which is far
   * faster than thousands of loose files for a first snapshot.
   */
  private async writeObjects(all: readonly GitObject[]): Promise<void> {
    // Files with the same content are one blob: a pack must hold each object once (index-pack refuses a
    // pack with an object twice; many artifacts added from one source share every file).
    const seen = new Set<string>();
    const objects = all.filter((object) => !seen.has(object.sha) && seen.add(object.sha));
    if (objects.length === 0) return;
    const args =
      objects.length < UNPACK_LIMIT
        ? ['unpack-objects', '-q', this.strict]
        : ['index-pack', '--stdin', this.strict];
    await this.git.pipe(args, { input: packObjects(objects) });
  }

  private async loadTree(tree: string): Promise<LoadedTree> {
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

  // ---- the stat index -------------------------------------------------------------------------------

  private repoIdentity(): string {
    const st = nodeFs.statSync(path.join(this.gitDir, 'objects'));
    return `${st.ino}:${st.birthtimeMs}`;
  }

  /** The stat index when it is valid for this repository; undefined means "hash everything". */
  private loadIndex(): StatIndex | undefined {
    let stamp: string;
    try {
      const st = nodeFs.statSync(this.indexFile);
      // The repository's identity is part of the key: a recreated repository never inherits the old shas.
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}:${this.repoIdentity()}`;
    } catch {
      return undefined;
    }
    const cached = parsedIndexes.get(this.indexFile);
    if (cached?.stamp === stamp) return cached.value;
    try {
      const raw = JSON.parse(nodeFs.readFileSync(this.indexFile, 'utf8')) as StatIndexFile;
      if (raw.version !== INDEX_VERSION || raw.repo !== this.repoIdentity()) return undefined;
      const f = raw.files;
      const d = raw.dirs;
      const lengths = [f.size, f.mtime, f.ctime, f.ino, f.mode, f.sha].map((column) => column.length);
      const dirLengths = [d.mtime, d.ctime, d.ino, d.tree].map((column) => column.length);
      if (lengths.some((n) => n !== f.rel.length) || dirLengths.some((n) => n !== d.rel.length))
        return undefined;
      const files = new Map<string, IndexedFile>();
      f.rel.forEach((rel, i) => {
        files.set(rel, {
          size: f.size[i] as number,
          mtimeMs: f.mtime[i] as number,
          ctimeMs: f.ctime[i] as number,
          ino: f.ino[i] as number,
          mode: f.mode[i] as number,
          sha: f.sha[i] as string,
        });
      });
      const dirs = new Map<string, IndexedDir>();
      d.rel.forEach((rel, i) => {
        dirs.set(rel, {
          mtimeMs: d.mtime[i] as number,
          ctimeMs: d.ctime[i] as number,
          ino: d.ino[i] as number,
          tree: d.tree[i] as string,
        });
      });
      const value: StatIndex = { writtenAt: raw.writtenAt, files, dirs };
      parsedIndexes.set(this.indexFile, { value, stamp });
      return value;
    } catch {
      // A torn or foreign index only costs a full re-hash.
      return undefined;
    }
  }

  /** Records what a snapshot saw: every file's stat and blob, every folder's stamps and tree. */
  private async saveIndex(state: ScanResult, dirShas: Record<string, string>): Promise<void> {
    const dirs = new Map<string, IndexedDir>();
    for (const [rel, stamp] of state.dirStamps) {
      const tree = dirShas[rel];
      if (tree) dirs.set(rel, { mtimeMs: stamp.mtimeMs, ctimeMs: stamp.ctimeMs, ino: stamp.ino, tree });
    }
    await this.writeIndex({ writtenAt: Date.now(), files: state.records, dirs });
  }

  /**
   * Replaces the stat index (temp + rename through the Fs port). No fsync: losing it costs one full
   * re-hash, and the rename never leaves a torn file in its place.
   */
  private async writeIndex(value: StatIndex): Promise<void> {
    const raw: StatIndexFile = {
      version: INDEX_VERSION,
      repo: this.repoIdentity(),
      writtenAt: value.writtenAt,
      files: { rel: [], size: [], mtime: [], ctime: [], ino: [], mode: [], sha: [] },
      dirs: { rel: [], mtime: [], ctime: [], ino: [], tree: [] },
    };
    for (const [rel, r] of value.files) {
      raw.files.rel.push(rel);
      raw.files.size.push(r.size);
      raw.files.mtime.push(r.mtimeMs);
      raw.files.ctime.push(r.ctimeMs);
      raw.files.ino.push(r.ino);
      raw.files.mode.push(r.mode);
      raw.files.sha.push(r.sha);
    }
    for (const [rel, r] of value.dirs) {
      raw.dirs.rel.push(rel);
      raw.dirs.mtime.push(r.mtimeMs);
      raw.dirs.ctime.push(r.ctimeMs);
      raw.dirs.ino.push(r.ino);
      raw.dirs.tree.push(r.tree);
    }
    const temp = `${this.indexFile}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`;
    try {
      await io('write', temp, () => this.fs.writeFile(temp, JSON.stringify(raw)));
      await io('rename', this.indexFile, () => this.fs.rename(temp, this.indexFile));
    } catch (err) {
      // Like every failed write, it fails the operation (the previous index stays valid either way).
      await this.fs.unlink(temp).catch(() => undefined);
      throw err;
    }
    const st = nodeFs.statSync(this.indexFile);
    parsedIndexes.set(this.indexFile, { value, stamp: `${st.size}:${st.mtimeMs}:${st.ino}:${raw.repo}` });
  }

  /**
   * After gc: drop index entries whose objects were pruned (the snapshot the index describes may have
   * been), so the next snapshot re-hashes and rebuilds them instead of pointing at nothing.
   */
  private async revalidateIndex(): Promise<void> {
    const index = this.loadIndex();
    if (!index) return;
    const shas = [
      ...new Set([
        ...[...index.files.values()].map((r) => r.sha),
        ...[...index.dirs.values()].map((r) => r.tree),
      ]),
    ];
    if (shas.length === 0) return;
    const result = await this.git.pipe(['cat-file', '--batch-check=%(objectname)'], {
      input: shas.map((sha) => `${sha}\n`).join(''),
    });
    const present = new Set(result.stdout.toString('utf8').split('\n').filter(isObjectId));
    if (shas.every((sha) => present.has(sha))) return;
    const files = new Map([...index.files].filter(([, r]) => present.has(r.sha)));
    const dirs = new Map([...index.dirs].filter(([, r]) => present.has(r.tree)));
    await this.writeIndex({ writtenAt: index.writtenAt, files, dirs });
  }
}

/**
 * Parsed stat indexes by file, shared by the stores of one process (the extension opens one per
 * operation). Keyed by the file's size, mtime and inode, so a write by another process is always seen.
 */
const parsedIndexes = new Map<string, { value: StatIndex; stamp: string }>();

// ---- walking --------------------------------------------------------------------------------------

const NO_CHILDREN = { files: [] as string[], dirs: [] as string[] };
const childrenCache = new WeakMap<StatIndex, Map<string, { files: string[]; dirs: string[] }>>();

function childrenOf(index: StatIndex): Map<string, { files: string[]; dirs: string[] }> {
  let map = childrenCache.get(index);
  if (map) return map;
  map = new Map();
  const entry = (dir: string): { files: string[]; dirs: string[] } => {
    let found = map?.get(dir);
    if (!found) {
      found = { files: [], dirs: [] };
      map?.set(dir, found);
    }
    return found;
  };
  for (const rel of index.files.keys()) entry(parentOf(rel)).files.push(rel);
  for (const rel of index.dirs.keys()) if (rel !== '') entry(parentOf(rel)).dirs.push(rel);
  childrenCache.set(index, map);
  return map;
}

/**
 * Walks `root` as walkSync does with keepSymlinks (each file and symlink with its stat, to `onFile`; `.git`
 * skipped at any depth, `.artifact-keeper` at the top), returning every folder's stamps. A folder whose stamps match the
 * index, outside the racy window, is not read again: creating, removing or renaming an entry always
 * moves its folder's mtime, so its entries are the index's (git's untracked cache rests on the same rule).
 * Unsorted: the callers key everything by path.
 */
function walkFolder(
  root: string,
  skipStateDir: boolean,
  index: StatIndex | undefined,
  onFile: (rel: string, st: nodeFs.Stats, isSymlink: boolean) => void,
): { dirStamps: Map<string, DirStamp>; readdirs: number } {
  const dirStamps = new Map<string, DirStamp>();
  const children = index ? childrenOf(index) : undefined;
  const trustedBefore = (index?.writtenAt ?? 0) - RACY_WINDOW_MS;
  let readdirs = 0;
  const visit = (abs: string, rel: string, st: nodeFs.Stats): void => {
    dirStamps.set(rel, { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
    const known = index?.dirs.get(rel);
    if (
      known &&
      known.mtimeMs === st.mtimeMs &&
      known.ctimeMs === st.ctimeMs &&
      known.ino === st.ino &&
      Math.max(st.mtimeMs, st.ctimeMs) < trustedBefore
    ) {
      const kids = children?.get(rel) ?? NO_CHILDREN;
      const found: [string, nodeFs.Stats][] = [];
      const subdirs: [string, string, nodeFs.Stats][] = [];
      let intact = true;
      for (const fileRel of kids.files) {
        const fst = lstatOrUndefined(absolutePath(root, fileRel));
        if (!fst || !(fst.isFile() || fst.isSymbolicLink())) {
          intact = false;
          break;
        }
        found.push([fileRel, fst]);
      }
      for (const dirRel of intact ? kids.dirs : []) {
        const dirAbs = absolutePath(root, dirRel);
        const dst = lstatOrUndefined(dirAbs);
        if (!dst?.isDirectory()) {
          intact = false;
          break;
        }
        subdirs.push([dirAbs, dirRel, dst]);
      }
      // Only a folder touched within its mtime tick can get here with a changed entry; list it then.
      if (intact) {
        for (const [fileRel, fst] of found) onFile(fileRel, fst, fst.isSymbolicLink());
        for (const [dirAbs, dirRel, dst] of subdirs) visit(dirAbs, dirRel, dst);
        return;
      }
    }
    readdirs++;
    for (const entry of readDirSync(abs)) {
      const name = entry.name;
      if (name === '.git' || (skipStateDir && rel === '' && name === STATE_DIR)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      const childAbs = path.join(abs, name);
      if (entry.isDirectory()) visit(childAbs, childRel, nodeFs.lstatSync(fsPath(childAbs)));
      else if (entry.isFile() || entry.isSymbolicLink()) {
        onFile(childRel, nodeFs.lstatSync(fsPath(childAbs)), entry.isSymbolicLink());
      }
    }
  };
  visit(root, '', nodeFs.statSync(root));
  return { dirStamps, readdirs };
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

// ---- pure helpers ---------------------------------------------------------------------------------

const NUL = Buffer.from([0]);

interface LoadedTree extends FolderState {
  entries: SnapshotTree;
}

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

/** What the previous snapshot left in the stat index: file records and each folder's tree id. */
type TreeBasis = Pick<StatIndex, 'files' | 'dirs'>;

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
    for (const [rel, file] of state.files) {
      const before = basis.files.get(rel);
      if (!before || before.sha !== file.sha || gitModeOf(before.mode) !== file.mode)
        markDirty(parentOf(rel));
    }
    for (const rel of basis.files.keys()) if (!state.files.has(rel)) markDirty(parentOf(rel));
    for (const dir of state.dirs) if (!basis.dirs.has(dir)) markDirty(dir);
    for (const dir of basis.dirs.keys()) if (dir !== '' && !state.dirs.has(dir)) markDirty(parentOf(dir));
    if (!basis.dirs.has('')) markDirty('');
  }
  const children = new Map<string, BuiltEntry[]>();
  for (const dir of dirty) children.set(dir, []);
  for (const [rel, file] of state.files) {
    const list = children.get(parentOf(rel));
    if (list) {
      const name = nameBytes(baseOf(rel));
      list.push({ name, key: name, mode: file.mode, sha: file.sha });
    }
  }
  const subdirs = new Map<string, string[]>();
  for (const dir of state.dirs) {
    const parent = parentOf(dir);
    if (!dirty.has(parent)) continue;
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
    const body = Buffer.concat(
      entries.flatMap((e) => [
        Buffer.from(`${e.mode === '040000' ? '40000' : e.mode} `),
        e.name,
        NUL,
        Buffer.from(e.sha, 'hex'),
      ]),
    );
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

/** Runs an Fs port call, turning a Node error into CoreError `io-failed` (a CoreError passes through). */
export async function io<T>(op: string, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof CoreError ? err : ioFailure(op, target, err);
  }
}

/**
 * Changed files up to this total size are read and hashed in JS and written with the trees by one git
 * process; beyond it (a huge first snapshot) git reads them itself, keeping memory bounded.
 */
const JS_HASH_MAX_BYTES = 256 * 1024 * 1024;
/** Fewer objects than this are written loose, more as a pack (git's default `transfer.unpackLimit`). */
const UNPACK_LIMIT = 100;

/**
 * fsck checks that protect a git checkout — `.git`-like names (`.GIT`, `git~1`), the contents of
 * `.gitmodules` and `.gitattributes` — and mean nothing to a store whose trees we restore ourselves: left
 * on, one such file in a collection would make every snapshot, and so every update, fail. Every other
 * check (object format, links, sorting, duplicates) stays strict. An id a git does not know is fatal
 * there, so each list starts at the version that has it (the `.gitattributes` checks came with 2.39.1;
 * older gits backported them, and there a `.gitattributes` with a line over 2 KiB still fails a snapshot).
 */
const CHECKOUT_ONLY_FSCK: readonly (readonly [since: string, ids: readonly string[]])[] = [
  [
    '2.30.0',
    [
      'hasDot',
      'hasDotdot',
      'hasDotgit',
      'fullPathname',
      'gitmodulesName',
      'gitmodulesUrl',
      'gitmodulesPath',
      'gitmodulesUpdate',
      'gitmodulesSymlink',
      'gitmodulesBlob',
      'gitmodulesLarge',
    ],
  ],
  ['2.39.1', ['gitattributesLarge', 'gitattributesLineLength', 'gitattributesBlob']],
];

export function strictFsck(gitVersion: string): string {
  const ids = CHECKOUT_ONLY_FSCK.filter(([since]) => compareVersions(gitVersion, since) >= 0).flatMap(
    ([, list]) => list,
  );
  return `--strict=${ids.map((id) => `${id}=ignore`).join(',')}`;
}

function objectId(type: GitObject['type'], data: Buffer): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

function gitObject(type: GitObject['type'], data: Buffer): GitObject {
  return { type, data, sha: objectId(type, data) };
}

/** A commit as `git commit-tree` writes it, by the fixed snapshot identity at `time` (UTC). */
function commitObject(tree: string, parent: string | undefined, message: string, time: Date): GitObject {
  const ident = `${SNAPSHOT_IDENTITY.name} <${SNAPSHOT_IDENTITY.email}> ${Math.floor(time.getTime() / 1000)} +0000`;
  const parentLine = parent ? `parent ${assertObjectId(parent)}\n` : '';
  const text = `tree ${assertObjectId(tree)}\n${parentLine}author ${ident}\ncommitter ${ident}\n\n${message}`;
  return gitObject('commit', Buffer.from(text, 'utf8'));
}

const PACK_TYPES: Record<GitObject['type'], number> = { commit: 1, tree: 2, blob: 3 };

/** A version 2 pack of whole (undeltified) objects, as `git unpack-objects` reads it. */
function packObjects(objects: readonly GitObject[]): Buffer {
  const header = Buffer.alloc(12);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [header];
  for (const object of objects) {
    // Type and size: 3 type bits and 4 size bits, then 7 size bits per byte while the high bit is set.
    let size = object.data.length;
    const bytes: number[] = [];
    let byte = (PACK_TYPES[object.type] << 4) | (size & 0x0f);
    size = Math.floor(size / 16);
    while (size > 0) {
      bytes.push(byte | 0x80);
      byte = size & 0x7f;
      size = Math.floor(size / 128);
    }
    bytes.push(byte);
    parts.push(Buffer.from(bytes), deflateSync(object.data, { level: 1 }));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

/** The same change seen from the other side. */
function reverseChange(change: TreeChange): TreeChange {
  const status = change.status === 'A' ? 'D' : change.status === 'D' ? 'A' : change.status;
  return {
    rel: change.rel,
    status,
    srcMode: change.dstMode,
    dstMode: change.srcMode,
    srcSha: change.dstSha,
    dstSha: change.srcSha,
  };
}

/** Applies one diff-tree line to a folder state (turning the `from` side into the `to` side). */
function applyTreeChange(state: FolderState, change: TreeChange): void {
  const { rel, status, srcMode, dstMode, dstSha } = change;
  if (srcMode === '040000' && (status === 'D' || dstMode !== '040000')) state.dirs.delete(rel);
  else if (srcMode !== '000000' && srcMode !== '040000' && (status === 'D' || dstMode === '040000')) {
    state.files.delete(rel);
  }
  if (status === 'D') return;
  if (dstMode === '040000') state.dirs.add(rel);
  else if (dstMode === '100644' || dstMode === '100755' || dstMode === '120000') {
    state.files.set(rel, { mode: dstMode, sha: dstSha, kind: dstMode === '120000' ? 'symlink' : 'file' });
  }
}

function gitModeOf(statMode: number): GitMode {
  if ((statMode & 0o170000) === 0o120000) return '120000';
  return statMode & 0o111 ? '100755' : '100644';
}

/** Git's order: bytes of the name, a folder compared as if its name ended in '/'. */
function compareTreeEntries(a: BuiltEntry, b: BuiltEntry): number {
  return Buffer.compare(a.key, b.key);
}

export interface PlanTreeOptions {
  /** Folders that must stay (they hold a `.git`), with their ancestors. */
  keptDirs: ReadonlySet<string>;
  /** blob sha → symlink target text, for every symlink to write. */
  symlinkTargets: ReadonlyMap<string, string>;
  load: (sha: string) => () => Promise<Uint8Array>;
}

const LOCK_FILE_NAME = 'collection.lock';
const LAST_FILES = ['collection.toml', LOCK_FILE_NAME];

/**
 * The change list from `current` to `target`, in an order where every step is valid on its own: deletes,
 * rmdirs (children first), mkdirs (parents first), writes; `collection.toml` then `collection.lock` last.
 */
export function planTreeChanges(
  current: FolderState,
  target: FolderState,
  options: PlanTreeOptions,
): { changes: FileChange[]; skipped: string[] } {
  const deletes: string[] = [];
  const writes: string[] = [];
  const skipped: string[] = [];
  for (const [rel, cur] of current.files) {
    const want = target.files.get(rel);
    if (!want) deletes.push(rel);
    else if (want.sha !== cur.sha || want.mode !== cur.mode) writes.push(rel);
  }
  for (const rel of target.files.keys()) {
    if (current.files.has(rel)) continue;
    if (options.keptDirs.has(rel)) skipped.push(rel);
    else writes.push(rel);
  }
  const rmdirs = [...current.dirs].filter((d) => !target.dirs.has(d) && !options.keptDirs.has(d));
  const mkdirs = [...target.dirs].filter((d) => !current.dirs.has(d));
  deletes.sort(comparePaths);
  writes.sort(comparePaths);
  rmdirs.sort((a, b) => comparePaths(b, a));
  mkdirs.sort(comparePaths);

  const writeOf = (rel: string): FileChange => {
    const entry = target.files.get(rel) as ScannedFile;
    if (entry.kind === 'symlink') {
      const linkTarget = options.symlinkTargets.get(entry.sha);
      if (linkTarget === undefined) throw new Error(`symlink target of ${rel} was not loaded`);
      return { kind: 'write', rel, data: nameBytes(linkTarget), mode: 0o777, symlinkTarget: linkTarget };
    }
    return {
      kind: 'write',
      rel,
      data: options.load(entry.sha),
      mode: entry.mode === '100755' ? 0o755 : 0o644,
    };
  };
  const isLast = (rel: string): boolean => LAST_FILES.includes(rel);
  const changes: FileChange[] = [
    ...deletes.filter((r) => !isLast(r)).map((rel): FileChange => ({ kind: 'delete', rel })),
    ...rmdirs.map((rel): FileChange => ({ kind: 'rmdir', rel })),
    ...mkdirs.map((rel): FileChange => ({ kind: 'mkdir', rel })),
    ...writes.filter((r) => !isLast(r)).map(writeOf),
  ];
  // The lock's rename is the transaction's commit point, so its write comes last, after the manifest's.
  // The engine refuses to delete the lock (nothing could follow the commit point), so a snapshot without
  // one leaves the current lock in place and says so.
  for (const rel of LAST_FILES) {
    if (writes.includes(rel)) changes.push(writeOf(rel));
    else if (deletes.includes(rel) && rel === LOCK_FILE_NAME) skipped.push(rel);
    else if (deletes.includes(rel)) changes.push({ kind: 'delete', rel });
  }
  return { changes, skipped };
}

function newestFirst(a: SnapshotInfo, b: SnapshotInfo): number {
  return b.time.localeCompare(a.time) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** `s` + 9 base36 digits of epoch ms + 3 random base36 digits. */
export function newSnapshotId(time: Date = new Date()): string {
  const random = Array.from(randomBytes(3), (b) => (b % 36).toString(36)).join('');
  return `s${Math.max(0, time.getTime()).toString(36).padStart(9, '0')}${random}`;
}

function summaryLine(meta: SnapshotMeta): string {
  const text = `${meta.trigger}: ${meta.reason}`.replace(/\s+/g, ' ').trim();
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}

/** The JSON after the summary line, or undefined when the message is not ours. */
function parseSnapshotMessage(message: string): SnapshotMeta | undefined {
  const at = message.indexOf('\n\n');
  if (at < 0) return undefined;
  try {
    const meta = JSON.parse(message.slice(at + 2)) as Partial<SnapshotMeta>;
    if (typeof meta.id !== 'string' || !SNAPSHOT_ID.test(meta.id) || typeof meta.time !== 'string')
      return undefined;
    return {
      id: meta.id,
      reason: typeof meta.reason === 'string' ? meta.reason : '',
      trigger: typeof meta.trigger === 'string' ? meta.trigger : 'user',
      artifacts: Array.isArray(meta.artifacts)
        ? meta.artifacts.filter((a): a is string => typeof a === 'string')
        : [],
      time: meta.time,
      tool: typeof meta.tool === 'string' ? meta.tool : '',
      pinned: meta.pinned === true,
      ...(typeof meta.txId === 'string' ? { txId: meta.txId } : {}),
      ...(meta.origin && typeof meta.origin === 'object' ? { origin: meta.origin } : {}),
    };
  } catch {
    return undefined;
  }
}

function toInfo(meta: SnapshotMeta, commit: string, tree: string): SnapshotInfo {
  return {
    id: meta.id,
    commit,
    tree,
    reason: meta.reason,
    trigger: meta.trigger,
    artifacts: meta.artifacts,
    time: meta.time,
    pinned: meta.pinned,
    tool: meta.tool,
    ...(meta.txId ? { txId: meta.txId } : {}),
    ...(meta.origin ? { origin: meta.origin } : {}),
  };
}

/**
 * `refs/upstream/<type>/<name>`; the name is percent-encoded outside [A-Za-z0-9_-] so any artifact name
 * (spaces, dots, unicode) makes a valid, unambiguous ref.
 */
function upstreamRef(type: string, name: string): string {
  if (!isArtifactType(type))
    throw new CoreError({
      code: 'artifact-name-invalid',
      name: `${type}/${name}`,
      reason: `unknown type "${type}"`,
    });
  if (name.length === 0) throw new CoreError({ code: 'artifact-name-invalid', name, reason: 'empty name' });
  const encoded = Array.from(Buffer.from(name, 'utf8'), (byte) => {
    const ch = String.fromCharCode(byte);
    return /[A-Za-z0-9_-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  return assertRefName(`${UPSTREAM_REFS}${type}/${encoded}`);
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
 * `hash-object --stdin-paths` reads one path per line and C-unquotes a line starting with '"': quote
 * the paths a bare line cannot carry (newline, CR at the end, a leading quote, bytes that are not
 * UTF-8, which go as octal escapes).
 */
export function quoteForStdinPaths(p: string): string {
  if (!isRawName(p) && !p.startsWith('"') && !/[\x00-\x1f]/.test(p)) return p;
  const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' };
  const octal = (byte: number): string => `\\${byte.toString(8).padStart(3, '0')}`;
  const escaped = p.replace(/[\\"\x00-\x1f]|[\uDC80-\uDCFF]/gu, (ch) => {
    const unit = ch.charCodeAt(0);
    return named[ch] ?? octal(unit >= 0xdc80 ? unit - 0xdc00 : unit);
  });
  return `"${escaped}"`;
}

export function ancestorsOf(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function depth(rel: string): number {
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}
