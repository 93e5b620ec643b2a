/**
 * Snapshot operations for the CLI and the extension: take, list, restore (itself undoable: a safety
 * snapshot first, then an atomic transaction that touches only what differs), undo of the last committed
 * transaction (a restore of its pre-snapshot), diff, pin, prune, export and import, and recovery of an
 * interrupted transaction. Every mutating one holds the writer lock; every one that creates a snapshot
 * applies retention after its commit (retention.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import type { FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { hasJournal } from '../txn/journal.js';
import { newestHistoryEntry } from '../store/history.js';
import type { HistoryEntry } from '../store/history.js';
import type { OperationOptions } from './operations.js';
import { importPrepared } from '../store/archiveImport.js';
import { exportSnapshot, prepareImport } from '../store/snapshotArchive.js';
import { checkSkillmeatFolder, importSkillmeatSnapshots } from '../store/skillmeatSnapshots.js';
import { asWriter, clockOf, transactionOptions, withStore, writerOptions } from './operations.js';
import type { SnapshotStore } from '../store/snapshots.js';
import type { SnapshotInfo } from '../store/snapshotRefs.js';
import { applyRetention, retentionOf } from './retention.js';
import type { Retention } from './retention.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { undoProjectChange } from './projectUndo.js';
import { collectionSpillSpace } from '../ports/tempSpace.js';
import type { RecoveryOutcome } from '../txn/transaction.js';

type ReadOptions = Pick<OperationOptions, 'fs' | 'logger' | 'faults' | 'clock'>;

/** Takes a snapshot, then applies the operation's retention (`opts.retention`). */
export function takeSnapshot(
  dir: string,
  options: { message?: string; trigger?: string; pinned?: boolean },
  opts: OperationOptions,
): Promise<SnapshotInfo> {
  return asWriter(dir, opts, 'snapshot', async (store) => {
    const info = await store.create({
      reason: options.message ?? 'manual snapshot',
      trigger: options.trigger ?? 'user',
      artifacts: [],
      ...(options.pinned ? { pinned: true } : {}),
    });
    // Retention is housekeeping: the snapshot exists either way, so a failed prune only warns.
    await applyRetention(store, opts, [info.id]);
    return info;
  });
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
 * Restores `idOrLatest` ('latest' = the newest snapshot that is not a restore's safety snapshot, so
 * running it twice changes nothing the second time). A safety snapshot is taken first so the restore can
 * itself be undone; only files that differ are written, staged beside their targets and renamed; files
 * absent from the snapshot are removed only after their replacements are staged. Throws
 * `snapshot-not-found` before anything is written.
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
  return asWriter(dir, opts, 'restore', async (store) => {
    const target = await store.resolve(idOrLatest);
    return restoreLocked(dir, store, target, opts, {
      kind: 'restore',
      description: `restore ${target.id}`,
      artifacts: target.artifacts,
      safetyReason: `before restoring ${target.id}`,
    });
  });
}

/**
 * The restore machinery, under the writer lock: safety snapshot, plan, one transaction (recorded in the
 * history as `kind`, with the safety snapshot as its pre-snapshot), then retention.
 */
