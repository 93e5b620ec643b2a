/**
 * The update transaction (DESIGN §5): a plan from `prepare.ts` (no writes, no lock), resolved per file by
 * `resolve.ts` (the strategy, then a Resolver: the CLI's prompt, the extension's editors), then applied
 * here under the writer lock: refuse a stale plan, snapshot, validate, and commit atomically.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hasJournal, journalPath } from '../txn/journal.js';
import type { ArtifactType } from '../model/artifact.js';
import { changesForArtifact, readTree, resultHash } from '../model/artifactTree.js';
import { throwIfAborted } from '../base/abort.js';
import { traceStart, traced, tracedSync } from '../base/trace.js';
import type { FileChange } from '../base/changes.js';
import {
  asCommitted,
  collectionWrites,
  isUnchangedOnDisk,
  loadCollectionCaching,
  preflightCollection,
} from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import type { Fs } from '../ports/fs.js';
import { CoreError, isCoreError } from '../base/errors.js';
import { approveFindings, artifactFindings } from '../exec/approval.js';
import type { ExecApproval, ExecFinding } from '../exec/approval.js';
import { setEntry } from '../model/lock.js';
import { setArtifactFields } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type {
  ArtifactDecisions,
  ArtifactOutcome,
  ConflictFile,
  OperationOptions,
  UpdatePlan,
  UpdateResult,
} from './operations.js';
import { conflictDecision, resultTree } from './plan.js';
import type { Conflict, Decision, Strategy, Tree } from './plan.js';
import { leaveConflicts, resolveUpdate } from './resolve.js';
import type { ResolvedUpdate, Resolver } from './resolve.js';
import { asWriter, clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { applyRetention } from './retention.js';
import type { UpstreamMeta } from '../store/baseRefs.js';
import { upstreamString } from '../sources/sources.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { validateArtifact } from '../model/validate.js';
import { prepareUpdate, selectForUpdate, singleFileTree, inputsDigest } from './prepare.js';
import { replacedBytes } from './snapshotAhead.js';
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
  apply: ApplyOptions = {},
): Promise<UpdateResult> {
  return withWriter(plan.collectionDir, writerOptions(opts, 'update'), () =>
    applyUpdateLocked(plan, decisions, opts, apply),
  );
}

export interface ApplyOptions {
  /**
   * `update --all`: an artifact whose result fails validation is reported `failed` and left out; the
   * others still commit. Without it one invalid result refuses the whole update.
   */
  keepGoing?: boolean;
}

