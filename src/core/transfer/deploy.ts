/**
 * Deploy and undeploy (DESIGN §10): the transfer engine with the collection as the source side and a
 * project's profile root as the target store. The true base of a redeploy is the copy as last deployed,
 * kept in the snapshot store (`refs/deployed/…`), so project edits are merged offline or, by default,
 * never clobbered: refused naming the files (exit 3) unless `--force` (the project copy is kept in the
 * transaction's project image first) or `--strategy merge`. Project files and the tracking file change
 * in one journaled transaction of the collection, under its writer lock and the project lock; `undo`
 * puts the project paths back from the image.
 */
import * as path from 'node:path';
import { CoreError } from '../base/errors.js';
import type { FileChange } from '../base/changes.js';
import { artifactId } from '../model/artifact.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { loadCollectionCaching, preflightCollection } from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import { heldFile, readTree } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { contentHash } from '../model/hash.js';
import { artifactFindings, approveFindings } from '../exec/approval.js';
import type { ExecApproval, ExecFinding } from '../exec/approval.js';
import { isDeployable, PROFILES } from '../projects/profiles.js';
import type { ProfileRoot } from '../projects/profiles.js';
import {
  emptyTrackingFile,
  findRecord,
  localNaiveTime,
  readTrackingFile,
  removeRecord,
  setRecord,
  trackingFilePath,
} from '../projects/trackingFile.js';
import type { TrackingFile } from '../projects/trackingFile.js';
import {
  asDeployedTree,
  matchesRecord,
  profileDirName,
  projectChanges,
  projectImage,
  projectTxRoot,
  readProjectCopy,
  readTrackingBytes,
  trackingChange,
} from '../projects/projectSide.js';
import type { ProjectCopy } from '../projects/projectSide.js';
import { withProjectLock } from '../projects/projectLock.js';
import { classify, mergeCommittingConflicts } from './plan.js';
import type { FilePlan } from './plan.js';
import type { OperationOptions } from './operations.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { isFolderArtifact, selectArtifacts } from './prepare.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { collectionSpillSpace } from '../ports/tempSpace.js';
import type { SpillSpace } from '../ports/tempSpace.js';

export type DeployStrategy = 'overwrite' | 'merge' | 'keep' | 'prompt';
export const DEPLOY_STRATEGIES: readonly DeployStrategy[] = ['overwrite', 'merge', 'keep', 'prompt'];

/** What the person chose for one artifact edited in the project (`prompt`). `abort`: nothing is written. */
export type DeployChoice = 'merge' | 'overwrite' | 'keep' | 'abort';

export interface DeployOptions {
  /** What to do where the project copy was edited since it was deployed (default overwrite: refuse). */
  strategy?: DeployStrategy;
  /** Overwrite project edits (their copy is kept in the transaction's project image, for `undo`). */
  force?: boolean;
  /**
   * `prompt`: asked once per artifact edited in the project, with the edited files (profile-relative).
   * Without it, `prompt` refuses like `overwrite`.
   */
  choose?: (artifact: string, files: string[]) => Promise<DeployChoice>;
}

/**
 * - `deployed`: new in the project; `updated`: the project copy was unedited and now is the collection's;
 * - `merged`: project edits and the collection's changes merged; `conflicted`: merged with conflict
 *   markers (`<file>.upstream` beside a binary), the record marked `conflicted` until `resolve`;
 * - `overwritten`: project edits replaced (`--force`); `kept`: project edits kept (`--strategy keep`);
 * - `unchanged`: the project copy already is the collection's (the record is refreshed).
 */
export type DeployOutcome =
  'deployed' | 'updated' | 'merged' | 'conflicted' | 'overwritten' | 'kept' | 'unchanged';

export interface DeployedArtifact {
  id: string;
  /** Relative to the profile root. */
  path: string;
  outcome: DeployOutcome;
  /** The files with conflict markers or an upstream copy (`conflicted`). */
  conflicts?: string[];
}

export interface ProjectResult<T> {
  root: ProfileRoot;
  artifacts: T[];
  /** Empty when nothing was written. */
  txId: string;
  /** The store commit holding the project paths as they were (what `undo` puts back). */
  image?: string;
}

