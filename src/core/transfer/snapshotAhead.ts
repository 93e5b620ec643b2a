/**
 * The snapshot before an update, scanned while the update fetches. A one-shot update holds the writer
 * lock from its plan to its commit, and its fetch is git processes the CLI only waits on: the scan (one
 * `lstat` per path of the collection, the longest part of a snapshot) runs in that wait, pausing every few
 * hundred paths so the fetch starts its next git process. At the commit the scan becomes the snapshot
 * only if it holds, byte for byte, everything the transaction replaces: manifest, lock, and each touched
 * artifact's files as the apply step last read them (and nothing where the transaction creates a file).
 * Anything else (a file changed between the scan and the apply, a large file, a scan that failed) takes
 * the snapshot again, as `create` always did. Untouched files are as they were at the scan, and the
 * transaction does not change them: restoring the snapshot undoes the update exactly.
 */
import type { FileChange } from '../base/changes.js';
import { traceCount, traced } from '../base/trace.js';
import type { Tree } from '../model/artifactTree.js';
import type { Collection } from '../model/collection.js';
import { LOCK_FILE } from '../model/lock.js';
import { MANIFEST_FILE } from '../model/manifest.js';
import { objectId } from '../store/gitObjects.js';
import type { CreateSnapshotOptions, SnapshotInfo } from '../store/snapshotRefs.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { scanContent } from '../store/treeScan.js';
import type { TreeAhead } from '../store/treeScan.js';

/** Lets the fetch's pending callbacks run: about 2 ms of scan between two of them. */
const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SnapshotAhead {
  private scan: Promise<TreeAhead | undefined> | undefined;

  constructor(private readonly store: SnapshotStore) {}

  /** Starts the scan, once: an artifact's new content is about to be fetched. */
  start(): void {
    if (this.scan) return;
    this.scan = traced('snapshot scan, during the fetch', () => this.store.scanAhead(pause));
    this.scan.catch(() => undefined); // taken (or settled) later; a failure means scanning again
  }

  /**
   * The snapshot before the transaction: the scan made ahead when it holds what `replaced` lists,
   * otherwise one taken now.
   */
  async take(options: CreateSnapshotOptions, replaced: ReplacedBytes | undefined): Promise<SnapshotInfo> {
    const scanned = await this.scan?.catch(() => undefined);
    this.scan = undefined;
    if (scanned && replaced && holds(scanned, replaced)) {
      const published = await this.store.publishScanned(scanned, options);
      if (published) return published;
    } else if (scanned) traceCount('snapshot scanned again: the scan did not hold the replaced bytes');
    return this.store.create(options);
  }

  /** Waits for a scan no snapshot took (the update failed, or changed nothing) before the store closes. */
  async settle(): Promise<void> {
    await this.scan?.catch(() => undefined);
    this.scan = undefined;
  }
}

/**
 * Path in the collection → what a snapshot must hold there before the transaction: `<mode> <blob id>`
 * (manifest and lock: the blob id alone, whatever their mode), or undefined for no file.
 */
export type ReplacedBytes = ReadonlyMap<string, string | undefined>;

/**
 * What a transaction replaces: manifest and lock as `collection` holds their bytes, each touched
 * artifact's files as read for the apply, and no file at any other path it writes or deletes. Undefined
 * when a touched file is large (kept on disk: hashing it again would read it whole).
 */
export function replacedBytes(
  collection: Collection,
  touched: readonly { path: string; isFolder: boolean; mine: Tree }[],
  changes: readonly FileChange[],
): ReplacedBytes | undefined {
  const replaced = new Map<string, string | undefined>([
    [MANIFEST_FILE, objectId('blob', collection.manifestBytes)],
    [LOCK_FILE, collection.lockBytes ? objectId('blob', collection.lockBytes) : undefined],
  ]);
  for (const { path, isFolder, mine } of touched) {
    for (const file of mine.values()) if (file.disk) return undefined;
    for (const [rel, entry] of scanContent(mine).files)
      replaced.set(isFolder ? `${path}/${rel}` : path, `${entry.mode} ${entry.sha}`);
  }
  for (const change of changes) {
    if (change.root !== undefined || (change.kind !== 'write' && change.kind !== 'delete')) continue;
    if (!replaced.has(change.rel)) replaced.set(change.rel, undefined);
  }
  return replaced;
}

/** Whether the scan found every path as `replaced` lists it (manifest and lock: their bytes alone). */
function holds(scanned: TreeAhead, replaced: ReplacedBytes): boolean {
  for (const [rel, want] of replaced) {
    const found = scanned.state.files.get(rel);
    if (want === undefined) {
      if (found !== undefined) return false;
      continue;
    }
    const got =
      rel === MANIFEST_FILE || rel === LOCK_FILE ? found?.sha : found && `${found.mode} ${found.sha}`;
    if (got !== want) return false;
  }
  return true;
}
