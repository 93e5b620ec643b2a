/**
 * The snapshot store (DESIGN §4): a bare repository at `.artifact-keeper/snapshots.git` whose commits are
 * snapshots of the collection minus `.artifact-keeper/` and every `.git`. Trees are built by the store,
 * never by `git add`, so ignore files and nested repositories change nothing; it never writes a collection file.
 * Tree entries are bytes and names are kept in the lossless string form of fileNames.ts, so any name a
 * file system holds (not UTF-8, a newline, a tab, a backslash, a leading dash) is stored and restored exactly.
 * This module is the facade: it owns the repository's creation, one operation at a time, retention and
 * restore planning, and delegates to snapshotRefs, baseRefs, treeScan, statIndex, trees, treeDiff, gitObjects.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import type { CopyOf, FileChange, Logger } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { decodeName, fsPath } from '../base/fileNames.js';
import { systemClock } from '../base/time.js';
import { traced, tracedSync } from '../base/trace.js';
import type { Clock } from '../base/time.js';
import { ancestors } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { LARGE_FILE_BYTES } from '../model/largeFiles.js';
import type { FaultPlan } from '../ports/faults.js';
import type { Fs } from '../ports/fs.js';
import { assertObjectId, checkGitVersion, createGit } from '../ports/git.js';
import type { Git } from '../ports/git.js';
import type { KeptObjectReaders } from '../ports/keptReaders.js';
import { BaseRefs, upstreamRef } from './baseRefs.js';
import type {
  DeployedCopy,
  ProjectImage,
  StoredTreeReading,
  UpstreamMeta,
  UpstreamRecord,
} from './baseRefs.js';
import { gitObject, GitObjects, io, strictFsck } from './gitObjects.js';
import { ObjectFolder } from './looseObjects.js';
import type { GitObject } from './gitObjects.js';
import { isSafetySnapshot, SnapshotRefs } from './snapshotRefs.js';
import type { CreateSnapshotOptions, SnapshotInfo, SnapshotMeta, SnapshotOrigin } from './snapshotRefs.js';
import { SNAPSHOT_INDEX_FILE, StatIndexFile } from './statIndex.js';
import {
  applyTreeChange,
  diffEntries,
  diffTrees,
  diffWorking,
  planTreeChanges,
  reverseChange,
} from './treeDiff.js';
import type { SnapshotDiffEntry, TreeChange } from './treeDiff.js';
import { CollectionScanner, isRefusedObjects, scanFolder } from './treeScan.js';
import type { Pause, ScanResult, ScanStats, TreeAhead } from './treeScan.js';
import { StoredTrees, writeTrees } from './trees.js';
import type { FolderState, SnapshotTree } from './trees.js';

export const SNAPSHOT_REPO = 'snapshots.git';

export interface PruneOptions {
  /** The newest unpinned snapshots to keep (default 20); the newest of all is kept whatever this says. */
  keep?: number;
  /** Also keep snapshots younger than this many days; unset or 0 (the default): no age rule. */
  maxAgeDays?: number;
  /** Ids never pruned by this run (the snapshots the operation that runs retention just took). */
  protect?: readonly string[];
  now?: Date;
  /** Run `git gc --prune=now` even when no snapshot was removed (default: only when some were). */
  gc?: boolean;
  /**
   * Amortised collection (retention after every operation): delete the refs now, but run the gc only
   * once this many snapshots were pruned since the last one (counted in `PRUNED_SINCE_GC_FILE`). Unset:
   * collect whenever a snapshot was removed. `gc: true` collects regardless.
   */
  gcEvery?: number;
  /**
   * A process that lives on (the daemon): a gc that is due is left to this callback (which runs
   * `collectIfDue` later, under the writer lock) instead of being run before the operation returns.
   */
  collectLater?: () => void;
}

/**
 * Snapshots pruned since the last `git gc` (a decimal count in the store repo). Only a hint: lost or
 * unreadable, it counts as "due", so the worst a crash costs is one early gc, never lost garbage.
 */
export const PRUNED_SINCE_GC_FILE = 'pruned-since-gc';

