/**
 * Which files of one artifact differ from its locked content, git-status style (M, A, D, C), for views
 * that list an artifact's changed files. The locked content is the upstream tree the snapshot store keeps
 * at the lock's `resolved_sha` (the true base an update plans against). Read-only; never takes the lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTree, withoutNoise } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { sameBytes } from '../model/largeFiles.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { OperationOptions } from '../transfer/operations.js';
import { storeOptions } from '../transfer/operations.js';
import { remainingIn } from '../transfer/conflicts.js';
import { UPSTREAM_COPY_SUFFIX } from '../transfer/plan.js';

export type ArtifactFileKind = 'modified' | 'added' | 'deleted' | 'conflicted';

export interface ArtifactFileChange {
  /** Relative to the artifact folder; a single-file artifact: its file name. */
  rel: string;
  kind: ArtifactFileKind;
}

export interface ArtifactChanges {
  /** Whether the store holds the locked content; without it only conflicts can be told. */
  hasBase: boolean;
  isFolder: boolean;
  /** Sorted by path. */
  files: ArtifactFileChange[];
}

/** The artifact as the report names it. */
export interface ArtifactRef {
  type: string;
  name: string;
  /** Relative to the collection. */
  path: string;
  resolvedSha?: string;
}

/**
 * Lists the changed files of one artifact against its locked content (the stored upstream tree at the
 * lock's sha): `modified`, `added` (only local), `deleted` (only locked), `conflicted` (conflict markers,
 * or a `<file>.upstream` copy beside it; the copy itself is listed only when neither side knows its file).
 * Noise is never a change. Does IO (reads the files and the snapshot store); throws only when the store
 * cannot be opened.
 */
export async function artifactFileChanges(
  collectionDir: string,
  artifact: ArtifactRef,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock'>,
): Promise<ArtifactChanges> {
  const dir = path.resolve(collectionDir);
  const root = path.join(dir, artifact.path);
  const st = fs.statSync(root, { throwIfNoEntry: false });
  const isFolder = st ? st.isDirectory() : !path.extname(artifact.path);
  const mine = withoutNoise(readTree(root, isFolder).tree);
  let base: Tree | undefined;
  if (artifact.resolvedSha) {
    const store = await openSnapshotStore(dir, storeOptions(opts));
    try {
      base = await store.readUpstream(artifact.type, artifact.name, artifact.resolvedSha);
    } finally {
      store.close();
    }
  }
  if (base) base = withoutNoise(base);
  // A single file is stored under its upstream file name: re-key it to the local name.
  if (base && !isFolder) {
    const only = [...base.values()][0];
    base = only ? new Map([[path.basename(artifact.path), only]]) : new Map();
  }
  const conflicts = remainingIn(mine);
  const kinds = new Map<string, ArtifactFileKind>();
  for (const rel of conflicts.markers) kinds.set(rel, 'conflicted');
  for (const copy of conflicts.upstreamCopies) {
    const original = copy.replace(new RegExp(`\\${UPSTREAM_COPY_SUFFIX}(\\.\\d+)?$`), '');
    // A file deleted locally that upstream changed is still the conflict's name (its copy sits beside it).
    kinds.set(mine.has(original) || base?.has(original) ? original : copy, 'conflicted');
  }
  const isCopy = (rel: string): boolean => conflicts.upstreamCopies.includes(rel);
  if (base) {
    for (const [rel, file] of mine) {
      if (kinds.has(rel) || isCopy(rel)) continue;
      const locked = base.get(rel);
      if (!locked) kinds.set(rel, 'added');
      else if (locked.mode !== file.mode || !sameBytes(locked, file)) kinds.set(rel, 'modified');
    }
    for (const rel of base.keys()) if (!mine.has(rel) && !kinds.has(rel)) kinds.set(rel, 'deleted');
  }
  const files = [...kinds]
    .map(([rel, kind]) => ({ rel, kind }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { hasBase: base !== undefined, isFolder, files };
}
