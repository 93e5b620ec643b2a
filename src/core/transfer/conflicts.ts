/**
 * Finishing or backing out an update committed with conflicts (DESIGN §5 step 6), git's way: the lock
 * entry says `conflicted = true`; `resolve` re-locks the artifact once no marker and no `.upstream` copy
 * is left in it; `update --abort` puts the artifact (files, manifest entry, lock entry) back as the
 * pre-update snapshot holds it. Both are transactions: snapshot first, atomic commit, undoable.
 */
import * as path from 'node:path';
import { artifactId } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import { changesForArtifact, readTree, resultHash, SYMLINK_MODE } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { collectionWrites, loadCollectionCaching, preflightCollection } from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import type { FileChange } from '../base/changes.js';
import { getEntry, LOCK_FILE, parseLock, setEntry } from '../model/lock.js';
import { MANIFEST_FILE, parseManifest, findEntry, setArtifactFields } from '../model/manifest.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { validateArtifact } from '../model/validate.js';
import { isBinary } from '../merge/merge.js';
import { isNoisePath } from '../base/noise.js';
import { naiveUtcNow } from '../base/time.js';
import { findHistory } from '../store/history.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import type { OperationOptions } from './operations.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { applyRetention } from './retention.js';
import { isFolderArtifact, selectArtifacts } from './prepare.js';
import { LABELS, UPSTREAM_COPY_SUFFIX } from './plan.js';

/** A start or end marker line as the merge writes them (`=======` alone is a Markdown heading rule). */
const MARKER_LINE = new RegExp(`^(<{7} ${LABELS.mine}|>{7} ${LABELS.upstream})(\\r?$)`, 'm');
const UPSTREAM_COPY = new RegExp(`\\${UPSTREAM_COPY_SUFFIX}(\\.\\d+)?$`);

/** What still keeps an artifact conflicted: files with markers, and upstream copies beside files. */
export interface RemainingConflicts {
  markers: string[];
  upstreamCopies: string[];
}

/** Scans an artifact's files (read-only) for conflict markers and `<file>.upstream` copies. */
export function remainingConflicts(collectionDir: string, entry: ArtifactEntry): RemainingConflicts {
  const root = path.join(collectionDir, entry.path);
  const { tree } = readTree(root, isFolderArtifact(collectionDir, entry));
  return remainingIn(tree);
}

