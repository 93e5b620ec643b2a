/**
 * The prepare step of an update (DESIGN §5 steps 4–5): resolve and fetch each upstream into a temp
 * workspace, read the true base, classify every file against it and fingerprint the inputs. No writes to
 * the collection, no lock; `update.ts` resolves and applies the plan.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId, LAYOUT, parseArtifactRef } from '../model/artifact.js';
import { heldFile, readTree, treeDigest, withoutNoise } from '../model/artifactTree.js';
import { throwIfAborted } from '../base/abort.js';
import { traced, tracedSync } from '../base/trace.js';
import { isUnchangedOnDisk, loadCollectionCaching } from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import { getEntry } from '../model/lock.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type { ArtifactUpdatePlan, OperationOptions, UpdatePlan } from './operations.js';
import { classify } from './plan.js';
import { lfsWarning } from '../model/lfsPointers.js';
import type { Strategy, Tree } from './plan.js';
import { storeOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { SnapshotAhead } from './snapshotAhead.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { fetchSource, sourceFromUpstream, upstreamBatch, upstreamString } from '../sources/sources.js';
import type { FetchedSource, RemoteSource, ResolvedSource, UpstreamBatch } from '../sources/sources.js';
import { withWriter } from '../txn/transaction.js';
import { hasJournal } from '../txn/journal.js';
import { releaseTmpDir, spillSpace, sweepStaleTemp, tmpDir } from '../ports/tempSpace.js';

export interface ArtifactInternals {
  entry: ArtifactEntry;
  source: RemoteSource;
  resolved: ResolvedSource;
  base?: Tree;
  mine: Tree;
  upstream: Tree;
  keptDirs: string[];
  /** Digest of the inputs this artifact's plan was made from. */
  inputs: string;
}

export interface InternalPlan extends UpdatePlan {
  internals: Map<string, ArtifactInternals>;
  /** The collection as parsed for the plan; handed to apply once, while its files are unchanged. */
  collection: Collection | undefined;
  /**
   * The snapshot store the plan read, still open, for the apply of a one-shot update (`keepStore`): its
   * `cat-file` process serves the snapshot too. Closed by `dispose`.
   */
  store?: SnapshotStore;
  /**
   * With `store`: the snapshot before the update, scanned while the plan fetched (snapshotAhead.ts),
   * started when the first artifact turned out changed upstream. Settled by `dispose`.
   */
  ahead?: SnapshotAhead;
}

/** The artifacts an update of `refs` works on; each must have an upstream (else `upstream-invalid`). */
export function selectForUpdate(collection: Collection, refs: readonly string[] | 'all'): ArtifactEntry[] {
  const entries = selectArtifacts(collection, refs);
  const local = entries.find((entry) => !entry.upstream);
  if (local) {
    throw new CoreError({
      code: 'upstream-invalid',
      artifact: artifactId(local),
      reason: 'it has no upstream (origin local)',
    });
  }
  return entries;
}

/** Finds manifest entries by `type/name` or `name` (ambiguous across types → error). */
export function selectArtifacts(collection: Collection, refs: readonly string[] | 'all'): ArtifactEntry[] {
  if (refs === 'all') return collection.manifest.artifacts.filter((a) => a.upstream);
  return refs.map((text) => {
    const ref = parseArtifactRef(text);
    const matches = collection.manifest.artifacts.filter(
      (a) =>
        (a.name === ref.name || a.name === ref.name.replace(/\.(md|txt|json|ya?ml)$/, '')) &&
        (!ref.type || a.type === ref.type),
    );
    if (matches.length === 0) throw new CoreError({ code: 'artifact-not-found', artifact: text });
    if (matches.length > 1) {
      throw new CoreError({
        code: 'artifact-ambiguous',
        artifact: text,
        candidates: matches.map((m) => artifactId(m)),
      });
    }
    return matches[0] as ArtifactEntry;
  });
}

export function isFolderArtifact(collectionDir: string, entry: ArtifactEntry): boolean {
  const st = fs.statSync(path.join(collectionDir, entry.path), { throwIfNoEntry: false });
  if (st) return st.isDirectory();
  return LAYOUT[entry.type].shape === 'dir';
}

/** Re-keys a single-file tree to the local file's name, so base, mine and upstream line up. */
export function singleFileTree(tree: Tree, name: string): Tree {
  const only = [...tree.values()][0];
  return only ? new Map([[name, only]]) : new Map();
}

