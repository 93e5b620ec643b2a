/**
 * Pull (DESIGN §10): the transfer engine with a project's deployed copy as the source side and the
 * collection as the target store, against the true base (the copy as last deployed, from the store).
 * - `merge` (default): project edits and the collection's own changes since the deploy are merged; the
 *   merged copy goes into both stores, so drift reads `in-sync`; conflicts are committed into the
 *   collection as an update leaves them (markers, `<file>.upstream`, the lock entry `conflicted`, then
 *   `resolve` or `update --abort`), and the project copy stays as it is;
 * - `overwrite`: the project copy replaces the collection's;
 * - `fork`: the project copy becomes a new local artifact (`--as NAME`, default `<name>-<project>`).
 * Collection files, manifest, lock and the tracking record change in one transaction (the lock's rename
 * is the commit point); the collection is snapshotted first and the project paths' image kept for `undo`.
 */
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { artifactId } from '../model/artifact.js';
import { changesForArtifact, heldFile, readTree, resultHash } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { contentHash } from '../model/hash.js';
import { lockWrite, manifestWrite } from '../model/collection.js';
import { getEntry, setEntry } from '../model/lock.js';
import { addArtifact, findEntry } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { naiveUtcNow } from '../base/time.js';
import { artifactFindings, approveFindings } from '../exec/approval.js';
import type { ExecFinding } from '../exec/approval.js';
import { PROFILES } from '../projects/profiles.js';
import type { ProfileRoot } from '../projects/profiles.js';
import { localNaiveTime, readTrackingFile, setRecord } from '../projects/trackingFile.js';
import {
  asDeployedTree,
  matchesRecord,
  projectChanges,
  projectImage,
  projectTxRoot,
  readProjectCopy,
  readTrackingBytes,
  trackingChange,
} from '../projects/projectSide.js';
import type { ProjectCopy } from '../projects/projectSide.js';
import { classify, mergeCommittingConflicts } from './plan.js';
import type { OperationOptions } from './operations.js';
import { clockOf, transactionOptions } from './operations.js';
import { isFolderArtifact } from './prepare.js';
import { applyRetention } from './retention.js';
import { recordFor, withProjectWriter } from './deploy.js';
import type { ProjectResult } from './deploy.js';
import { applyChanges, newTxId } from '../txn/transaction.js';

export type PullStrategy = 'merge' | 'overwrite' | 'fork';
export const PULL_STRATEGIES: readonly PullStrategy[] = ['merge', 'overwrite', 'fork'];

export interface PullOptions {
  strategy?: PullStrategy;
  /** `fork`: the new artifact's name (one artifact only). */
  as?: string;
}

/**
 * - `pulled`: the project copy is now the collection's; `merged`: both sides' changes merged into both;
 * - `conflicted`: merged into the collection with conflicts (resolve there); `forked`: a new artifact;
 * - `in-sync`: nothing to pull (the record refreshed if need be); `not-modified`: the project copy is
 *   as deployed (the collection may be ahead: deploy brings that).
 */
export type PullOutcome = 'pulled' | 'merged' | 'conflicted' | 'forked' | 'in-sync' | 'not-modified';

export interface PulledArtifact {
  id: string;
  path: string;
  outcome: PullOutcome;
  /** `forked`: the new artifact's id. */
  into?: string;
  conflicts?: string[];
}

export interface PullResult extends ProjectResult<PulledArtifact> {
  preSnapshot?: string;
}