/** The same scan over a tree already read. */
export function remainingIn(tree: Tree): RemainingConflicts {
  const markers: string[] = [];
  const upstreamCopies: string[] = [];
  for (const [rel, file] of [...tree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (UPSTREAM_COPY.test(rel)) upstreamCopies.push(rel);
    else if (
      file.mode !== SYMLINK_MODE &&
      !isBinary(file.data) &&
      MARKER_LINE.test(file.data.toString('utf8'))
    )
      markers.push(rel);
  }
  return { markers, upstreamCopies };
}

export interface ConflictOperationResult {
  /** The artifacts finished (resolve) or backed out (abort). */
  artifacts: string[];
  txId: string;
  preSnapshot: string;
}

/**
 * `resolve ID…`: each artifact must be conflicted; refused (`conflicts-remain`, nothing written) while a
 * marker or an upstream copy is left, or when the result would not be a valid artifact. Then its lock
 * entry takes the files' hash and loses `conflicted`: the artifact reads `clean`.
 */
export async function resolveConflicts(
  collectionDir: string,
  refs: readonly string[],
  opts: OperationOptions,
): Promise<ConflictOperationResult> {
  return withConflicted(collectionDir, refs, opts, 'resolve', async (dir, collection, entries, now) => {
    for (const entry of entries) {
      const id = artifactId(entry);
      const isFolder = isFolderArtifact(dir, entry);
      const root = path.join(dir, entry.path);
      const { tree } = readTree(root, isFolder);
      const left = remainingIn(tree);
      if (left.markers.length + left.upstreamCopies.length > 0) {
        throw new CoreError({
          code: 'conflicts-remain',
          artifact: id,
          files: [
            ...left.markers.map((rel) => `${rel} (markers)`),
            ...left.upstreamCopies.map((rel) => `${rel} (upstream's copy)`),
          ],
        });
      }
      const problems = validateArtifact(
        entry.type as ArtifactType,
        tree,
        isFolder,
        isFolder ? root : path.dirname(root),
      );
      if (problems.length > 0)
        throw new CoreError({ code: 'validation-failed', artifact: id, reason: problems.join('; ') });
      const locked = getEntry(collection.lock, entry);
      setEntry(collection.lock, entry, {
        content_hash: resultHash(tree, isFolder),
        fetched: locked?.fetched ?? now,
        upstream: locked?.upstream ?? entry.upstream,
        resolved_sha: locked?.resolvedSha ?? entry.resolvedSha,
        resolved_version: locked?.resolvedVersion ?? entry.resolvedVersion,
      });
    }
    const ids = entries.map((e) => artifactId(e));
    return commit(dir, collection, ids, 'resolve', `resolve ${ids.join(', ')}`, [], now, opts);
  });
}

/**
 * `update --abort ID…`: puts each conflicted artifact back as it was before the update that left it
 * conflicted: its files from that update's pre-snapshot (upstream copies and marker files go), its
 * manifest and lock entries as they were. Other artifacts, even ones the same update changed, stay.
 */
export async function abortConflicts(
  collectionDir: string,
  refs: readonly string[],
  opts: OperationOptions,
): Promise<ConflictOperationResult> {
  return withConflicted(collectionDir, refs, opts, 'abort', async (dir, collection, entries, now) => {
    const changes: FileChange[] = [];
    const store = await openSnapshotStore(dir, storeOptions(opts));
    try {
      for (const entry of entries) changes.push(...(await backOut(dir, collection, entry, store)));
    } finally {
      store.close();
    }
    const ids = entries.map((e) => artifactId(e));
    return commit(dir, collection, ids, 'abort', `abort the update of ${ids.join(', ')}`, changes, now, opts);
  });
}

/** The pre-update snapshot of the update that left `id` conflicted, from the history. */
export function preMergeSnapshot(collectionDir: string, id: string): string | undefined {
  return findHistory(
    collectionDir,
    (h) =>
      (h.kind === 'update' || h.kind === 'pull') && h.artifacts.includes(id) && h.preSnapshot !== undefined,
  )?.preSnapshot;
}

/** Edits the model back to the pre-update entries and returns the file changes for the artifact. */
async function backOut(
  dir: string,
  collection: Collection,
  entry: ArtifactEntry,
  store: SnapshotStore,
): Promise<FileChange[]> {
  const id = artifactId(entry);
  const snapshot = preMergeSnapshot(dir, id);
  if (!snapshot)
    throw new CoreError({
      code: 'conflicted',
      artifact: id,
      reason: 'no record of the update that left it conflicted; restore a snapshot instead',
    });
  const tree = await store.readTree(snapshot);
  const blob = async (rel: string): Promise<Buffer | undefined> => {
    const at = tree.get(rel);
    return at ? store.readBlob(at.sha) : undefined;
  };
  const before = {
    manifest: parseManifest((await blob(MANIFEST_FILE)) ?? '', `${snapshot}:${MANIFEST_FILE}`),
    lock: parseLock(await blob(LOCK_FILE), `${snapshot}:${LOCK_FILE}`),
  };
  const was = findEntry(before.manifest, entry);
  const wasLocked = getEntry(before.lock, entry);
  if (!was || !wasLocked || was.path !== entry.path)
    throw new CoreError({
      code: 'conflicted',
      artifact: id,
      reason: `snapshot ${snapshot} does not hold it at ${entry.path}; restore a snapshot instead`,
    });
  const isFolder = isFolderArtifact(dir, entry);
  const target: Tree = new Map();
  const prefix = `${entry.path}/`;
  for (const [rel, at] of tree) {
    if (at.kind === 'dir') continue;
    const inside = isFolder
      ? rel.startsWith(prefix)
        ? rel.slice(prefix.length)
        : undefined
      : rel === entry.path
        ? path.basename(rel)
        : undefined;
    // Noise is never the artifact's: what is on disk now stays (the snapshot's copy is not put back).
    if (inside === undefined || (isFolder && isNoisePath(inside))) continue;
    const mode = at.mode === '120000' ? SYMLINK_MODE : at.mode === '100755' ? 0o755 : 0o644;
    target.set(inside, { data: await store.readBlob(at.sha), mode });
  }
  const now = readTree(path.join(dir, entry.path), isFolder);
  setArtifactFields(entry, {
    upstream: was.upstream,
    version_spec: was.versionSpec,
    resolved_sha: was.resolvedSha,
    resolved_version: was.resolvedVersion,
    last_updated: was.lastUpdated,
  });
  setEntry(collection.lock, entry, {
    content_hash: wasLocked.contentHash,
    fetched: wasLocked.fetched ?? naiveUtcNow(new Date()),
    upstream: wasLocked.upstream,
    resolved_sha: wasLocked.resolvedSha,
    resolved_version: wasLocked.resolvedVersion,
  });
  return changesForArtifact(entry.path, isFolder, now.tree, target, now.keptDirs);
}

function conflictedEntries(collection: Collection, refs: readonly string[]): ArtifactEntry[] {
  const entries = selectArtifacts(collection, refs);
  for (const entry of entries) {
    if (!getEntry(collection.lock, entry)?.conflicted)
      throw new CoreError({ code: 'not-conflicted', artifact: artifactId(entry) });
  }
  return entries;
}

async function commit(
  dir: string,
  collection: Collection,
  ids: string[],
  kind: 'resolve' | 'abort',
  description: string,
  changes: FileChange[],
  now: string,
  opts: OperationOptions,
): Promise<ConflictOperationResult> {
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    const pre = await store.create({ reason: `before ${description}`, trigger: kind, artifacts: ids });
    const txId = newTxId(clockOf(opts).now().getTime());
    await applyChanges(
      dir,
      {
        txId,
        kind,
        description,
        artifacts: ids,
        preSnapshot: pre.id,
        changes: [...changes, ...collectionWrites(collection, now)],
        tool: opts.tool,
      },
      transactionOptions(opts),
    );
    await applyRetention(store, opts, [pre.id]); // after the commit; never throws
    return { artifacts: ids, txId, preSnapshot: pre.id };
  } finally {
    store.close();
  }
}