/** Deploys `refs` from the collection into `root`. Nothing is written when any artifact is refused. */
export async function deployArtifacts(
  collectionDir: string,
  root: ProfileRoot,
  refs: readonly string[],
  opts: OperationOptions,
  deploy: DeployOptions = {},
): Promise<ProjectResult<DeployedArtifact>> {
  const dir = path.resolve(collectionDir);
  await preflightCollection(dir, opts.fs, (collection) => void deployableEntries(collection, refs));
  readTrackingFile(root); // a malformed tracking file refuses before any lock is taken
  return withProjectWriter(dir, root, opts, 'deploy', async (collection, tracking, store, spilled) => {
    const entries = deployableEntries(collection, refs);
    const strategy = deploy.strategy ?? 'overwrite';
    const txRoot = projectTxRoot(root);
    const now = clockOf(opts).now();
    const results: DeployedArtifact[] = [];
    const copies: ProjectCopy[] = [];
    const changes: FileChange[] = [];
    const findings: ExecFinding[] = [];
    const bases: { entry: ArtifactEntry; tree: Tree; hash: string }[] = [];
    const refusals: string[] = [];
    for (const entry of entries) {
      const id = artifactId(entry);
      const copy = readProjectCopy(root, entry);
      const source = path.join(dir, entry.path);
      const collectionTree = asDeployedTree(readTree(source, isFolderArtifact(dir, entry)).tree, copy);
      const collectionHash = contentHash(source);
      const record = findRecord(tracking, entry);
      let outcome: DeployOutcome;
      let result: Tree = collectionTree;
      let conflicts: string[] = [];
      if (!copy.exists) outcome = 'deployed';
      else if (copy.hash === collectionHash) outcome = 'unchanged';
      else if (record && matchesRecord(copy, record.contentHash)) outcome = 'updated';
      else {
        // The project copy (mine) against the collection's (theirs), from the copy as last deployed: read
        // once, for the merge, the question and the refusal (`--force` and keep need none of them).
        const base =
          record && !deploy.force && strategy !== 'keep'
            ? await store.readDeployed(entry.type, entry.name, record.contentHash, {
                // The copy as last deployed is mostly what one side still holds: only the rest is read,
                // a large file into a file of its own.
                reuse: heldFile([collectionTree, copy.tree], isFolderArtifact(dir, entry)),
                spill: (name) => spilled.file(name),
              })
            : undefined;
        const files = deploy.force || strategy === 'keep' ? [] : classify(base, copy.tree, collectionTree);
        const choice: DeployChoice | DeployStrategy = deploy.force
          ? 'overwrite'
          : strategy === 'prompt' && deploy.choose
            ? await deploy.choose(id, editedFiles(files, copy, root))
            : strategy;
        if (choice === 'abort') throw new CoreError({ code: 'cancelled' });
        if (choice === 'keep') outcome = 'kept';
        else if (choice === 'overwrite' && (deploy.force || strategy === 'prompt')) outcome = 'overwritten';
        else if (choice === 'merge') {
          const merged = mergeCommittingConflicts(files);
          result = merged.result;
          conflicts = merged.conflicts.map((c) => (copy.isFolder ? `${copy.rel}/${c.rel}` : copy.rel));
          outcome = conflicts.length > 0 ? 'conflicted' : 'merged';
        } else {
          // overwrite without --force, or prompt without anyone to ask: refused, naming the files.
          const edited = editedFiles(files, copy, root);
          refusals.push(
            `${id}: ${record ? 'edited in the project' : 'files not deployed by us are in the way'} (${edited.join(', ') || copy.rel})`,
          );
          continue;
        }
      }
      results.push({ id, path: copy.rel, outcome, ...(conflicts.length > 0 ? { conflicts } : {}) });
      if (outcome === 'kept') continue;
      copies.push(copy);
      changes.push(...projectChanges(copy, result, txRoot));
      findings.push(
        ...artifactFindings(id, `${profileDirName(root)}/${copy.rel}`, copy.isFolder, copy.tree, result),
      );
      bases.push({ entry, tree: collectionTree, hash: collectionHash });
      const set = setRecord(tracking, {
        name: entry.name,
        type: entry.type,
        fromCollection: fromCollectionValue(collection, opts),
        deployedAt: localNaiveTime(now),
        artifactPath: copy.rel,
        contentHash: collectionHash,
        deploymentProfileId: root.profile,
        profileRootDir: PROFILES[root.profile],
      });
      if (outcome === 'conflicted') set.raw.conflicted = true;
      else delete set.raw.conflicted;
    }
    if (refusals.length > 0)
      throw new CoreError({ code: 'project-edits', artifacts: refusals, project: root.dir });
    const approval = await approveFindings(dir, findings, opts.exec, opts.fs, now);
    await store.storeDeployed(
      bases.map((b) => ({
        type: b.entry.type,
        name: b.entry.name,
        content: b.tree,
        meta: { content_hash: b.hash },
      })),
    );
    return commitProject(dir, root, store, opts, {
      kind: 'deploy',
      verb: 'deploy',
      results,
      copies,
      changes,
      tracking,
      txRoot,
      approval,
    });
  });
}