export function inputsDigest(collection: Collection, entry: ArtifactEntry, mine: Tree): string {
  const lockEntry = getEntry(collection.lock, entry);
  return createHash('sha256')
    .update(JSON.stringify([entry.raw, lockEntry?.raw ?? null]))
    .update(treeDigest(mine))
    .digest('hex');
}

/**
 * Resolves and fetches every selected artifact's upstream and plans each file. Writes nothing to the
 * collection (only a temp workspace under `.artifact-keeper/tmp`, removed by `dispose`) and takes no
 * lock. Throws what loading, resolving and fetching throw; the workspace never leaks.
 */
export async function prepareUpdate(
  collectionDir: string,
  refs: readonly string[] | 'all',
  strategy: Strategy,
  opts: OperationOptions,
  /** A new version spec for these artifacts (`--to v2`): resolved instead of the manifest's, and recorded. */
  to?: string,
  /**
   * `locked`: the caller holds the writer lock; `checked`: its preflight load, used if still current;
   * `keepGoing` (`update --all`): an artifact that cannot be resolved or fetched, or is conflicted, goes
   * to `failed` and the others are planned.
   */
  internalOptions: {
    locked?: boolean;
    checked?: Collection;
    keepGoing?: boolean;
    workDir?: string;
    /** Leave the snapshot store open in the plan (`InternalPlan.store`) for an apply that follows at once. */
    keepStore?: boolean;
  } = {},
): Promise<UpdatePlan> {
  const dir = path.resolve(collectionDir);
  // An interrupted transaction is recovered before anything is read: a plan of half-applied files
  // would only be refused as stale at apply time.
  if (!internalOptions.locked && hasJournal(dir))
    await withWriter(dir, writerOptions(opts, 'update'), async () => undefined);
  const checked = internalOptions.checked;
  const collection = await traced('prepare: collection', async () =>
    checked && isUnchangedOnDisk(checked) ? checked : loadCollectionCaching(dir, opts.fs),
  );
  const entries = selectForUpdate(collection, refs);
  // A dry run brings its own workspace outside the collection: it writes nothing there, not even temp.
  const work = internalOptions.workDir ?? tmpDir(dir);
  if (!internalOptions.workDir) sweepStaleTemp(dir);
  const internals = new Map<string, ArtifactInternals>();
  const artifacts: ArtifactUpdatePlan[] = [];
  const failed: UpdatePlan['failed'] = [];
  const fetchedAll: FetchedSource[] = [];
  // Each upstream resolved once per run; with several artifacts, paths diffed once per repository.
  const batch = upstreamBatch({
    workDir: work,
    signal: opts.signal,
    logger: opts.logger,
    faults: opts.faults,
  });
  const diffFirst = entries.length > 1;
  // Large files of the stored bases are written here rather than read into memory (made when one is).
  const spilled = spillSpace(work, 'base-');
  const spill = (name: string): string => spilled.file(name);
  let kept: SnapshotStore | undefined;
  let ahead: SnapshotAhead | undefined;
  const dispose = async (): Promise<void> => {
    await ahead?.settle();
    kept?.close();
    await Promise.all(fetchedAll.map((f) => f.dispose().catch(() => undefined)));
    await batch.dispose().catch(() => undefined);
    spilled.dispose();
    if (!internalOptions.workDir) releaseTmpDir(dir);
  };
  const store = await traced('open the snapshot store (git --version)', () =>
    openSnapshotStore(dir, storeOptions(opts)),
  );
  // An apply follows at once, under the same lock: its snapshot can be scanned while the plan fetches.
  if (internalOptions.keepStore && opts.scanAhead !== false) ahead = new SnapshotAhead(store);
  const changing = (): void => ahead?.start();
  // That snapshot's stat index is read while the first ref resolves, a wait of the main thread: the
  // immediate runs once the resolve has started its git process.
  if (internalOptions.keepStore && strategy !== 'keep') setImmediate(() => store.loadIndexAhead());
  try {
    if (diffFirst && strategy !== 'keep')
      await traced('prefetch the changed artifacts', () =>
        prefetchChanged(collection, entries, to, store, batch, changing),
      );
    for (const entry of entries) {
      const id = artifactId(entry);
      throwIfAborted(opts.signal);
      try {
        const planned = await planArtifact(
          dir,
          work,
          collection,
          entry,
          strategy,
          opts,
          to,
          store,
          fetchedAll,
          diffFirst ? batch : { resolve: batch.resolve },
          spill,
          changing,
        );
        artifacts.push(planned.plan);
        internals.set(id, planned.internals);
      } catch (err) {
        if (!internalOptions.keepGoing || !isArtifactFailure(err)) throw err;
        opts.logger.warn(`[Update] ${id}: ${err.message}`);
        failed.push({ id, error: err });
      }
    }
  } catch (err) {
    await ahead?.settle();
    store.close();
    await dispose();
    throw err;
  }
  if (internalOptions.keepStore) kept = store;
  else store.close();
  const fingerprint = createHash('sha256')
    .update(strategy)
    .update(
      JSON.stringify(
        [...internals].map(([id, i]) => [
          id,
          i.inputs,
          i.resolved.sha,
          treeDigest(i.base),
          treeDigest(i.upstream),
        ]),
      ),
    )
    .digest('hex');
  const plan: InternalPlan = {
    collectionDir: dir,
    strategy,
    artifacts,
    fingerprint,
    failed,
    selected: entries.map((e) => artifactId(e)),
    dispose,
    internals,
    collection,
    ...(kept ? { store: kept } : {}),
    ...(kept && ahead ? { ahead } : {}),
  };
  return plan;
}