/** The three sides of a file an update left conflicted, for a merge editor. Undefined: absent there. */
export interface ConflictSides {
  /** The upstream content the artifact had before the update (the merge's base). */
  base?: Buffer;
  /** The collection's file before the update (from the pre-update snapshot). */
  local?: Buffer;
  /** The upstream content the update brought. */
  upstream?: Buffer;
}

/**
 * Reads the sides of `rel` (relative to the artifact; a single file: its name) of a conflicted artifact
 * from the store: local from the pre-update snapshot, base and upstream from the stored upstream trees
 * at the shas the lock pinned before and pins now. Read-only; undefined when the artifact is not
 * conflicted or its update is not in the history.
 */
export async function conflictSides(
  collectionDir: string,
  ref: string,
  rel: string,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock'>,
): Promise<ConflictSides | undefined> {
  const dir = path.resolve(collectionDir);
  const collection = await loadCollectionCaching(dir, opts.fs);
  const [entry] = selectArtifacts(collection, [ref]);
  const locked = entry ? getEntry(collection.lock, entry) : undefined;
  if (!entry || !locked?.conflicted) return undefined;
  const snapshot = preMergeSnapshot(dir, artifactId(entry));
  if (!snapshot) return undefined;
  const isFolder = isFolderArtifact(dir, entry);
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    const tree = await store.readTree(snapshot);
    const blob = async (at: string): Promise<Buffer | undefined> => {
      const found = tree.get(at);
      return found && found.kind !== 'dir' ? store.readBlob(found.sha) : undefined;
    };
    const lockBefore = parseLock((await blob(LOCK_FILE)) ?? '', `${snapshot}:${LOCK_FILE}`);
    const baseSha = getEntry(lockBefore, entry)?.resolvedSha;
    const fileOf = async (sha: string | undefined): Promise<Buffer | undefined> => {
      if (!sha) return undefined;
      const upstream = await store.readUpstream(entry.type, entry.name, sha);
      if (!upstream) return undefined;
      return (isFolder ? upstream.get(rel) : [...upstream.values()][0])?.data;
    };
    const local = await blob(isFolder ? `${entry.path}/${rel}` : entry.path);
    const base = await fileOf(baseSha);
    const upstream = await fileOf(locked.resolvedSha);
    return {
      ...(base ? { base } : {}),
      ...(local ? { local } : {}),
      ...(upstream ? { upstream } : {}),
    };
  } finally {
    store.close();
  }
}

/**
 * Runs `body` under the writer lock with the named artifacts, each of which must be conflicted (checked
 * read-only before the lock is taken too), the loaded collection and the operation's timestamp.
 */
async function withConflicted<R>(
  collectionDir: string,
  refs: readonly string[],
  opts: OperationOptions,
  operation: 'resolve' | 'abort',
  body: (dir: string, collection: Collection, entries: ArtifactEntry[], now: string) => Promise<R>,
): Promise<R> {
  const dir = path.resolve(collectionDir);
  await preflightCollection(dir, opts.fs, (collection) => void conflictedEntries(collection, refs));
  return withWriter(dir, writerOptions(opts, operation), async () => {
    const collection = await loadCollectionCaching(dir, opts.fs);
    return body(dir, collection, conflictedEntries(collection, refs), naiveUtcNow(clockOf(opts).now()));
  });
}
