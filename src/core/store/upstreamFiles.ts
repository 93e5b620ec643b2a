/**
 * Reading one file of an artifact's stored upstream content (the base of the last applied update, or
 * the upstream at a given sha), for "Show diff against upstream" in the editor.
 */
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import type { Fs } from '../ports/fs.js';
import type { FaultPlan } from '../ports/faults.js';
import { storeOptions } from '../transfer/operations.js';
import { openSnapshotStore } from './snapshots.js';

export async function readUpstreamFile(
  collectionDir: string,
  type: string,
  name: string,
  rel: string,
  sha: string | undefined,
  opts: { fs: Fs; logger: Logger; faults?: FaultPlan },
): Promise<Buffer | undefined> {
  const store = await openSnapshotStore(path.resolve(collectionDir), storeOptions(opts));
  try {
    const tree = await store.readUpstream(type, name, sha);
    if (!tree) return undefined;
    // A single-file artifact is stored under its upstream file name: any one entry is it.
    return (tree.get(rel) ?? (tree.size === 1 ? [...tree.values()][0] : undefined))?.data;
  } finally {
    store.close();
  }
}
