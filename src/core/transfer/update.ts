/**
 * The update transaction (DESIGN §5): prepare a plan (resolve and fetch upstream, classify every file
 * against the true base, no writes, no lock), decide per file (strategy, prompt, merge editor), then
 * apply under the writer lock: refuse a stale plan, snapshot, validate, and commit atomically.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId, LAYOUT, parseArtifactRef } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import { changesForArtifact, readTree, resultHash, treeDigest } from '../model/artifactTree.js';
import { throwIfAborted } from '../base/abort.js';
import type { FileChange } from '../base/changes.js';
import {
  collectionWrites,
  isUnchangedOnDisk,
  loadCollectionCaching,
  preflightCollection,
} from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import type { Fs } from '../ports/fs.js';
import { CoreError } from '../base/errors.js';
import { getEntry, setEntry } from '../model/lock.js';
import { setArtifactFields } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type {
  ArtifactDecisions,
  ArtifactUpdatePlan,
  OperationOptions,
  UpdatePlan,
  UpdateResult,
} from './operations.js';
import { classify, resultTree } from './plan.js';
import type { Conflict, Strategy, Tree } from './plan.js';
import { resolveUpdate } from './resolve.js';
import type { Resolver } from './resolve.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { UpstreamMeta } from '../store/baseRefs.js';
import { fetchSource, resolveSource, sourceFromUpstream, upstreamString } from '../sources/sources.js';
import type { FetchedSource, RemoteSource, ResolvedSource } from '../sources/sources.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { validateArtifact } from '../model/validate.js';
import { hasJournal } from '../txn/journal.js';
import { releaseTmpDir, sweepStaleTemp, tmpDir } from '../ports/tempSpace.js';

interface ArtifactInternals {
  entry: ArtifactEntry;
  source: RemoteSource;
  resolved: ResolvedSource;
  fetched?: FetchedSource;
  base?: Tree;
  mine: Tree;
  upstream: Tree;
  keptDirs: string[];
  /** Digest of the inputs this artifact's plan was made from. */
  inputs: string;
}

interface InternalPlan extends UpdatePlan {
  internals: Map<string, ArtifactInternals>;
  /** The collection as parsed for the plan; handed to apply once, while its files are unchanged. */
  collection: Collection | undefined;
}

/**
 * The collection to apply to: the plan's parsed model when manifest and lock still hold the bytes it was
 * parsed from (parsing a 2,000-artifact manifest costs more than the rest of an update), else a fresh
 * load. The model is handed out once, because applying edits it.
 */
async function collectionForApply(plan: InternalPlan, fs: Fs): Promise<Collection> {
  const parsed = plan.collection;
  plan.collection = undefined;
  return parsed && isUnchangedOnDisk(parsed) ? parsed : loadCollectionCaching(plan.collectionDir, fs);
}

