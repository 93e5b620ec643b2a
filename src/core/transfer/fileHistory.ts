/**
 * The snapshot history of one file of the collection: the snapshots, newest first, that hold a version of
 * it other than the one on disk now, one entry per distinct run of versions (so ten snapshots taken while
 * the file did not change show as one). For "Show Snapshot History of File" in the editor. Read-only.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from '../base/fileNames.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotInfo } from '../store/snapshotRefs.js';
import type { OperationOptions } from './operations.js';
import { storeOptions } from './operations.js';

export interface FileVersion {
  /** The newest snapshot holding this version. */
  snapshot: SnapshotInfo;
  /** The git blob id of the version; undefined when the file did not exist in that snapshot. */
  blob?: string;
  /** How many consecutive snapshots (this one included) hold this same version. */
  snapshots: number;
}

/** Git's blob id of the bytes: what the snapshot trees hold, so versions compare without reading blobs. */
function blobId(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

/**
 * `rel` is collection-relative (POSIX). Versions equal to the file as it is now are left out; a run of
 * snapshots holding the same version is one entry, named by its newest snapshot.
 */
export async function snapshotFileHistory(
  collectionDir: string,
  rel: string,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock'>,
): Promise<FileVersion[]> {
  const dir = path.resolve(collectionDir);
  let current: string | undefined;
  try {
    current = blobId(fs.readFileSync(fsPath(path.join(dir, ...rel.split('/')))));
  } catch {
    current = undefined;
  }
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    const versions: FileVersion[] = [];
    let previous: string | undefined | null = null; // null: no snapshot seen yet
    for (const snapshot of await store.list()) {
      const entry = (await store.readTree(snapshot.id)).get(rel);
      const blob = entry && entry.kind !== 'dir' ? entry.sha : undefined;
      const last = versions[versions.length - 1];
      if (previous !== null && blob === previous) {
        if (last && last.blob === blob) last.snapshots++;
        continue;
      }
      previous = blob;
      if (blob === current) continue;
      versions.push({ snapshot, ...(blob ? { blob } : {}), snapshots: 1 });
    }
    // A trailing "did not exist" (the snapshots from before the file was added) says nothing to diff.
    while (versions.length > 0 && versions[versions.length - 1]?.blob === undefined) versions.pop();
    return versions;
  } finally {
    store.close();
  }
}