/**
 * A failure that belongs to one artifact (its upstream, its content, its unfinished merge): `update
 * --all` reports it and goes on. Anything else — a full disk, a permission, git failing locally,
 * cancellation — would fail the others too, and stops the whole update with nothing written.
 */
export function isArtifactFailure(err: unknown): err is CoreError {
  return (
    err instanceof CoreError &&
    [
      'upstream-unreachable',
      'upstream-invalid',
      'source-invalid',
      'validation-failed',
      'conflicted',
    ].includes(err.failure.code)
  );
}

/**
 * The two ends of an artifact's update: the upstream source to resolve (`to` instead of the manifest's
 * version spec when given) and the commit the lock pins now, with the lock entry itself.
 */
function updateEnds(
  collection: Collection,
  entry: ArtifactEntry,
  to: string | undefined,
): { lockEntry: ReturnType<typeof getEntry>; source: RemoteSource; currentSha: string | undefined } {
  const lockEntry = getEntry(collection.lock, entry);
  return {
    lockEntry,
    source: sourceFromUpstream(entry.upstream as string, to ?? entry.versionSpec),
    currentSha: lockEntry?.resolvedSha ?? entry.resolvedSha,
  };
}

/**
 * `update --all`'s first pass: which artifacts changed upstream (each repository resolved, fetched and
 * diffed once), so the blobs of their new content, and of their base when the store has none, come in
 * one fetch per repository before the artifacts are planned one by one. An artifact's own failure (its
 * upstream unreachable, say) is left for its planning to report; a local one (full disk, the store
 * failing, cancellation) stops the update, as it would anywhere else.
 */
async function prefetchChanged(
  collection: Collection,
  entries: readonly ArtifactEntry[],
  to: string | undefined,
  store: Awaited<ReturnType<typeof openSnapshotStore>>,
  batch: UpstreamBatch,
  /** Called before the fetch, when some artifact changed upstream. */
  changing: () => void,
): Promise<void> {
  const wanted: { source: RemoteSource; sha: string }[] = [];
  for (const entry of entries) {
    try {
      const { lockEntry, source, currentSha } = updateEnds(collection, entry, to);
      if (lockEntry?.conflicted || currentSha === undefined) continue;
      const resolved = await batch.resolve(source);
      if ((await batch.unchanged(source, currentSha, resolved.sha)) !== false) continue;
      // What planning will read from the store (storedUpstream, loadBase) needs no blobs.
      if (
        !(await store.hasUpstream(entry.type, entry.name, resolved.sha, upstreamString(source, resolved.sha)))
      )
        wanted.push({ source, sha: resolved.sha });
      if (!(await store.hasUpstream(entry.type, entry.name, currentSha)))
        wanted.push({ source, sha: currentSha });
    } catch (err) {
      // The artifact's own trouble is for its planning to report; a local one stops the update here.
      if (!isArtifactFailure(err)) throw err;
    }
  }
  if (wanted.length > 0) changing();
  await batch.prefetch(wanted);
}