/** The artifacts an update of `refs` works on; each must have an upstream (else `upstream-invalid`). */
function selectForUpdate(collection: Collection, refs: readonly string[] | 'all'): ArtifactEntry[] {
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

function isFolderArtifact(collectionDir: string, entry: ArtifactEntry): boolean {
  const st = fs.statSync(path.join(collectionDir, entry.path), { throwIfNoEntry: false });
  if (st) return st.isDirectory();
  return LAYOUT[entry.type].shape === 'dir';
}

/** Re-keys a single-file tree to the local file's name, so base, mine and upstream line up. */
function singleFileTree(tree: Tree, name: string): Tree {
  const only = [...tree.values()][0];
  return only ? new Map([[name, only]]) : new Map();
}

function inputsDigest(collection: Collection, entry: ArtifactEntry, mine: Tree): string {
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
  /** `locked`: the caller holds the writer lock; `checked`: its preflight load, used if still current. */
  internalOptions: { locked?: boolean; checked?: Collection } = {},
): Promise<UpdatePlan> {
  const dir = path.resolve(collectionDir);
  // An interrupted transaction is recovered before anything is read: a plan of half-applied files
  // would only be refused as stale at apply time.
  if (!internalOptions.locked && hasJournal(dir))
    await withWriter(dir, writerOptions(opts, 'update'), async () => undefined);
  const checked = internalOptions.checked;
  const collection =
    checked && isUnchangedOnDisk(checked) ? checked : await loadCollectionCaching(dir, opts.fs);
  const entries = selectForUpdate(collection, refs);
  sweepStaleTemp(dir);
  const internals = new Map<string, ArtifactInternals>();
  const artifacts: ArtifactUpdatePlan[] = [];
  const fetchedAll: FetchedSource[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.all(fetchedAll.map((f) => f.dispose().catch(() => undefined)));
    releaseTmpDir(dir);
  };
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    for (const entry of entries) {
      const id = artifactId(entry);
      throwIfAborted(opts.signal);
      const source = sourceFromUpstream(entry.upstream as string, to ?? entry.versionSpec);
      const resolved = await resolveSource(source, {
        signal: opts.signal,
        logger: opts.logger,
        faults: opts.faults,
        workDir: tmpDir(dir),
      });
      const lockEntry = getEntry(collection.lock, entry);
      const currentSha = lockEntry?.resolvedSha ?? entry.resolvedSha;
      const localRoot = path.join(dir, entry.path);
      const isFolder = isFolderArtifact(dir, entry);
      const local = readTree(localRoot, isFolder);
      const fileName = path.basename(entry.path);
      const mine = isFolder ? local.tree : singleFileTree(local.tree, fileName);
      const upToDate = resolved.sha === currentSha;
      let fetched: FetchedSource | undefined;
      let upstream: Tree = new Map();
      let base: Tree | undefined;
      if (!upToDate) {
        fetched = await fetchSource(source, resolved, {
          workDir: tmpDir(dir),
          signal: opts.signal,
          logger: opts.logger,
          faults: opts.faults,
          artifact: entry,
        });
        fetchedAll.push(fetched);
        if (fetched.isFile === isFolder) {
          throw new CoreError({
            code: 'upstream-invalid',
            artifact: id,
            reason: `upstream is a ${fetched.isFile ? 'file' : 'folder'} but the collection holds a ${isFolder ? 'folder' : 'file'}`,
          });
        }
        const read = readTree(fetched.root, !fetched.isFile).tree;
        upstream = isFolder ? read : singleFileTree(read, fileName);
        base = await loadBase(store, entry, source, currentSha, isFolder, fileName, dir, opts, fetchedAll);
      }
      const files = upToDate ? [] : classify(base, mine, upstream);
      const plan: ArtifactUpdatePlan = {
        id,
        name: entry.name,
        type: entry.type,
        isFolder,
        from: {
          ...(currentSha ? { sha: currentSha } : {}),
          ...(entry.resolvedVersion ? { version: entry.resolvedVersion } : {}),
        },
        to: { sha: resolved.sha, ...(resolved.resolvedVersion ? { version: resolved.resolvedVersion } : {}) },
        upToDate,
        baseKnown: base !== undefined,
        files,
        upstreamRoot: fetched?.root ?? '',
        localRoot,
      };
      artifacts.push(plan);
      internals.set(id, {
        entry,
        source,
        resolved,
        ...(fetched ? { fetched } : {}),
        ...(base ? { base } : {}),
        mine,
        upstream,
        keptDirs: local.keptDirs,
        inputs: inputsDigest(collection, entry, mine),
      });
    }
  } catch (err) {
    await dispose();
    throw err;
  } finally {
    store.close();
  }
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
    dispose,
    internals,
    collection,
  };
  return plan;
}

/**
 * The true three-way base: the upstream tree last applied, kept in the snapshot repository under
 * refs/upstream/<type>/<name>. A collection made elsewhere (SkillMeat) has none yet; then the commit
 * the lock pins is fetched from upstream once. No base at all: every difference is a both-sides change.
 */