export async function pullArtifacts(
  collectionDir: string,
  root: ProfileRoot,
  refs: readonly string[],
  opts: OperationOptions,
  pull: PullOptions = {},
): Promise<PullResult> {
  const dir = path.resolve(collectionDir);
  const strategy = pull.strategy ?? 'merge';
  if (pull.as !== undefined && (strategy !== 'fork' || refs.length !== 1))
    throw new CoreError({
      code: 'artifact-name-invalid',
      name: pull.as,
      reason: '--as names the one artifact a fork creates',
    });
  readTrackingFile(root);
  return withProjectWriter(dir, root, opts, 'pull', async (collection, tracking, store, spilled) => {
    const txRoot = projectTxRoot(root);
    const clock = clockOf(opts);
    const now = clock.now();
    const results: PulledArtifact[] = [];
    const copies: ProjectCopy[] = [];
    const projectSide: FileChange[] = [];
    const collectionSide: FileChange[] = [];
    const findings: ExecFinding[] = [];
    const deployed: { entry: ArtifactEntry; tree: Tree; hash: string }[] = [];
    let manifestChanged = false;
    for (const ref of refs) {
      const record = recordFor(tracking, ref);
      const id = artifactId(record);
      const entry = findEntry(collection.manifest, record);
      if (!entry && strategy !== 'fork')
        throw new CoreError({
          code: 'artifact-not-found',
          artifact: `${id} (removed from the collection; pull --strategy fork adds the project copy back as a new artifact)`,
        });
      const copy = readProjectCopy(root, record);
      if (!copy.exists)
        throw new CoreError({
          code: 'artifact-path-invalid',
          artifact: id,
          path: copy.abs,
          reason: 'missing in the project: nothing to pull',
        });
      const isFolder = entry ? isFolderArtifact(dir, entry) : copy.isFolder;
      const source = entry ? path.join(dir, entry.path) : undefined;
      const collectionTree = source ? asDeployedTree(readTree(source, isFolder).tree, copy) : new Map();
      const collectionHash = source ? contentHash(source) : undefined;
      const record2 = { name: record.name, type: record.type };
      const refresh = (hash: string): void =>
        void setRecord(tracking, {
          ...record2,
          fromCollection:
            tracking.records.find((r) => r.name === record.name && r.type === record.type)?.fromCollection ??
            collection.dir,
          deployedAt: localNaiveTime(now),
          artifactPath: copy.rel,
          contentHash: hash,
          deploymentProfileId: root.profile,
          profileRootDir: PROFILES[root.profile],
        });
      if (strategy !== 'fork' && copy.hash === collectionHash) {
        results.push({ id, path: copy.rel, outcome: 'in-sync' });
        if (record.contentHash !== collectionHash) refresh(collectionHash as string);
        continue;
      }
      if (strategy !== 'fork' && matchesRecord(copy, record.contentHash)) {
        results.push({ id, path: copy.rel, outcome: 'not-modified' });
        continue;
      }
      copies.push(copy);
      if (strategy === 'fork') {
        const name = pull.as ?? `${record.name}-${path.basename(root.container)}`;
        if (findEntry(collection.manifest, { name, type: record.type }))
          throw new CoreError({ code: 'artifact-exists', artifact: `${record.type}/${name}` });
        const folder = path.posix.dirname(entry?.path ?? `${record.type}s/${record.name}`);
        const rel = `${folder}/${copy.isFolder ? name : `${name}${path.posix.extname(copy.rel)}`}`;
        const added = addArtifact(
          collection.manifest,
          { name, type: record.type },
          { path: rel, added: naiveUtcNow(now) },
        );
        manifestChanged = true;
        const tree = copy.isFolder
          ? copy.tree
          : new Map([[path.posix.basename(rel), [...copy.tree.values()][0]!]]);
        collectionSide.push(
          ...changesForArtifact(rel, copy.isFolder, new Map(), tree, [], [...(copy.isFolder ? [rel] : [])]),
        );
        setEntry(collection.lock, added, { content_hash: copy.hash as string, fetched: naiveUtcNow(now) });
        findings.push(...artifactFindings(artifactId(added), rel, copy.isFolder, new Map(), tree));
        results.push({ id, path: copy.rel, outcome: 'forked', into: artifactId(added) });
        continue;
      }
      const e = entry as ArtifactEntry;
      const collectionChanged = !(collectionHash === record.contentHash);
      let result: Tree = copy.tree;
      let outcome: PullOutcome = 'pulled';
      let conflicts: string[] = [];
      if (strategy === 'merge' && collectionChanged) {
        const base = await store.readDeployed(record.type, record.name, record.contentHash, {
          reuse: heldFile([collectionTree, copy.tree], isFolder),
          spill: (name) => spilled.file(name),
        });
        const merged = mergeCommittingConflicts(classify(base, collectionTree, copy.tree));
        result = merged.result;
        conflicts = merged.conflicts.map((c) => (isFolder ? `${e.path}/${c.rel}` : e.path));
        outcome = conflicts.length > 0 ? 'conflicted' : 'merged';
      }
      // The collection keys a single file by its own name.
      const inCollection = isFolder
        ? result
        : new Map([[path.posix.basename(e.path), [...result.values()][0]!]]);
      const mine = readTree(source as string, isFolder);
      collectionSide.push(...changesForArtifact(e.path, isFolder, mine.tree, inCollection, mine.keptDirs));
      findings.push(...artifactFindings(id, e.path, isFolder, mine.tree, inCollection));
      const locked = getEntry(collection.lock, e);
      const hash = resultHash(inCollection, isFolder);
      setEntry(collection.lock, e, {
        content_hash: hash,
        fetched: naiveUtcNow(now),
        upstream: locked?.upstream ?? e.upstream,
        resolved_sha: locked?.resolvedSha ?? e.resolvedSha,
        resolved_version: locked?.resolvedVersion ?? e.resolvedVersion,
        ...(outcome === 'conflicted' ? { conflicted: true as const } : {}),
      });
      if (outcome === 'merged') {
        // Both stores get the merge, so drift reads in-sync; it is the new deployed base.
        projectSide.push(...projectChanges(copy, result, txRoot));
        refresh(hash);
        deployed.push({ entry: e, tree: result, hash });
      } else {
        // Pulled: the project copy is the base now. Conflicted: it stays the base until resolved.
        refresh(copy.hash as string);
        deployed.push({ entry: e, tree: copy.tree, hash: copy.hash as string });
      }
      results.push({ id, path: copy.rel, outcome, ...(conflicts.length > 0 ? { conflicts } : {}) });
    }
    const trackingBefore = readTrackingBytes(root);
    const trackingSide = trackingChange(root, tracking, trackingBefore, txRoot);
    if (collectionSide.length === 0 && projectSide.length === 0 && trackingSide.length === 0)
      return { root, artifacts: results, txId: '' };
    const approval = await approveFindings(dir, findings, opts.exec, opts.fs, now);
    await store.storeDeployed(
      deployed.map((d) => ({
        type: d.entry.type,
        name: d.entry.name,
        content: d.tree,
        meta: { content_hash: d.hash },
      })),
    );
    const ids = results
      .filter((r) => r.outcome !== 'in-sync' && r.outcome !== 'not-modified')
      .map((r) => r.into ?? r.id);
    const pre = await store.create({
      reason: `before pulling ${ids.join(', ') || 'records'} from ${root.dir}`,
      trigger: 'pull',
      artifacts: ids,
    });
    const txId = newTxId(now.getTime());
    const imageCommit = await store.storeProjectImage(
      txId,
      projectImage(copies, trackingBefore, [...trackingSide, ...projectSide]),
    );
    const changes: FileChange[] = [
      ...trackingSide,
      ...projectSide,
      ...collectionSide,
      ...(manifestChanged ? [manifestWrite(collection)] : []),
      lockWrite(collection),
    ];
    await applyChanges(
      dir,
      {
        txId,
        kind: 'pull',
        description: `pull ${ids.join(', ') || 'records'} from ${root.dir}`,
        artifacts: ids,
        preSnapshot: pre.id,
        changes,
        tool: opts.tool,
        project: { root: root.dir, image: imageCommit },
        ...(approval ? { approvals: [approval] } : {}),
      },
      transactionOptions(opts),
    );
    await applyRetention(store, opts, [pre.id]);
    return { root, artifacts: results, txId, image: imageCommit, preSnapshot: pre.id };
  });
}
