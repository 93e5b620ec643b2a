/**
 * Per-artifact quick fixes, each one transaction like every change (snapshot first, journal, commit,
 * history, retention), so `undo` reverts it:
 * - `discardArtifacts` puts an artifact's files back to the content its lock entry records. That serves both
 *   "discard local edits" (state `modified`) and "reinstall" (files missing). The locked content is found
 *   offline: the stored upstream base at the lock's `resolved_sha` when its hash equals the lock's
 *   `content_hash`, else the newest snapshot whose copy of the artifact hashes to it; else it is refused.
 * - `removeArtifacts` is SkillMeat's `remove`: the manifest entry, the lock entry and the artifact's files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';
import { isNoisePath } from '../base/noise.js';
import { naiveUtcNow } from '../base/time.js';
import { artifactId } from '../model/artifact.js';
import {
  ancestors,
  changesForArtifact,
  heldFile,
  readTree,
  resultHash,
  SYMLINK_MODE,
  withoutNoise,
} from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { collectionWrites, loadCollectionCaching, preflightCollection } from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import { contentHash, skillMeatHash } from '../model/hash.js';
import { deleteEntry, getEntry } from '../model/lock.js';
import type { LockEntry } from '../model/lock.js';
import { removeArtifact } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { validateArtifact } from '../model/validate.js';
import { collectionSpillSpace } from '../ports/tempSpace.js';
import { walkSync } from '../ports/walk.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import type { OperationOptions } from './operations.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { isFolderArtifact, selectArtifacts, singleFileTree } from './prepare.js';
import { applyRetention } from './retention.js';

/** Where the locked content of a discarded artifact came from. */
export type LockedSource = { kind: 'upstream'; sha: string } | { kind: 'snapshot'; id: string };

export interface DiscardResult {
  /** The artifacts put back, with where their content came from; artifacts already clean are not listed. */
  restored: { id: string; from: LockedSource; files: number }[];
  /** `type/name` of the named artifacts whose files already held the locked content. */
  unchanged: string[];
  txId: string;
  preSnapshot: string;
}

export interface RemoveResult {
  removed: string[];
  /** Folders left in place because they hold a nested `.git` (collection-relative). */
  kept: string[];
  txId: string;
  preSnapshot: string;
}

/**
 * Puts each named artifact's files back to the content its lock entry records (local edits discarded,
 * missing files reinstalled). Refused, nothing written, when an artifact has no lock entry, is conflicted
 * (`update --abort` backs a merge out), or no stored copy holds its locked content.
 */