export interface SnapshotStoreOptions {
  fs: Fs;
  logger: Logger;
  git?: { fault?: FaultPlan; env?: NodeJS.ProcessEnv; binary?: string };
  /** Recorded in every snapshot, e.g. `artifact-keeper 0.1.0`. */
  tool?: string;
  /** Times of snapshots and stored upstream bases (default: the system clock). */
  clock?: Clock;
  /**
   * Scans of the collection take the stamps the stat index knows on two threads (`statMany`): for a
   * process that lives on (the extension). Off by default: a new process pays more to start the helper
   * than it saves.
   */
  parallelStat?: boolean;
  /** A process that lives on: its `cat-file` readers kept from one operation to the next (keptReaders.ts). */
  keptReaders?: KeptObjectReaders;
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
  get lastScan(): ScanStats | undefined {
    return this.scanner.lastScan;
  }

  /** The port every write of this store (and of its archive import/export) goes through. */
  readonly fs: Fs;
  readonly logger: Logger;
  private readonly git: Git;
  private readonly clock: Clock;
  private readonly objects: GitObjects;
  private readonly trees: StoredTrees;
  private readonly statIndex: StatIndexFile;
  private readonly scanner: CollectionScanner;
  private readonly refs: SnapshotRefs;
  private readonly bases: BaseRefs;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly collectionDir: string,
    private readonly options: SnapshotStoreOptions,
    /** The `--strict=…` argument of the object writes, for this git version (see strictFsck). */
    strict: string,
  ) {
    this.fs = options.fs;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.stateDir = path.join(collectionDir, STATE_DIR);
    this.gitDir = path.join(this.stateDir, SNAPSHOT_REPO);
    this.git = createGit({
      gitDir: this.gitDir,
      ...(options.git ?? {}),
      ...(options.keptReaders ? { keptReaders: options.keptReaders } : {}),
    });
    this.objects = new GitObjects(
      this.git,
      strict,
      this.fs,
      this.stateDir,
      new ObjectFolder(this.gitDir, this.fs),
    );
    this.trees = new StoredTrees(this.git, this.logger);
    const indexFile = path.join(this.stateDir, SNAPSHOT_INDEX_FILE);
    this.statIndex = new StatIndexFile(indexFile, this.gitDir, this.fs, this.git);
    this.scanner = new CollectionScanner(
      collectionDir,
      this.objects,
      this.statIndex,
      this.logger,
      options.parallelStat ?? false,
    );
    this.refs = new SnapshotRefs(
      this.git,
      this.objects,
      this.fs,
      this.logger,
      options.tool ?? 'artifact-keeper',
    );
    this.bases = new BaseRefs(this.git, this.objects, this.fs, this.logger, this.clock);
  }

  /** Snapshots the collection as it is now. Cheap when little changed: only files whose stat changed are hashed. */
  create(options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    return this.exclusive(async () => {
      const fields = snapshotFields(options);
      let prepared: { meta: SnapshotMeta; commit: GitObject } | undefined;
      // The commit goes into the same object pack as the blobs and trees: one git process writes them all.
      const { state, root, dirShas } = await this.collectionTree((tree) => {
        prepared = this.refs.prepareSnapshot(tree, fields, this.clock.now());
        return [prepared.commit];
      });
      // The index first: if it cannot be written, the operation fails before any snapshot exists.
      if (this.scanner.indexNeedsSaving(state))
        await traced('save the stat index', () => this.statIndex.saveIndex(state, dirShas));
      const info = await traced('publish the snapshot ref', () =>
        this.refs.publishSnapshot(prepared as { meta: SnapshotMeta; commit: GitObject }, root),
      );
      const stats = this.lastScan as ScanStats;
      this.logger.debug(
        `[Snapshots] ${info.id} (${info.trigger}: ${info.reason}): ${stats.files} files, ${stats.hashed} hashed, ${stats.readdirs} folders listed, ${stats.treesWritten} trees written, ${stats.ms.toFixed(0)} ms`,
      );
      return info;
    });
  }

  /**
   * Reads the stat index into the process's cache before a snapshot needs it: an update does it while
   * git resolves the ref, when its main thread only waits. The snapshot still stats the index file and
   * reads it again if it changed since (`loadIndex` keys its cache by size, mtime and inode). Best effort.
   */
  loadIndexAhead(): void {
    try {
      if (this.repoExists()) tracedSync('load the stat index', () => this.statIndex.loadIndex());
    } catch {
      // The snapshot reads the index itself, and reports what it must.
    }
  }

  /**
   * The first half of `create`, done ahead of time (an update scans while it fetches: snapshotAhead.ts):
   * the collection scanned and its new blobs and trees made, in memory; nothing is written until
   * `publishScanned`, so an update refused after its fetch leaves the store as it was. Undefined when
   * that cannot be done (no store or stat index yet, or files only git should hash): `create` then.
   */
  scanAhead(pause: Pause): Promise<TreeAhead | undefined> {
    return this.exclusive(async () => (this.repoExists() ? this.scanner.treeAhead(pause) : undefined));
  }

  /**
   * The snapshot of a `scanAhead`, as `create` would have made it: its objects and commit (dated now)
   * written, the stat index saved, the ref published. Undefined, with nothing published, when git
   * refuses the objects (the stat index pointed at objects that are gone): `create` then starts over.
   */
  publishScanned(scanned: TreeAhead, options: CreateSnapshotOptions): Promise<SnapshotInfo | undefined> {
    return this.exclusive(async () => {
      const { state, root, objects, dirShas } = scanned;
      const prepared = this.refs.prepareSnapshot(root, snapshotFields(options), this.clock.now());
      try {
        await traced('write the trees', () => this.objects.writeObjects([...objects, prepared.commit]));
      } catch (err) {
        if (isRefusedObjects(err)) return undefined;
        throw err;
      }
      if (this.scanner.indexNeedsSaving(state))
        await traced('save the stat index', () => this.statIndex.saveIndex(state, dirShas));
      const info = await traced('publish the snapshot ref', () => this.refs.publishSnapshot(prepared, root));
      this.logger.debug(`[Snapshots] ${info.id} (${info.trigger}: ${info.reason}): scanned ahead`);
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
      const state = await scanFolder(this.objects, folder, true, undefined);
      const fields = { ...snapshotFields(options), ...(options.origin ? { origin: options.origin } : {}) };
      let prepared: { meta: SnapshotMeta; commit: GitObject } | undefined;
      const { root } = await writeTrees(this.objects, state, undefined, (tree) => {
        prepared = this.refs.prepareSnapshot(
          tree,
          fields,
          options.time ?? this.clock.now(),
          options.time ? 'then' : 'now',
        );
        return [prepared.commit];
      });
      return this.refs.publishSnapshot(prepared as { meta: SnapshotMeta; commit: GitObject }, root);
    });
  }

  /** All snapshots, newest first. */
  async list(): Promise<SnapshotInfo[]> {
    if (!this.repoExists()) return [];
    return this.refs.list();
  }

  /**
   * 'latest', an id, or a unique id prefix → the snapshot. 'latest' is the newest snapshot in creation
   * order that is not a restore's safety snapshot (`isSafetySnapshot`): otherwise a second `restore latest`
   * would restore the first one's safety snapshot and flip the collection back. Throws `snapshot-not-found`
   * (also when ambiguous).
   */
  async resolve(idOrLatest: string): Promise<SnapshotInfo> {
    const all = await this.list();
    if (idOrLatest === 'latest') {
      const newest = all.find((s) => !isSafetySnapshot(s));
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
    return (await this.trees.loadTree(info.tree)).entries;
  }

  /** Same as readTree for a raw tree object (an upstream tree, say). */
  async readTreeObject(tree: string): Promise<SnapshotTree> {
    return (await this.trees.loadTree(assertObjectId(tree))).entries;
  }

  /** A blob's bytes, through one long-lived `cat-file --batch`. Throws `git-failed` when the object is missing. */
  readBlob(sha: string): Promise<Buffer> {
    return this.objects.readBlob(sha);
  }

  /** A blob's bytes, or, with `spill` and LARGE_FILE_BYTES or more, the file `spill` named for them. */
  private async readBlobOrFile(sha: string, spill?: (name: string) => string): Promise<Buffer | CopyOf> {
    if (!spill) return this.readBlob(sha);
    const read = await this.objects.readBlobSpilling(sha, {
      over: LARGE_FILE_BYTES - 1,
      file: () => spill(`blob-${sha}`),
    });
    return Buffer.isBuffer(read) ? read : { copyOf: read.file };
  }

  /**
   * The changes that turn the collection as it is now into snapshot `id`: writes only where content or
   * mode differ, deletes, mkdirs (parents first), rmdirs (children first), ordered so each step is valid,
   * with `collection.toml` and `collection.lock` last. Folders holding a nested `.git` are never removed,
   * and a lock the snapshot lacks is left in place (the transaction engine never deletes the lock).
   * Writes nothing; only folders whose tree ids differ from the snapshot's are compared. Files are read
   * when the transaction stages them, a few at a time; with `spill`, a large one goes to the new file it
   * names and is copied from there, so memory stays bounded whatever the file's size.
   */
  planRestore(idOrLatest: string, spill?: (name: string) => string): Promise<FileChange[]> {
    return this.exclusive(async () => {
      const info = await this.resolve(idOrLatest);
      const current = await this.collectionState();
      if (current.root === info.tree) return [];
      const target: FolderState = { files: new Map(current.files), dirs: new Set(current.dirs) };
      for (const change of await diffWorking(this.objects, current, info.tree))
        applyTreeChange(target, change);
      const keptDirs = new Set<string>();
      for (const dir of current.dirs) {
        if (target.dirs.has(dir)) continue;
        if (nodeFs.existsSync(fsPath(path.join(this.collectionDir, dir, '.git')))) {
          keptDirs.add(dir);
          for (const parent of ancestors(dir)) keptDirs.add(parent);
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
        load: (sha) => () => this.readBlobOrFile(sha, spill),
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
        changes = await diffWorking(
          this.objects,
          await this.collectionState(),
          (await this.resolve(to)).tree,
        );
      else if (to === 'working') {
        changes = (
          await diffWorking(this.objects, await this.collectionState(), (await this.resolve(from)).tree)
        ).map(reverseChange);
      } else
        changes = await diffTrees(this.git, (await this.resolve(from)).tree, (await this.resolve(to)).tree);
      return diffEntries(changes);
    });
  }

  /** Pins (never pruned) or unpins a snapshot; stored as the ref `refs/pins/<id>`. */
  setPinned(id: string, pinned: boolean): Promise<void> {
    return this.exclusive(async () => {
      await this.refs.setPinned(await this.resolve(id), pinned);
    });
  }

  /**
   * Retention: keeps the newest `keep` (20), anything younger than `maxAgeDays` when set, always the
   * newest and the `protect`ed, never a pinned one; deletes the other refs, then `git gc --prune=now`
   * (with `gcEvery`, only once enough pruned snapshots' garbage has accumulated).
   * "Newest" is creation order (the ids), never the clock. Returns the removed ids.
   */
  prune(options: PruneOptions = {}): Promise<string[]> {
    return this.exclusive(async () => {
      if (!this.repoExists()) return [];
      const keep = options.keep ?? 20;
      const maxAgeMs = (options.maxAgeDays ?? 0) * 86_400_000;
      const protect = new Set(options.protect ?? []);
      // The snapshots' times come from the clock, so their age is measured on it too.
      const now = (options.now ?? this.clock.now()).getTime();
      const all = await this.list();
      // `all` is in creation order, so "the newest" holds whatever the clock did; an age keeps a snapshot
      // only when a maximum age is set at all (0: exactly the newest `keep`).
      const young = (s: SnapshotInfo): boolean => maxAgeMs > 0 && now - Date.parse(s.time) < maxAgeMs;
      // `keep` counts unpinned snapshots only: `--keep 3` means exactly the 3 newest unpinned ones.
      let unpinnedSeen = 0;
      const doomed = all.filter((s, i) => {
        if (s.pinned) return false;
        unpinnedSeen++;
        return i !== 0 && unpinnedSeen > keep && !young(s) && !protect.has(s.id);
      });
      if (doomed.length > 0) await this.refs.deleteSnapshots(doomed);
      if (doomed.length > 0 || options.gc) {
        const pending = await this.prunedSinceGc(doomed.length);
        if (!options.gc && options.gcEvery !== undefined && pending < options.gcEvery) {
          this.logger.debug(`[Snapshots] pruned ${doomed.length} of ${all.length}; gc deferred (${pending})`);
          return doomed.map((s) => s.id);
        }
        if (!options.gc && options.collectLater) {
          this.logger.debug(`[Snapshots] pruned ${doomed.length} of ${all.length}; gc due, left for later`);
          options.collectLater();
          return doomed.map((s) => s.id);
        }
        await this.collect();
      }
      this.logger.debug(`[Snapshots] pruned ${doomed.length} of ${all.length}`);
      return doomed.map((s) => s.id);
    });
  }

  /**
   * Blobs of contents the collection holds now (what a transaction just wrote), stored ahead of the
   * snapshot that will take them: that scan then finds each stored and writes it no more (the manifest
   * and lock of a 2,000-artifact collection, 1.4 MB, cost every update's snapshot 15–20 ms to deflate
   * and write). Objects only, no ref: garbage a gc removes if no snapshot ever takes them. Nothing when
   * the repository does not exist yet. The caller is the collection's writer.
   */
  storeBlobs(contents: readonly Uint8Array[]): Promise<void> {
    return this.exclusive(async () => {
      if (!this.repoExists()) return;
      await this.objects.writeObjects(
        contents.map((data) => gitObject('blob', Buffer.from(data.buffer, data.byteOffset, data.byteLength))),
      );
    });
  }

  /**
   * The gc retention left for later (`PruneOptions.collectLater`), run when it is still due: `gcEvery`
   * snapshots pruned since the last one (another process may have collected since). Whether it ran.
   */
  collectIfDue(gcEvery: number): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.repoExists() || (await this.prunedSinceGc(0)) < gcEvery) return false;
      await this.collect();
      return true;
    });
  }

  /** `git gc --prune=now`: the pruned snapshots' objects collected, the count of them reset. */
  private async collect(): Promise<void> {
    // Through pipe: a quiet gc prints nothing, and `run` then waits 50 ms more (see Git.run).
    await this.git.pipe([
      '-c',
      'gc.reflogExpire=now',
      '-c',
      'gc.reflogExpireUnreachable=now',
      'gc',
      '--prune=now',
      '--quiet',
    ]);
    this.trees.clear();
    await this.statIndex.revalidateIndex();
    await this.writePrunedSinceGc(0);
  }

  /** Adds `removed` to the pruned-since-gc count and returns the new count (unreadable: due at once). */
  private async prunedSinceGc(removed: number): Promise<number> {
    const file = path.join(this.gitDir, PRUNED_SINCE_GC_FILE);
    let count = 0;
    if (nodeFs.existsSync(file)) {
      const text = (await io('read', file, () => this.fs.readFile(file))).toString('utf8');
      count = /^\d+\n?$/.test(text) ? Number.parseInt(text, 10) : Number.MAX_SAFE_INTEGER;
    }
    count = Math.min(Number.MAX_SAFE_INTEGER, count + removed);
    if (removed > 0) await this.writePrunedSinceGc(count);
    return count;
  }

  private async writePrunedSinceGc(count: number): Promise<void> {
    const file = path.join(this.gitDir, PRUNED_SINCE_GC_FILE);
    await io('write', file, () => this.fs.writeFile(file, `${count}\n`));
  }

  /**
   * Records the upstream content of an artifact as the next commit of `refs/upstream/<type>/<name>`, so a
   * later update has its true three-way base offline. `content` is a folder or file path, or a
   * Tree (a single-file artifact: one entry). Storing the same tree and sha again is a no-op.
   */
  storeUpstream(
    type: string,
    name: string,
    content: string | Tree,
    meta: UpstreamMeta,
  ): Promise<UpstreamRecord> {
    return this.exclusive(async () => {
      const ref = upstreamRef(type, name);
      await this.ensureRepo();
      return this.bases.storeUpstream(ref, type, name, content, meta);
    });
  }

  /** `storeUpstream` for several artifacts at once: one ref transaction for all of them. */
  storeUpstreams(
    items: readonly { type: string; name: string; content: string | Tree; meta: UpstreamMeta }[],
  ): Promise<UpstreamRecord[]> {
    return this.exclusive(async () => {
      await this.ensureRepo();
      return this.bases.storeUpstreams(
        items.map((item) => ({ ...item, ref: upstreamRef(item.type, item.name) })),
      );
    });
  }

  /**
   * The stored upstream content of an artifact at `resolvedSha` (or the newest stored one), or undefined
   * when none was stored. Paths are relative to the artifact (a single file: its upstream file name).
   */
  async readUpstream(
    type: string,
    name: string,
    resolvedSha?: string,
    /** Where large files go, and files already in hand that need not be read (`StoredTreeReading`). */
    reading?: StoredTreeReading,
    /** Only content stored from this source (the lock's `upstream` string), when given. */
    source?: string,
  ): Promise<Tree | undefined> {
    if (!this.repoExists()) return undefined;
    return this.bases.readUpstream(type, name, resolvedSha, reading, source);
  }

  /**
   * Stored files by blob id (a snapshot's copy of an artifact, say), keyed as the caller wants them;
   * `reading` as for `readUpstream`: files in hand are not read, large ones go to files.
   */
  async readFiles(
    files: readonly (readonly [string, { sha: string; mode: number }])[],
    reading?: StoredTreeReading,
  ): Promise<Tree> {
    const out: Tree = new Map();
    for (const [rel, { sha, mode }] of files)
      out.set(rel, await this.bases.readStoredFile(rel, sha, mode, reading));
    return out;
  }

  /** Every stored upstream of an artifact, newest first. */
  async listUpstream(type: string, name: string): Promise<UpstreamRecord[]> {
    if (!this.repoExists()) return [];
    return this.bases.upstreamHistory(upstreamRef(type, name));
  }

  /**
   * Whether the upstream content of an artifact at `sha` (from exactly `source`, when given) is stored:
   * its history read from the newest end until it is found.
   */
  async hasUpstream(type: string, name: string, sha: string, source?: string): Promise<boolean> {
    if (!this.repoExists()) return false;
    return (await this.bases.findUpstream(upstreamRef(type, name), sha, source)) !== undefined;
  }

  /** Records copies as deployed into a project (baseRefs.ts): the bases of their next redeploy and pull. */
  storeDeployed(copies: readonly DeployedCopy[]): Promise<void> {
    return this.exclusive(async () => {
      await this.ensureRepo();
      await this.bases.storeDeployed(copies);
    });
  }

  /** The copy of an artifact deployed with `contentHash`, or undefined (`reading`: as for `readUpstream`). */
  async readDeployed(
    type: string,
    name: string,
    contentHash: string,
    reading?: StoredTreeReading,
  ): Promise<Tree | undefined> {
    if (!this.repoExists()) return undefined;
    return this.bases.readDeployed(type, name, contentHash, reading);
  }

  /** Stores the project paths a transaction changes as they were before it; returns the commit. */
  storeProjectImage(txId: string, image: ProjectImage): Promise<string> {
    return this.exclusive(async () => {
      await this.ensureRepo();
      return this.bases.storeProjectImage(txId, image);
    });
  }

  readProjectImage(commit: string): Promise<ProjectImage> {
    return this.bases.readProjectImage(commit);
  }

  /** Ends the `cat-file` process. The store can still be used afterwards (it starts a new one). */
  close(): void {
    this.objects.close();
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

  /** The collection now, with every folder's tree id; writes nothing but the repository, if missing. */
  private async collectionState(): Promise<FolderState & { root: string; dirShas: Record<string, string> }> {
    await this.ensureRepo();
    return this.scanner.collectionState();
  }

  /** Writes the collection's changed blobs and trees (and `extra` objects made from the root tree id). */
  private async collectionTree(
    extra?: (root: string) => GitObject[],
  ): Promise<{ state: ScanResult; root: string; treesWritten: number; dirShas: Record<string, string> }> {
    await this.ensureRepo();
    return this.scanner.collectionTree(extra);
  }
}

/** The metadata a snapshot records from the options it was taken with. */
function snapshotFields(options: CreateSnapshotOptions): Omit<SnapshotMeta, 'id' | 'time' | 'tool'> {
  return {
    reason: options.reason,
    trigger: options.trigger,
    artifacts: [...(options.artifacts ?? [])],
    pinned: options.pinned ?? false,
    ...(options.txId ? { txId: options.txId } : {}),
  };
}