/** Plans one artifact: resolve, fetch, read the base, classify (DESIGN §5 steps 4–5). */
async function planArtifact(
  dir: string,
  work: string,
  collection: Collection,
  entry: ArtifactEntry,
  strategy: Strategy,
  opts: OperationOptions,
  to: string | undefined,
  store: Awaited<ReturnType<typeof openSnapshotStore>>,
  fetchedAll: FetchedSource[],
  batch: Pick<UpstreamBatch, 'resolve'> & Partial<Pick<UpstreamBatch, 'unchanged' | 'fetch'>>,
  spill: (name: string) => string,
  /** Called before the artifact's new content is fetched (not when the store holds it). */
  changing: () => void,
): Promise<{ plan: ArtifactUpdatePlan; internals: ArtifactInternals }> {
  const id = artifactId(entry);
  const { lockEntry, source, currentSha } = updateEnds(collection, entry, to);
  const localRoot = path.join(dir, entry.path);
  const isFolder = isFolderArtifact(dir, entry);
  const local = tracedSync('read the local files', () => readTree(localRoot, isFolder));
  const fileName = path.basename(entry.path);
  const mine = isFolder ? local.tree : singleFileTree(local.tree, fileName);
  const from = {
    ...(currentSha ? { sha: currentSha } : {}),
    ...(entry.resolvedVersion ? { version: entry.resolvedVersion } : {}),
  };
  if (strategy === 'keep') {
    // Keep is a skip: nothing resolved, nothing fetched, and nothing for the apply to write.
    return {
      plan: {
        id,
        name: entry.name,
        type: entry.type,
        isFolder,
        from,
        to: from,
        upToDate: false,
        kept: true,
        baseKnown: false,
        files: [],
        localRoot,
      },
      internals: {
        entry,
        source,
        resolved: {
          sha: currentSha ?? '',
          ref: currentSha ?? '',
          versionSpec: entry.versionSpec ?? 'latest',
        },
        mine,
        upstream: new Map(),
        keptDirs: local.keptDirs,
        inputs: inputsDigest(collection, entry, mine),
      },
    };
  }
  if (lockEntry?.conflicted) {
    throw new CoreError({
      code: 'conflicted',
      artifact: id,
      reason: 'a merge is unfinished; `resolve` it or `update --abort` it first',
    });
  }
  const resolved = await traced('resolve the ref (ls-remote)', () => batch.resolve(source));
  // A commit that left this artifact's path as it was: up to date, with no fetch of its own.
  const upToDate =
    resolved.sha === currentSha ||
    (currentSha !== undefined && (await batch.unchanged?.(source, currentSha, resolved.sha)) === true);
  let upstream: Tree = new Map();
  let base: Tree | undefined;
  if (!upToDate) {
    const stored = await traced('read the upstream from the store', () =>
      storedUpstream(store, entry, source, resolved.sha, isFolder, fileName, spill),
    );
    if (stored) upstream = stored;
    else {
      changing();
      const got = await traced(
        'fetch',
        async () =>
          (await batch.fetch?.(source, resolved.sha, entry)) ??
          fetchSource(source, resolved, fetchOptions(work, entry, opts)),
      );
      fetchedAll.push(got);
      if (got.isFile === isFolder) {
        throw new CoreError({
          code: 'upstream-invalid',
          artifact: id,
          reason: `upstream is a ${got.isFile ? 'file' : 'folder'} but the collection holds a ${isFolder ? 'folder' : 'file'}`,
        });
      }
      const read = tracedSync('read the fetched files', () => readTree(got.root, !got.isFile).tree);
      upstream = isFolder ? read : singleFileTree(read, fileName);
    }
    base = await traced('read the base', () =>
      loadBase(
        store,
        entry,
        source,
        currentSha,
        isFolder,
        fileName,
        work,
        opts,
        fetchedAll,
        spill,
        [upstream, mine],
        batch,
      ),
    );
  }
  const lfs = upToDate ? undefined : lfsWarning(id, upstream);
  if (lfs) opts.logger.warn(`[Update] ${lfs}`);
  return {
    plan: {
      id,
      name: entry.name,
      type: entry.type,
      isFolder,
      from,
      to: { sha: resolved.sha, ...(resolved.resolvedVersion ? { version: resolved.resolvedVersion } : {}) },
      upToDate,
      ...(lfs ? { warnings: [lfs] } : {}),
      baseKnown: base !== undefined,
      files: upToDate ? [] : tracedSync('classify', () => classify(base, mine, upstream)),
      localRoot,
    },
    internals: {
      entry,
      source,
      resolved,
      ...(base ? { base } : {}),
      mine,
      upstream,
      keptDirs: local.keptDirs,
      inputs: inputsDigest(collection, entry, mine),
    },
  };
}