export async function discardArtifacts(
  collectionDir: string,
  refs: readonly string[],
  opts: OperationOptions,
): Promise<DiscardResult> {
  const dir = path.resolve(collectionDir);
  await preflightCollection(dir, opts.fs, (collection) => void lockedEntries(collection, refs));
  return withWriter(dir, writerOptions(opts, 'discard'), async () => {
    const collection = await loadCollectionCaching(dir, opts.fs);
    const entries = lockedEntries(collection, refs);
    const store = await openSnapshotStore(dir, storeOptions(opts));
    // Large files of the locked content go from the store to a file here, never whole into memory.
    const spilled = collectionSpillSpace(dir, 'discard-');
    try {
      const changes: FileChange[] = [];
      const restored: DiscardResult['restored'] = [];
      const unchanged: string[] = [];
      for (const { entry, locked } of entries) {
        const id = artifactId(entry);
        // Clean already, by our hash or by SkillMeat's (a SkillMeat lock may have counted a noise file).
        if (currentHashes(dir, entry).includes(locked.contentHash)) {
          unchanged.push(id);
          continue;
        }
        const isFolder = isFolderArtifact(dir, entry);
        const current = readTree(path.join(dir, entry.path), isFolder);
        const found = await lockedContent(store, entry, locked, isFolder, current.tree, (name) =>
          spilled.file(name),
        );
        if (!found)
          throw new CoreError({
            code: 'locked-content-unavailable',
            artifact: id,
            reason: `neither its stored upstream nor any snapshot holds content hashing to ${locked.contentHash.slice(0, 12)}`,
          });
        const installRoot = path.join(dir, isFolder ? entry.path : path.dirname(entry.path));
        const problems = validateArtifact(entry.type, found.tree, isFolder, installRoot);
        if (problems.length > 0)
          throw new CoreError({ code: 'validation-failed', artifact: id, reason: problems.join('; ') });
        const missing = [...ancestors(entry.path), ...(isFolder ? [entry.path] : [])].filter(
          (rel) => !fs.existsSync(fsPath(path.join(dir, rel))),
        );
        const artifactChanges = changesForArtifact(
          entry.path,
          isFolder,
          current.tree,
          found.tree,
          current.keptDirs,
          missing,
        );
        changes.push(...artifactChanges);
        restored.push({
          id,
          from: found.from,
          files: artifactChanges.filter((c) => c.kind === 'write' || c.kind === 'delete').length,
        });
      }
      if (restored.length === 0) return { restored, unchanged, txId: '', preSnapshot: '' };
      const ids = restored.map((r) => r.id);
      const pre = await store.create({
        reason: `before discarding the local changes of ${ids.join(', ')}`,
        trigger: 'discard',
        artifacts: ids,
      });
      const txId = newTxId(clockOf(opts).now().getTime());
      await applyChanges(
        dir,
        {
          txId,
          kind: 'discard',
          description: `discard local changes of ${ids.join(', ')}`,
          artifacts: ids,
          preSnapshot: pre.id,
          changes,
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
      await applyRetention(store, opts, [pre.id]);
      return { restored, unchanged, txId, preSnapshot: pre.id };
    } finally {
      spilled.dispose();
      store.close();
    }
  });
}

/**
 * Removes each named artifact: its manifest entry, its lock entry and its files (noise included). A
 * folder holding a nested `.git` is left in place with that repository (never deleted by us).
 */
export async function removeArtifacts(
  collectionDir: string,
  refs: readonly string[],
  opts: OperationOptions,
): Promise<RemoveResult> {
  const dir = path.resolve(collectionDir);
  await preflightCollection(dir, opts.fs, (collection) => void selectArtifacts(collection, refs));
  return withWriter(dir, writerOptions(opts, 'remove'), async () => {
    const collection = await loadCollectionCaching(dir, opts.fs);
    const entries = unique(selectArtifacts(collection, refs));
    const changes: FileChange[] = [];
    const kept: string[] = [];
    for (const entry of entries) {
      const { changes: fileChanges, kept: keptDir } = deletionOf(dir, entry);
      changes.push(...fileChanges);
      if (keptDir) kept.push(keptDir);
      removeArtifact(collection.manifest, entry);
      deleteEntry(collection.lock, entry);
    }
    const ids = entries.map((e) => artifactId(e));
    changes.push(...collectionWrites(collection, naiveUtcNow(clockOf(opts).now())));
    const store = await openSnapshotStore(dir, storeOptions(opts));
    try {
      const pre = await store.create({
        reason: `before removing ${ids.join(', ')}`,
        trigger: 'remove',
        artifacts: ids,
      });
      const txId = newTxId(clockOf(opts).now().getTime());
      await applyChanges(
        dir,
        {
          txId,
          kind: 'remove',
          description: `remove ${ids.join(', ')}`,
          artifacts: ids,
          preSnapshot: pre.id,
          changes,
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
      await applyRetention(store, opts, [pre.id]);
      return { removed: ids, kept, txId, preSnapshot: pre.id };
    } finally {
      store.close();
    }
  });
}

/** The named artifacts with their lock entries; refuses unlocked and conflicted ones. */
function lockedEntries(
  collection: Collection,
  refs: readonly string[],
): { entry: ArtifactEntry; locked: LockEntry }[] {
  return unique(selectArtifacts(collection, refs)).map((entry) => {
    const locked = getEntry(collection.lock, entry);
    const id = artifactId(entry);
    if (!locked)
      throw new CoreError({
        code: 'locked-content-unavailable',
        artifact: id,
        reason: 'it has no lock entry (run relock to lock its files as they are)',
      });
    if (locked.conflicted)
      throw new CoreError({
        code: 'conflicted',
        artifact: id,
        reason: 'back the merge out with `update --abort`, or finish it with `resolve`',
      });
    return { entry, locked };
  });
}

function unique(entries: ArtifactEntry[]): ArtifactEntry[] {
  return [...new Map(entries.map((e) => [artifactId(e), e])).values()];
}

function currentHashes(dir: string, entry: ArtifactEntry): string[] {
  try {
    const target = path.join(dir, entry.path);
    return [contentHash(target), skillMeatHash(target)];
  } catch {
    return [];
  }
}

/**
 * The artifact's locked content: the stored upstream base at the lock's sha when it hashes to the lock's
 * hash, else the newest snapshot whose copy of the artifact does. Noise is left out (it is never touched).
 */
async function lockedContent(
  store: SnapshotStore,
  entry: ArtifactEntry,
  locked: LockEntry,
  isFolder: boolean,
  /** The artifact's files now: those the locked content still holds are not read from the store. */
  current: Tree,
  spill: (name: string) => string,
): Promise<{ tree: Tree; from: LockedSource } | undefined> {
  const fit = (tree: Tree): Tree =>
    withoutNoise(isFolder ? tree : singleFileTree(tree, path.basename(entry.path)));
  const sha = locked.resolvedSha ?? entry.resolvedSha;
  if (sha) {
    const upstream = await store.readUpstream(entry.type, entry.name, sha, {
      spill,
      reuse: heldFile([current], isFolder),
    });
    if (upstream && upstream.size > 0) {
      const tree = fit(upstream);
      if (resultHash(tree, isFolder) === locked.contentHash) return { tree, from: { kind: 'upstream', sha } };
    }
  }
  const seen = new Set<string>();
  for (const snapshot of await store.list()) {
    const entries = [...(await store.readTree(snapshot.id))].filter(
      ([rel, e]) =>
        e.kind !== 'dir' &&
        (isFolder ? rel.startsWith(`${entry.path}/`) : rel === entry.path) &&
        !isNoisePath(isFolder ? rel.slice(entry.path.length + 1) : path.basename(rel)),
    );
    if (entries.length === 0) continue;
    const signature = entries.map(([rel, e]) => `${rel}\0${e.mode}\0${e.sha}`).join('\n');
    if (seen.has(signature)) continue;
    seen.add(signature);
    // Files the artifact still holds are taken from it, large ones go to files: as for the upstream.
    const tree = await store.readFiles(
      entries.map(([rel, e]) => [
        isFolder ? rel.slice(entry.path.length + 1) : path.basename(rel),
        { sha: e.sha, mode: e.kind === 'symlink' ? SYMLINK_MODE : e.mode === '100755' ? 0o755 : 0o644 },
      ]),
      { spill, reuse: heldFile([current], isFolder) },
    );
    if (resultHash(tree, isFolder) === locked.contentHash)
      return { tree, from: { kind: 'snapshot', id: snapshot.id } };
  }
  return undefined;
}

/** Deletes of every file under the artifact (noise too), its folders deepest first, then the folder. */
function deletionOf(dir: string, entry: ArtifactEntry): { changes: FileChange[]; kept?: string } {
  const abs = path.join(dir, entry.path);
  const st = fs.lstatSync(fsPath(abs), { throwIfNoEntry: false });
  if (!st) return { changes: [] };
  if (!st.isDirectory()) return { changes: [{ kind: 'delete', rel: entry.path }] };
  const walked = walkSync(abs, { keepSymlinks: true, skipName: (name) => name === '.git' });
  const changes: FileChange[] = walked.files.map((f) => ({ kind: 'delete', rel: `${entry.path}/${f.rel}` }));
  const keptDirs = new Set<string>();
  for (const rel of walked.skipped) for (const d of ancestors(rel)) keptDirs.add(d);
  const dirs = walked.dirs
    .map((d) => d.rel)
    .filter((rel) => !keptDirs.has(rel) && !walked.skipped.includes(rel))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  changes.push(...dirs.map((rel): FileChange => ({ kind: 'rmdir', rel: `${entry.path}/${rel}` })));
  if (walked.skipped.length > 0) return { changes, kept: entry.path };
  changes.push({ kind: 'rmdir', rel: entry.path });
  return { changes };
}
