/**
 * Snapshot operations for the CLI and the extension: take, list, restore (itself undoable: a safety
 * snapshot first, then an atomic transaction that touches only what differs), diff, pin, prune, export
 * and import, and recovery of an interrupted transaction. Every mutating one holds the writer lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { hasJournal } from '../txn/journal.js';
import type { OperationOptions } from './operations.js';
import { importPrepared } from '../store/archiveImport.js';
import { exportSnapshot, prepareImport } from '../store/snapshotArchive.js';
import { checkSkillmeatFolder, importSkillmeatSnapshots } from '../store/skillmeatSnapshots.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import type { SnapshotStore } from '../store/snapshots.js';
import type { SnapshotInfo } from '../store/snapshotRefs.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import type { RecoveryOutcome } from '../txn/transaction.js';

export interface Retention {
  keep: number;
  maxAgeDays: number;
}

export const DEFAULT_RETENTION: Retention = { keep: 20, maxAgeDays: 30 };

type ReadOptions = Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock'>;

async function withStore<T>(
  dir: string,
  opts: ReadOptions,
  fn: (store: SnapshotStore) => Promise<T>,
): Promise<T> {
  const store = await openSnapshotStore(path.resolve(dir), storeOptions(opts));
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function writer<T>(
  dir: string,
  opts: OperationOptions,
  operation: string,
  fn: (store: SnapshotStore) => Promise<T>,
): Promise<T> {
  return withWriter(path.resolve(dir), writerOptions(opts, operation), () => withStore(dir, opts, fn));
}

/** Takes a snapshot, then applies retention. */
export function takeSnapshot(
  dir: string,
  options: { message?: string; trigger?: string; pinned?: boolean; retention?: Retention },
  opts: OperationOptions,
): Promise<SnapshotInfo> {
  return writer(dir, opts, 'snapshot', async (store) => {
    const info = await store.create({
      reason: options.message ?? 'manual snapshot',
      trigger: options.trigger ?? 'user',
      artifacts: [],
      ...(options.pinned ? { pinned: true } : {}),
    });
    // Retention is housekeeping: the snapshot exists either way, so a failed prune only warns.
    try {
      await store.prune({ ...toPrune(options.retention ?? DEFAULT_RETENTION) });
    } catch (err) {
      opts.logger.warn(`[Snapshots] retention after ${info.id} failed: ${(err as Error).message}`);
    }
    return info;
  });
}

function toPrune(retention: Retention): { keep: number; maxAgeDays: number } {
  return { keep: retention.keep, maxAgeDays: retention.maxAgeDays };
}

export function listSnapshots(dir: string, opts: ReadOptions): Promise<SnapshotInfo[]> {
  return withStore(dir, opts, (store) => store.list());
}

export interface RestoreResult {
  restored: SnapshotInfo;
  safety: SnapshotInfo;
  txId: string;
  changed: number;
}

/**
 * Restores `idOrLatest` ('latest' = the newest snapshot before this restore). A safety snapshot is taken
 * first so the restore can itself be undone; only files that differ are written, staged beside their
 * targets and renamed; files absent from the snapshot are removed only after their replacements are
 * staged. Throws `snapshot-not-found` before anything is written.
 */
export async function restoreSnapshot(
  dir: string,
  idOrLatest: string,
  opts: OperationOptions,
): Promise<RestoreResult> {
  // An unknown id is refused read-only, before the lock creates `.artifact-keeper/` (a collection without
  // a snapshot store has no snapshots, not even `latest`). With a journal, recovery under the lock comes
  // first. The id is resolved again under the lock: another writer may have pruned it meanwhile.
  if (!hasJournal(path.resolve(dir))) await withStore(dir, opts, (store) => store.resolve(idOrLatest));
  return writer(dir, opts, 'restore', async (store) => {
    const target = await store.resolve(idOrLatest);
    const safety = await store.create({
      reason: `before restoring ${target.id}`,
      trigger: 'restore',
      artifacts: [],
    });
    const changes = await store.planRestore(target.id);
    const txId = newTxId(clockOf(opts).now().getTime());
    if (changes.length > 0) {
      await applyChanges(
        path.resolve(dir),
        {
          txId,
          kind: 'restore',
          description: `restore ${target.id}`,
          artifacts: target.artifacts,
          preSnapshot: safety.id,
          changes,
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
    }
    return { restored: target, safety, txId, changed: changes.length };
  });
}

/** Undoes (or finishes, past its commit point) an interrupted transaction. */
export async function recoverCollection(dir: string, opts: OperationOptions): Promise<RecoveryOutcome> {
  // A folder without `.artifact-keeper/` has no journal, no lock and no temp files: nothing to do, and
  // nothing to create (the lock would make the folder).
  const root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, STATE_DIR))) {
    if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory())
      throw new CoreError({ code: 'not-a-collection', dir: root, reason: 'no such folder' });
    return 'none';
  }
  return withWriter(root, writerOptions(opts, 'recover'), async (ctx) => ctx.recovered);
}

export function diffSnapshot(dir: string, id: string, against: 'working' | string, opts: ReadOptions) {
  return withStore(dir, opts, async (store) => {
    const from = await store.resolve(id);
    return store.diffSnapshots(
      from.id,
      against === 'working' ? 'working' : (await store.resolve(against)).id,
    );
  });
}

export function readSnapshotFile(
  dir: string,
  snapshotId: string,
  rel: string,
  opts: ReadOptions,
): Promise<Buffer | undefined> {
  return withStore(dir, opts, async (store) => {
    const info = await store.resolve(snapshotId);
    const entry = (await store.readTree(info.id)).get(rel);
    if (!entry || entry.kind === 'dir') return undefined;
    return store.readBlob(entry.sha);
  });
}

export function setSnapshotPinned(
  dir: string,
  id: string,
  pinned: boolean,
  opts: OperationOptions,
): Promise<void> {
  return writer(dir, opts, 'pin', async (store) => {
    const info = await store.resolve(id);
    await store.setPinned(info.id, pinned);
  });
}

export function pruneSnapshots(dir: string, retention: Retention, opts: OperationOptions): Promise<string[]> {
  return writer(dir, opts, 'prune', (store) => store.prune(toPrune(retention)));
}

export function exportSnapshotFile(
  dir: string,
  id: string,
  file: string,
  opts: ReadOptions,
): Promise<SnapshotInfo> {
  return withStore(dir, opts, async (store) => {
    const info = await store.resolve(id);
    await exportSnapshot(store, info.id, path.resolve(file));
    return info;
  });
}

/**
 * Imports one of our .tar.gz exports, a SkillMeat snapshot tarball, or a folder of SkillMeat snapshots.
 * The archive is read and vetted before the writer lock is taken, so a refused one creates nothing.
 */
export async function importSnapshotFile(
  dir: string,
  file: string,
  opts: OperationOptions,
): Promise<SnapshotInfo[]> {
  const resolved = path.resolve(file);
  if (!resolved.endsWith('.tar.gz') && !resolved.endsWith('.tgz')) {
    checkSkillmeatFolder(resolved, opts.logger);
    return writer(dir, opts, 'import', (store) => importSkillmeatSnapshots(store, resolved));
  }
  const prepared = await prepareImport(resolved, opts.logger);
  return writer(dir, opts, 'import', async (store) => [await importPrepared(store, prepared)]);
}