export type UndeployOutcome = 'undeployed' | 'already-gone';

export interface UndeployedArtifact {
  id: string;
  path: string;
  outcome: UndeployOutcome;
}

/**
 * Removes deployed artifacts from `root`: their files and their records (the tracking file goes with the
 * last one). A copy edited in the project is refused, naming the files, unless `force`.
 */
export async function undeployArtifacts(
  collectionDir: string,
  root: ProfileRoot,
  refs: readonly string[],
  opts: OperationOptions,
  force = false,
): Promise<ProjectResult<UndeployedArtifact>> {
  const dir = path.resolve(collectionDir);
  readTrackingFile(root);
  return withProjectWriter(dir, root, opts, 'undeploy', async (_collection, tracking) => {
    const txRoot = projectTxRoot(root);
    const results: UndeployedArtifact[] = [];
    const copies: ProjectCopy[] = [];
    const changes: FileChange[] = [];
    const refusals: string[] = [];
    for (const ref of refs) {
      const record = recordFor(tracking, ref);
      const id = artifactId(record);
      const copy = readProjectCopy(root, record);
      if (copy.exists && !force && !matchesRecord(copy, record.contentHash)) {
        refusals.push(`${id}: edited in the project (${profileDirName(root)}/${copy.rel})`);
        continue;
      }
      removeRecord(tracking, record);
      results.push({ id, path: copy.rel, outcome: copy.exists ? 'undeployed' : 'already-gone' });
      copies.push(copy);
      if (copy.exists) changes.push(...projectChanges(copy, new Map(), txRoot, true));
    }
    if (refusals.length > 0)
      throw new CoreError({ code: 'project-edits', artifacts: refusals, project: root.dir });
    return commitProject(dir, root, undefined, opts, {
      kind: 'undeploy',
      verb: 'undeploy',
      results,
      copies,
      changes,
      tracking,
      txRoot,
    });
  });
}

/** The record of `ref` (`type/name` or a name) in the tracking file; `artifact-not-found` naming the file. */
export function recordFor(
  tracking: TrackingFile,
  ref: string,
): { name: string; type: ArtifactEntry['type']; contentHash: string } {
  const slash = ref.indexOf('/');
  const [type, name] = slash > 0 ? [ref.slice(0, slash), ref.slice(slash + 1)] : [undefined, ref];
  const matches = tracking.records.filter((r) => r.name === name && (type === undefined || r.type === type));
  if (matches.length === 1) return matches[0] as TrackingFile['records'][number];
  if (matches.length > 1)
    throw new CoreError({
      code: 'artifact-ambiguous',
      artifact: ref,
      candidates: matches.map((m) => artifactId(m)),
    });
  throw new CoreError({ code: 'artifact-not-found', artifact: `${ref} (not deployed: ${tracking.file})` });
}

