/**
 * The update transaction (DESIGN §5): a plan from `prepare.ts` (no writes, no lock), resolved per file by
 * `resolve.ts` (the strategy, then a Resolver: the CLI's prompt, the extension's editors), then applied
 * here under the writer lock: refuse a stale plan, snapshot, validate, and commit atomically.
 */
import * as path from 'node:path';
import type { ArtifactType } from '../model/artifact.js';
import { changesForArtifact, readTree, resultHash } from '../model/artifactTree.js';
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
import { setEntry } from '../model/lock.js';
import { setArtifactFields } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type { ArtifactDecisions, OperationOptions, UpdatePlan, UpdateResult } from './operations.js';
import { resultTree } from './plan.js';
import type { Conflict, Strategy, Tree } from './plan.js';
import { resolveUpdate } from './resolve.js';
import type { Resolver } from './resolve.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { applyRetention } from './retention.js';
import type { UpstreamMeta } from '../store/baseRefs.js';
import { upstreamString } from '../sources/sources.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { validateArtifact } from '../model/validate.js';
import { prepareUpdate, selectForUpdate, singleFileTree, inputsDigest } from './prepare.js';
import type { InternalPlan } from './prepare.js';

export { prepareUpdate, selectArtifacts } from './prepare.js';
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
    await applyRetention(store, opts, [pre.id]); // after the commit; never throws
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