/**
 * The upstream content at `sha` when an earlier update or add of this artifact already stored it from
 * this same source: a commit's content never changes, so it is read from the store, not fetched again (an
 * update after its undo or abort, a second try with another strategy, a retry after a failed commit). Only
 * when the stored content has the shape the collection holds (one file named as the source's, or a
 * folder); otherwise the fetch decides, and names the mismatch.
 */
async function storedUpstream(
  store: Awaited<ReturnType<typeof openSnapshotStore>>,
  entry: ArtifactEntry,
  source: RemoteSource,
  sha: string,
  isFolder: boolean,
  fileName: string,
  spill: (name: string) => string,
): Promise<Tree | undefined> {
  const stored = await store.readUpstream(
    entry.type,
    entry.name,
    sha,
    { spill },
    upstreamString(source, sha),
  );
  if (!stored) return undefined;
  // A single file is stored under the collection's file name (older versions: the upstream's).
  const only = stored.size === 1 ? [...stored.keys()][0] : undefined;
  const storedAsFile =
    only === fileName || (only !== undefined && only === path.posix.basename(source.subpath));
  if (storedAsFile === isFolder) return undefined;
  return isFolder ? withoutNoise(stored) : singleFileTree(stored, fileName);
}

/**
 * The true three-way base: the upstream tree last applied, kept in the snapshot repository under
 * refs/upstream/<type>/<name>. A collection made elsewhere (SkillMeat) has none yet; then the commit
 * the lock pins is fetched from upstream once. No base at all: every difference is a both-sides change.
 */
export async function loadBase(
  store: Awaited<ReturnType<typeof openSnapshotStore>>,
  entry: ArtifactEntry,
  source: RemoteSource,
  currentSha: string | undefined,
  isFolder: boolean,
  fileName: string,
  /** Where a fetch works (the collection's temp space, or a dry run's own). */
  work: string,
  opts: OperationOptions,
  fetchedAll: FetchedSource[],
  /** Names a new file for a large stored file (which then stays on disk); removed with the plan. */
  spill?: (name: string) => string,
  /**
   * Trees already read (upstream first: its workspace does not change under the plan, the collection
   * may): a base file with the same bytes as one of theirs is taken from them, not read from the store.
   */
  held: readonly Tree[] = [],
  /** `update --all`'s shared repository, which may hold the base commit already. */
  shared?: Partial<Pick<UpstreamBatch, 'fetch'>>,
): Promise<Tree | undefined> {
  if (!currentSha) return undefined;
  const stored = await store.readUpstream(entry.type, entry.name, currentSha, {
    ...(spill ? { spill } : {}),
    reuse: heldFile(held, isFolder),
  });
  // A base stored before noise was left out may still hold some: it must not look like an upstream deletion.
  if (stored) return isFolder ? withoutNoise(stored) : singleFileTree(stored, fileName);
  try {
    const fetched =
      (await shared?.fetch?.(source, currentSha, entry)) ??
      (await fetchSource(
        source,
        { sha: currentSha, ref: currentSha, versionSpec: currentSha },
        fetchOptions(work, entry, opts),
      ));
    fetchedAll.push(fetched);
    const read = readTree(fetched.root, !fetched.isFile).tree;
    return isFolder ? read : singleFileTree(read, fileName);
  } catch (err) {
    if (err instanceof CoreError && err.failure.code === 'cancelled') throw err;
    opts.logger.warn(`[Update] no base for ${artifactId(entry)} at ${currentSha}: ${(err as Error).message}`);
    return undefined;
  }
}

/** How an update fetches an artifact: into `work` (normally the collection's temp space), with the operation's ports. */
function fetchOptions(
  work: string,
  entry: ArtifactEntry,
  opts: OperationOptions,
): Parameters<typeof fetchSource>[2] {
  return {
    workDir: work,
    signal: opts.signal,
    logger: opts.logger,
    faults: opts.faults,
    artifact: entry,
  };
}