/** Collection writer lock, then the project lock, then the collection and tracking file as they are now. */
export async function withProjectWriter<T>(
  dir: string,
  root: ProfileRoot,
  opts: OperationOptions,
  operation: string,
  /** `spilled`: where large files read from the store go, a file each; removed when the move ends. */
  fn: (
    collection: Collection,
    tracking: TrackingFile,
    store: SnapshotStore,
    spilled: SpillSpace,
  ) => Promise<T>,
): Promise<T> {
  return withWriter(dir, writerOptions(opts, operation), () =>
    withProjectLock(
      root.dir,
      {
        tool: opts.tool,
        operation,
        fs: opts.fs,
        ...(opts.lockWaitMs !== undefined ? { waitMs: opts.lockWaitMs } : {}),
      },
      async () => {
        const collection = await loadCollectionCaching(dir, opts.fs);
        const tracking = readTrackingFile(root) ?? emptyTrackingFile(trackingFilePath(root));
        const store = await openSnapshotStore(dir, storeOptions(opts));
        const spilled = collectionSpillSpace(dir, `${operation}-`);
        try {
          return await fn(collection, tracking, store, spilled);
        } finally {
          spilled.dispose();
          store.close();
        }
      },
    ),
  );
}

interface ProjectCommit<T> {
  kind: string;
  verb: string;
  results: (T & { id: string })[];
  copies: ProjectCopy[];
  changes: FileChange[];
  tracking: TrackingFile;
  txRoot: string;
  approval?: ExecApproval | undefined;
}

/**
 * Commits the project side: the tracking file first (so a project an interrupted transaction touched
 * always names its collection), then the copies; the project paths' image stored before. Nothing is
 * written when nothing changes.
 */
async function commitProject<T>(
  dir: string,
  root: ProfileRoot,
  openStore: SnapshotStore | undefined,
  opts: OperationOptions,
  c: ProjectCommit<T>,
): Promise<ProjectResult<T>> {
  const trackingBefore = readTrackingBytes(root);
  const changes = [...trackingChange(root, c.tracking, trackingBefore, c.txRoot), ...c.changes];
  if (changes.length === 0) return { root, artifacts: c.results, txId: '' };
  const store = openStore ?? (await openSnapshotStore(dir, storeOptions(opts)));
  try {
    const txId = newTxId(clockOf(opts).now().getTime());
    const imageCommit = await store.storeProjectImage(txId, projectImage(c.copies, trackingBefore, changes));
    const ids = c.results.map((r) => r.id);
    await applyChanges(
      dir,
      {
        txId,
        kind: c.kind,
        description: `${c.verb} ${ids.join(', ')} ${c.kind === 'undeploy' ? 'from' : 'to'} ${root.dir}`,
        artifacts: ids,
        changes,
        tool: opts.tool,
        project: { root: root.dir, image: imageCommit },
        ...(c.approval ? { approvals: [c.approval] } : {}),
      },
      transactionOptions(opts),
    );
    return { root, artifacts: c.results, txId, image: imageCommit };
  } finally {
    if (!openStore) store.close();
  }
}

/** The files of a copy edited in the project (or in the way), relative to the project: what a refusal names. */
function editedFiles(files: readonly FilePlan[], copy: ProjectCopy, root: ProfileRoot): string[] {
  return files
    .filter(
      (f) => f.status !== 'unchanged' && f.status !== 'same-change' && !f.status.startsWith('upstream-'),
    )
    .map((f) => `${profileDirName(root)}/${copy.isFolder ? `${copy.rel}/${f.rel}` : copy.rel}`);
}

function deployableEntries(collection: Collection, refs: readonly string[]): ArtifactEntry[] {
  return selectArtifacts(collection, refs).map((entry) => {
    if (!isDeployable(entry.type))
      throw new CoreError({
        code: 'artifact-path-invalid',
        artifact: artifactId(entry),
        path: entry.path,
        reason: `a ${entry.type} is not deployed into projects`,
      });
    return entry;
  });
}

/**
 * What the record's `from_collection` says: SkillMeat's collection name when the collection is
 * SkillMeat's `~/.skillmeat/collections/<name>`, else its absolute path (SkillMeat reads a name there,
 * so a path only for collections SkillMeat does not know anyway).
 */
function fromCollectionValue(collection: Collection, opts: OperationOptions): string {
  const parent = path.dirname(collection.dir);
  if (opts.home !== undefined && parent === path.join(opts.home, '.skillmeat', 'collections'))
    return path.basename(collection.dir);
  return collection.dir;
}