async function loadBase(
  store: Awaited<ReturnType<typeof openSnapshotStore>>,
  entry: ArtifactEntry,
  source: RemoteSource,
  currentSha: string | undefined,
  isFolder: boolean,
  fileName: string,
  dir: string,
  opts: OperationOptions,
  fetchedAll: FetchedSource[],
): Promise<Tree | undefined> {
  if (!currentSha) return undefined;
  const stored = await store.readUpstream(entry.type, entry.name, currentSha);
  if (stored) return isFolder ? stored : singleFileTree(stored, fileName);
  try {
    const fetched = await fetchSource(
      source,
      { sha: currentSha, ref: currentSha, versionSpec: currentSha },
      {
        workDir: tmpDir(dir),
        signal: opts.signal,
        logger: opts.logger,
        faults: opts.faults,
        artifact: entry,
      },
    );
    fetchedAll.push(fetched);
    const read = readTree(fetched.root, !fetched.isFile).tree;
    return isFolder ? read : singleFileTree(read, fileName);
  } catch (err) {
    if (err instanceof CoreError && err.failure.code === 'cancelled') throw err;
    opts.logger.warn(`[Update] no base for ${artifactId(entry)} at ${currentSha}: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Applies the plan with the given decisions, atomically: under the writer lock, after checking that
 * nothing the plan was made from has changed (`plan-stale`), a pre-update snapshot is taken, the
 * results validated, and files, manifest and lock committed together (the lock's rename is the commit
 * point). Any failure before it leaves every byte as it was. Throws CoreError.
 */
export async function applyUpdate(
  plan: UpdatePlan,
  decisions: ReadonlyMap<string, ArtifactDecisions>,
  opts: OperationOptions,
): Promise<UpdateResult> {
  return withWriter(plan.collectionDir, writerOptions(opts, 'update'), () =>
    applyUpdateLocked(plan, decisions, opts),
  );
}

/** `applyUpdate` for a caller that already holds the writer lock. */
async function applyUpdateLocked(
  plan: UpdatePlan,
  decisions: ReadonlyMap<string, ArtifactDecisions>,
  opts: OperationOptions,
): Promise<UpdateResult> {
  const internal = plan as InternalPlan;
  const dir = plan.collectionDir;
  const collection = await collectionForApply(internal, opts.fs);
  const changes: FileChange[] = [];
  const updated: UpdateResult['updated'] = [];
  const skipped: string[] = [];
  const now = naiveUtcNow(clockOf(opts).now());
  const toStore: { entry: ArtifactEntry; tree: Tree; meta: UpstreamMeta }[] = [];
  for (const artifact of plan.artifacts) {
    const inner = internal.internals.get(artifact.id);
    if (!inner) throw new Error(`plan has no internals for ${artifact.id}`);
    const chosen = decisions.get(artifact.id);
    if (artifact.upToDate || chosen === 'skip' || chosen === undefined) {
      if (!artifact.upToDate) skipped.push(artifact.id);
      continue;
    }
    const entry = collection.manifest.artifacts.find(
      (a) => a.name === inner.entry.name && a.type === inner.entry.type,
    );
    if (!entry)
      throw new CoreError({
        code: 'plan-stale',
        artifact: artifact.id,
        reason: 'the artifact left the manifest',
      });
    const mineNow = readTree(artifact.localRoot, artifact.isFolder);
    const mine = artifact.isFolder ? mineNow.tree : singleFileTree(mineNow.tree, path.basename(entry.path));
    if (inputsDigest(collection, entry, mine) !== inner.inputs) {
      throw new CoreError({
        code: 'plan-stale',
        artifact: artifact.id,
        reason: 'its files, manifest entry or lock entry changed since the plan was made',
      });
    }
    const result = resultTree(artifact.files, chosen);
    const installRoot = artifact.isFolder ? artifact.localRoot : path.dirname(artifact.localRoot);
    const problems = validateArtifact(entry.type as ArtifactType, result, artifact.isFolder, installRoot);
    if (problems.length > 0) {
      throw new CoreError({
        code: 'validation-failed',
        artifact: artifact.id,
        reason: problems.join('; '),
      });
    }
    changes.push(...changesForArtifact(entry.path, artifact.isFolder, mine, result, mineNow.keptDirs));
    const upstream = upstreamString(inner.source, inner.resolved.sha);
    const version = inner.resolved.resolvedVersion;
    setArtifactFields(entry, {
      upstream,
      ...(inner.resolved.versionSpec !== entry.versionSpec
        ? { version_spec: inner.resolved.versionSpec }
        : {}),
      resolved_sha: inner.resolved.sha,
      resolved_version: version,
      last_updated: now,
    });
    setEntry(collection.lock, entry, {
      content_hash: resultHash(result, artifact.isFolder, artifact.localRoot),
      fetched: now,
      upstream,
      resolved_sha: inner.resolved.sha,
      resolved_version: version,
    });
    toStore.push({
      entry,
      tree: inner.upstream,
      meta: {
        resolved_sha: inner.resolved.sha,
        ...(version ? { resolved_version: version } : {}),
        source: upstream,
      },
    });
    updated.push({ id: artifact.id, sha: inner.resolved.sha, ...(version ? { version } : {}) });
  }
  if (updated.length === 0) return { txId: '', preSnapshot: '', updated, skipped };
  throwIfAborted(opts.signal);
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    const ids = updated.map((u) => u.id);
    const pre = await store.create({
      reason: `before update of ${ids.join(', ')}`,
      trigger: 'update',
      artifacts: ids,
    });
    // The upstream trees go into the snapshot repository first: harmless if the update then fails
    // (a base is looked up by the sha the lock pins), and there for the next merge if it commits.
    for (const item of toStore)
      await store.storeUpstream(item.entry.type, item.entry.name, item.tree, item.meta);
    changes.push(...collectionWrites(collection, now));
    const txId = newTxId(clockOf(opts).now().getTime());
    throwIfAborted(opts.signal);
    await applyChanges(
      dir,
      {
        txId,
        kind: 'update',
        description: `update ${ids.join(', ')}`,
        artifacts: ids,
        preSnapshot: pre.id,
        changes,
        tool: opts.tool,
      },
      transactionOptions(opts),
    );
    return { txId, preSnapshot: pre.id, updated, skipped };
  } finally {
    store.close();
  }
}

export interface UpdateRunOptions {
  strategy: Strategy;
  to?: string;
  dryRun?: boolean;
  /** Answers what the strategy cannot decide alone (the terminal prompt); without it conflicts stay. */
  resolver?: Resolver;
}

export interface UpdateRunResult {
  plan: UpdatePlan;
  result?: UpdateResult;
  conflicts: { artifact: string; conflict: Conflict }[];
}

/**
 * The CLI's one-shot update: prepare, resolve (`resolve.ts`: the strategy, then the resolver under
 * `prompt` or for conflicts), then apply. Unresolved conflicts throw `conflicts` before anything is written. `dryRun` stops after
 * the same checks, with the plan. The plan's workspace is always disposed.
 */
export async function updateArtifacts(
  collectionDir: string,
  refs: readonly string[] | 'all',
  run: UpdateRunOptions,
  opts: OperationOptions,
): Promise<UpdateRunResult> {
  const dir = path.resolve(collectionDir);
  // Manifest, lock and selection are checked read-only first, so bad input is refused before the lock
  // creates anything; the parsed model is handed on, so an update still parses once. With a journal
  // there is nothing to check yet: the lock's recovery comes first.
  const checked = await preflightCollection(dir, opts.fs, (collection) => selectForUpdate(collection, refs));
  // One-shot: the whole run holds the writer lock (recovering first), so no other writer can make the
  // plan stale between fetching and applying. The extension's interactive flow holds it only to apply.
  return withWriter(dir, writerOptions(opts, 'update'), () => updateLocked(dir, refs, run, opts, checked));
}

async function updateLocked(
  collectionDir: string,
  refs: readonly string[] | 'all',
  run: UpdateRunOptions,
  opts: OperationOptions,
  checked: Collection | undefined,
): Promise<UpdateRunResult> {
  const plan = await prepareUpdate(collectionDir, refs, run.strategy, opts, run.to, {
    locked: true,
    ...(checked ? { checked } : {}),
  });
  try {
    const resolved = await resolveUpdate(plan, run.resolver);
    if (resolved === 'cancelled') throw new CoreError({ code: 'cancelled' });
    const { decisions, unresolved } = resolved;
    if (unresolved.length > 0 && !run.dryRun) {
      throw new CoreError({
        code: 'conflicts',
        conflicts: unresolved.map((u) => ({ artifact: u.artifact, path: u.conflict.rel })),
      });
    }
    if (run.dryRun) return { plan, conflicts: unresolved };
    const result = await applyUpdateLocked(plan, decisions, opts);
    return { plan, result, conflicts: [] };
  } finally {
    await plan.dispose();
  }
}