/** `applyUpdate` for a caller that already holds the writer lock. */
async function applyUpdateLocked(
  plan: UpdatePlan,
  decisions: ReadonlyMap<string, ArtifactDecisions>,
  opts: OperationOptions,
  apply: ApplyOptions,
): Promise<UpdateResult> {
  const internal = plan as InternalPlan;
  const dir = plan.collectionDir;
  const collection = await traced('apply: collection', () => collectionForApply(internal, opts.fs));
  const changes: FileChange[] = [];
  const outcome: UpdateResult = {
    txId: '',
    preSnapshot: '',
    updated: [],
    conflicted: [],
    skipped: [],
    kept: [],
    failed: [],
  };
  const now = naiveUtcNow(clockOf(opts).now());
  const toStore: { entry: ArtifactEntry; tree: Tree; meta: UpstreamMeta }[] = [];
  const approvals: ExecApproval[] = [];
  /** Each updated artifact's files as this apply read them: what its transaction replaces. */
  const touched: { path: string; isFolder: boolean; mine: Tree }[] = [];
  const checked = traceStart('apply: re-read, check, validate');
  for (const artifact of plan.artifacts) {
    const inner = internal.internals.get(artifact.id);
    if (!inner) throw new Error(`plan has no internals for ${artifact.id}`);
    const chosen = decisions.get(artifact.id);
    if (artifact.kept) {
      outcome.kept.push(artifact.id);
      continue;
    }
    if (artifact.upToDate || chosen === 'skip' || chosen === undefined) {
      if (!artifact.upToDate) outcome.skipped.push(artifact.id);
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
    const copies = new Map<string, string>();
    const result = resultTree(artifact.files, chosen, copies);
    const conflictFiles = committedConflicts(chosen, copies);
    const installRoot = artifact.isFolder ? artifact.localRoot : path.dirname(artifact.localRoot);
    const problems = validateArtifact(
      entry.type as ArtifactType,
      result,
      artifact.isFolder,
      installRoot,
      new Set(conflictFiles.map((c) => c.path)),
    );
    if (problems.length > 0) {
      const error = new CoreError({
        code: 'validation-failed',
        artifact: artifact.id,
        reason: problems.join('; '),
      });
      if (!apply.keepGoing) throw error;
      outcome.failed.push({ id: artifact.id, error });
      continue;
    }
    // Anything that runs needs its yes before the artifact counts (DESIGN §11); --all goes on without it.
    const found = artifactFindings(artifact.id, entry.path, artifact.isFolder, mine, result);
    try {
      const approval = await approveFindings(dir, found, opts.exec, opts.fs, clockOf(opts).now());
      if (approval) approvals.push(approval);
    } catch (error) {
      if (!apply.keepGoing || !isCoreError(error, 'exec-not-approved')) throw error;
      outcome.failed.push({ id: artifact.id, error });
      continue;
    }
    changes.push(...changesForArtifact(entry.path, artifact.isFolder, mine, result, mineNow.keptDirs));
    touched.push({ path: entry.path, isFolder: artifact.isFolder, mine });
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
      content_hash: resultHash(result, artifact.isFolder),
      fetched: now,
      upstream,
      resolved_sha: inner.resolved.sha,
      resolved_version: version,
      ...(conflictFiles.length > 0 ? { conflicted: true as const } : {}),
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
    outcome.updated.push({ id: artifact.id, sha: inner.resolved.sha, ...(version ? { version } : {}) });
    if (conflictFiles.length > 0) outcome.conflicted.push({ id: artifact.id, files: conflictFiles });
  }
  checked();
  if (outcome.updated.length === 0) return outcome;
  throwIfAborted(opts.signal);
  // A one-shot update reuses the store its plan read (one `cat-file` process for both).
  const store = internal.store ?? (await openSnapshotStore(dir, storeOptions(opts)));
  try {
    const ids = outcome.updated.map((u) => u.id);
    const snapshot = {
      reason: `before update of ${ids.join(', ')}`,
      trigger: 'update' as const,
      artifacts: ids,
    };
    const pre = await traced('snapshot before the update', () =>
      internal.ahead
        ? internal.ahead.take(snapshot, replacedBytes(collection, touched, changes))
        : store.create(snapshot),
    );
    // The upstream trees go into the snapshot repository first: harmless if the update then fails
    // (a base is looked up by the sha the lock pins), and there for the next merge if it commits.
    await traced('store the upstream trees', () =>
      store.storeUpstreams(
        toStore.map((item) => ({
          type: item.entry.type,
          name: item.entry.name,
          content: item.tree,
          meta: item.meta,
        })),
      ),
    );
    const documents = tracedSync('manifest and lock text', () => collectionWrites(collection, now));
    changes.push(...documents);
    const txId = newTxId(clockOf(opts).now().getTime());
    throwIfAborted(opts.signal);
    await traced('transaction', () =>
      applyChanges(
        dir,
        {
          txId,
          kind: 'update',
          description: `update ${ids.join(', ')}`,
          artifacts: ids,
          preSnapshot: pre.id,
          changes,
          tool: opts.tool,
          approvals,
        },
        transactionOptions(opts),
      ),
    );
    // Committed: the edited model is what manifest and lock now hold, for the next command.
    const committed = opts.loaded ? asCommitted(collection, documents) : undefined;
    if (committed) opts.loaded?.set(dir, committed);
    await traced('retention', () => applyRetention(store, opts, [pre.id])); // after the commit; never throws
    // After a gc retention left for later, which would take them away again.
    const { defer } = opts;
    if (defer) defer(() => storeWrittenBlobs(dir, opts, changes));
    return { ...outcome, txId, preSnapshot: pre.id };
  } finally {
    if (store !== internal.store) store.close();
  }
}

/**
 * After the answer, in a process that lives on (`OperationOptions.defer`): the blobs of the files the
 * transaction wrote into the collection, for the next snapshot to find stored. As the collection's
 * writer, like every write to the store (the lock taken without waiting: held elsewhere, nothing is
 * stored, and that snapshot writes them itself). Never throws.
 */
async function storeWrittenBlobs(
  dir: string,
  opts: OperationOptions,
  changes: readonly FileChange[],
): Promise<void> {
  const contents = changes.flatMap((change) =>
    change.kind === 'write' &&
    change.root === undefined &&
    change.symlinkTarget === undefined &&
    change.data instanceof Uint8Array
      ? [change.data]
      : [],
  );
  if (contents.length === 0) return;
  try {
    await asWriter(dir, opts, 'store blobs', (store) => store.storeBlobs(contents), 0);
  } catch (err) {
    opts.logger.debug(`[Update] the written files' blobs were not stored ahead: ${(err as Error).message}`);
  }
}

/** The conflicts an artifact's decisions commit, in path order. */
function committedConflicts(
  decisions: ReadonlyMap<string, Decision>,
  copies: Map<string, string>,
): ConflictFile[] {
  const files: ConflictFile[] = [];
  for (const [rel, decision] of [...decisions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (decision.kind !== 'conflict') continue;
    const copy = copies.get(rel);
    files.push({ path: rel, conflicts: decision.conflicts, ...(copy ? { upstreamCopy: copy } : {}) });
  }
  return files;
}

export interface UpdateRunOptions {
  strategy: Strategy;
  to?: string;
  dryRun?: boolean;
  /** Answers what the strategy cannot decide alone (the terminal prompt); without it conflicts stay. */
  resolver?: Resolver;
  /**
   * What an unresolved conflict does: `markers` (default) commits it as git does (markers, `.upstream`
   * copies, the lock entry `conflicted`); `abort` refuses the whole update and writes nothing.
   */
  onConflict?: 'markers' | 'abort';
}

export interface UpdateRunResult {
  plan: UpdatePlan;
  result?: UpdateResult;
  /** The conflicts no one resolved: committed with markers, or (dry run, `abort`) why nothing was written. */
  conflicts: { artifact: string; conflict: Conflict }[];
  /** One line per selected artifact, in the plan's order. */
  outcomes: ArtifactOutcome[];
  /** Dry run: what the plan adds that runs (DESIGN §11), which applying it would need approved. */
  findings?: ExecFinding[];
}

/**
 * The CLI's one-shot update: prepare, resolve (`resolve.ts`: the strategy, then the resolver under
 * `prompt` or for conflicts), then apply; conflicts no one resolved are committed with markers unless
 * `onConflict` is `abort`. `update --all` keeps going past an artifact that fails or conflicts; the
 * outcomes say what happened to each. `dryRun` stops after the same checks, with the plan. The plan's
 * workspace is always disposed.
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
  // A process that lives on lends its parsed model (OperationOptions.loaded): used if the bytes still match.
  const lent = opts.loaded?.get(dir);
  opts.loaded?.delete(dir);
  const checked = await traced('preflight: manifest and lock', () =>
    preflightCollection(dir, opts.fs, (collection) => selectForUpdate(collection, refs), lent),
  );
  if (run.dryRun) return dryRun(dir, refs, run, opts, checked);
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
  const keepGoing = refs === 'all';
  const plan = await prepareUpdate(collectionDir, refs, run.strategy, opts, run.to, {
    locked: true,
    keepGoing,
    keepStore: true,
    ...(checked ? { checked } : {}),
  });
  try {
    const resolved = await traced('decide and merge', () => resolveUpdate(plan, run.resolver));
    if (resolved === 'cancelled') throw new CoreError({ code: 'cancelled' });
    const conflicts = [...resolved.unresolved];
    if (conflicts.length > 0 && run.onConflict === 'abort') {
      throw new CoreError({
        code: 'conflicts',
        conflicts: conflicts.map((u) => ({ artifact: u.artifact, path: u.conflict.rel })),
      });
    }
    leaveConflicts(plan, resolved);
    const result = await applyUpdateLocked(plan, resolved.decisions, opts, { keepGoing });
    return { plan, result, conflicts, outcomes: outcomesOf(plan, result) };
  } finally {
    await traced('remove the workspace', () => plan.dispose());
  }
}

/**
 * `--dry-run` writes nothing, anywhere in the collection: no writer lock (so no `.artifact-keeper/`), and
 * upstreams are fetched into a temp folder of the system's, removed afterwards. An interrupted
 * transaction is not recovered (that would write): it is reported as `interrupted`.
 */
async function dryRun(
  dir: string,
  refs: readonly string[] | 'all',
  run: UpdateRunOptions,
  opts: OperationOptions,
  checked: Collection | undefined,
): Promise<UpdateRunResult> {
  if (hasJournal(dir)) throw new CoreError({ code: 'interrupted', journal: journalPath(dir) });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-dry-run-'));
  try {
    const plan = await prepareUpdate(dir, refs, run.strategy, opts, run.to, {
      locked: true,
      keepGoing: refs === 'all',
      workDir,
      ...(checked ? { checked } : {}),
    });
    try {
      const resolved = await resolveUpdate(plan, run.resolver);
      if (resolved === 'cancelled') throw new CoreError({ code: 'cancelled' });
      const findings = planFindings(plan, resolved);
      return { plan, conflicts: [...resolved.unresolved], outcomes: outcomesOf(plan), findings };
    } finally {
      await plan.dispose();
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * What applying the resolution would add that runs, artifact by artifact (the dry run's findings), its
 * unresolved conflicts committed as the real run would (markers, upstream copies).
 */
function planFindings(plan: UpdatePlan, resolved: ResolvedUpdate): ExecFinding[] {
  const internal = plan as InternalPlan;
  return plan.artifacts.flatMap((artifact) => {
    const chosen = resolved.decisions.get(artifact.id);
    const inner = internal.internals.get(artifact.id);
    if (artifact.upToDate || artifact.kept || chosen === 'skip' || chosen === undefined || !inner) return [];
    const decisions = new Map(chosen);
    for (const { artifact: id, conflict } of resolved.unresolved) {
      const file = id === artifact.id ? artifact.files.find((f) => f.rel === conflict.rel) : undefined;
      if (file) decisions.set(conflict.rel, conflictDecision(file, conflict));
    }
    const result = resultTree(artifact.files, decisions, new Map());
    return artifactFindings(artifact.id, inner.entry.path, artifact.isFolder, inner.mine, result);
  });
}

/** One outcome per selected artifact, in manifest order: planned or failed before it had a plan. */
export function outcomesOf(plan: UpdatePlan, result?: UpdateResult): ArtifactOutcome[] {
  const failed = new Map<string, CoreError>([
    ...plan.failed.map((f) => [f.id, f.error] as const),
    ...(result?.failed ?? []).map((f) => [f.id, f.error] as const),
  ]);
  const planned = new Map(plan.artifacts.map((a) => [a.id, a]));
  const conflicted = new Map((result?.conflicted ?? []).map((c) => [c.id, c.files]));
  const updated = new Set((result?.updated ?? []).map((u) => u.id));
  return plan.selected.map((id): ArtifactOutcome => {
    const error = failed.get(id);
    // Still conflicted from an earlier update: a conflict to finish, not a failure.
    if (error?.failure.code === 'conflicted') return { id, outcome: 'conflicted', reason: error.message };
    if (error) return { id, outcome: 'failed', reason: error.message, code: error.failure.code };
    const a = planned.get(id);
    const to = a?.to.version ?? a?.to.sha?.slice(0, 12);
    const at = to ? { to } : {};
    if (!a) return { id, outcome: 'skipped' };
    if (a.kept) return { id, outcome: 'kept' };
    if (a.upToDate) return { id, outcome: 'up-to-date', ...at };
    const files = conflicted.get(id);
    if (files) return { id, outcome: 'conflicted', files, ...at };
    if (updated.has(id)) return { id, outcome: 'updated', ...at };
    return { id, outcome: 'skipped' };
  });
}