async function restoreLocked(
  dir: string,
  store: SnapshotStore,
  target: SnapshotInfo,
  opts: OperationOptions,
  spec: { kind: string; description: string; artifacts: string[]; safetyReason: string },
): Promise<RestoreResult> {
  const safety = await store.create({ reason: spec.safetyReason, trigger: 'restore', artifacts: [] });
  // Large files go from the store to a file here, and are copied from it: never whole in memory.
  const spilled = collectionSpillSpace(dir, 'restore-');
  const txId = newTxId(clockOf(opts).now().getTime());
  let changes: FileChange[];
  try {
    changes = await store.planRestore(target.id, (name) => spilled.file(name));
    if (changes.length > 0) {
      await applyChanges(
        path.resolve(dir),
        {
          txId,
          kind: spec.kind,
          description: spec.description,
          artifacts: spec.artifacts,
          preSnapshot: safety.id,
          changes,
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
    }
  } finally {
    spilled.dispose();
  }
  await applyRetention(store, opts, [safety.id]);
  return { restored: target, safety, txId, changed: changes.length };
}

/**
 * What a history entry changed, for people: "update of skill/pdf", or its description when it names no
 * artifact or is itself an undo ("restore s…", "undo update of skill/pdf").
 */
export function describeChange(entry: Pick<HistoryEntry, 'kind' | 'description' | 'artifacts'>): string {
  if (entry.kind === 'undo' || entry.artifacts.length === 0) return entry.description;
  return `${entry.kind} of ${entry.artifacts.join(', ')}`;
}

export interface UndoResult extends RestoreResult {
  /** The transaction undone: the newest entry of the history when the undo started. */
  undone: HistoryEntry;
}

/**
 * Undoes the last committed transaction in the history (update, restore, add, relock, undo…) by restoring
 * its pre-snapshot with the restore machinery: a safety snapshot first, and the undo is itself a
 * transaction (history kind `undo`), so running `undo` again re-applies what was undone — `git revert` of
 * a revert, not a walk back through the history (ARCHITECTURE.md). `expectTxId`: undo only if that
 * transaction is still the last (the extension's "Undo Update" button). Throws `undo-unavailable`
 * (empty history, no pre-snapshot, pre-snapshot pruned, not the last) before anything is written.
 */
export async function undoLastChange(
  dir: string,
  opts: OperationOptions,
  options: { expectTxId?: string } = {},
): Promise<UndoResult> {
  const root = path.resolve(dir);
  // Refused read-only first, like restore: an empty history or a pruned snapshot writes nothing, not even
  // `.artifact-keeper/`. Checked again under the lock (recovery may finish a transaction; another writer
  // may have committed or pruned meanwhile).
  if (!hasJournal(root)) await withStore(root, opts, (store) => undoTarget(root, store, options));
  return asWriter(root, opts, 'undo', async (store) => {
    const { entry, target } = await undoTarget(root, store, options);
    const label = describeChange(entry);
    if (entry.project) {
      // A deploy, undeploy or pull: the project paths back from its image, the collection from its snapshot.
      const done = await undoProjectChange(root, store, { ...entry, project: entry.project }, opts, {
        kind: 'undo',
        description: undoDescription(entry, label),
        safetyReason: `before undoing ${label} (${entry.txId})`,
      });
      return { ...done, restored: target ?? done.safety, undone: entry };
    }
    const result = await restoreLocked(root, store, target as SnapshotInfo, opts, {
      kind: 'undo',
      description: undoDescription(entry, label),
      artifacts: entry.artifacts,
      safetyReason: `before undoing ${label} (${entry.txId})`,
    });
    return { ...result, undone: entry };
  });
}

/**
 * The history description of an undo: "undo update of skill/pdf"; undoing that re-applies the update, so
 * it reads "redo update of skill/pdf", and undoing the redo "undo …" again (not "undo undo undo …").
 */
function undoDescription(entry: HistoryEntry, label: string): string {
  if (entry.kind === 'undo' && label.startsWith('undo ')) return `redo ${label.slice(5)}`;
  if (entry.kind === 'undo' && label.startsWith('redo ')) return `undo ${label.slice(5)}`;
  return `undo ${label}`;
}

async function undoTarget(
  root: string,
  store: SnapshotStore,
  options: { expectTxId?: string },
): Promise<{ entry: HistoryEntry; target: SnapshotInfo | undefined }> {
  const entry = newestHistoryEntry(root);
  if (!entry) throw new CoreError({ code: 'undo-unavailable', reason: 'no-history' });
  const change = describeChange(entry);
  const about = { change, txId: entry.txId };
  if (options.expectTxId !== undefined && options.expectTxId !== entry.txId)
    throw new CoreError({ code: 'undo-unavailable', reason: 'not-last', ...about });
  if (!entry.preSnapshot) {
    // A deploy changes only the project: its image is what the undo puts back.
    if (entry.project) return { entry, target: undefined };
    throw new CoreError({ code: 'undo-unavailable', reason: 'no-snapshot', ...about });
  }
  const target = (await store.list()).find((s) => s.id === entry.preSnapshot);
  if (!target) {
    throw new CoreError({
      code: 'undo-unavailable',
      reason: 'snapshot-pruned',
      ...about,
      snapshotId: entry.preSnapshot,
    });
  }
  return { entry, target };
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
  return asWriter(dir, opts, 'pin', async (store) => {
    const info = await store.resolve(id);
    await store.setPinned(info.id, pinned);
  });
}

/**
 * Retention on its own, with `retention` (not `opts.retention`), then a `git gc` whatever was removed (it
 * collects what the amortised retention of earlier operations left); throws when it fails.
 */
export function pruneSnapshots(dir: string, retention: Retention, opts: OperationOptions): Promise<string[]> {
  const { keep, maxAgeDays } = retentionOf({ retention });
  return asWriter(dir, opts, 'prune', (store) =>
    store.prune({ keep, maxAgeDays: maxAgeDays ?? 0, gc: true }),
  );
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
  // The imported snapshots are spared by this import's retention: they sort by their own (older) time.
  const retained = async (imported: SnapshotInfo[], store: SnapshotStore): Promise<SnapshotInfo[]> => {
    await applyRetention(
      store,
      opts,
      imported.map((s) => s.id),
    );
    return imported;
  };
  if (!resolved.endsWith('.tar.gz') && !resolved.endsWith('.tgz')) {
    checkSkillmeatFolder(resolved, opts.logger);
    return asWriter(dir, opts, 'import', async (store) =>
      retained(await importSkillmeatSnapshots(store, resolved), store),
    );
  }
  const prepared = await prepareImport(resolved, opts.logger);
  return asWriter(dir, opts, 'import', async (store) =>
    retained([await importPrepared(store, prepared)], store),
  );
}
