/**
 * Snapshots from the UI: "Restore snapshot" (pick with age, reason, artifacts and pin → diff preview →
 * confirm → restore, itself undoable through the safety snapshot the core takes first), "Undo Last
 * Change" (the core's undo, also behind "Undo Update"), one-click roll back, "Take snapshot", "Recover",
 * the history, and "Show changes" since a snapshot.
 */
import * as vscode from 'vscode';
import {
  describeChange,
  diffSnapshot,
  findHistory,
  historyNewestFirst,
  isSafetySnapshot,
  listSnapshots,
  newestHistoryEntry,
  recoverCollection,
  restoreSnapshot,
  takeSnapshot,
  undoLastChange,
} from '../core/index.js';
import type { HistoryEntry, UndoResult } from '../core/index.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import { toSnapshotUri, workingUri } from './snapshotContent.js';
import type { CollectionModel } from './store.js';
import { age, firstNames, shortName, showChanges, snapshotTime, titled } from './ui.js';
import type { ChangeEntry } from './ui.js';

const t = vscode.l10n.t;

export type RestoreOutcome =
  | { kind: 'restored'; snapshotId: string; safetySnapshot: string }
  | { kind: 'cancelled' }
  | { kind: 'unchanged' };

const SHOW_SAFETY = '\u0000show-safety';

/**
 * The snapshot to restore: each one leads with its reason and age (the id after them), newest first. The
 * safety snapshots restores take sit behind a last item that shows them too: they are undo points of a
 * restore, rarely what a person looks for.
 */
async function pickSnapshot(
  services: Services,
  collection: CollectionModel,
  snapshots: Awaited<ReturnType<typeof listSnapshots>>,
): Promise<string | undefined> {
  // The core's definition, the one `restore latest` skips too.
  const isSafety = (s: (typeof snapshots)[number]): boolean => isSafetySnapshot(s);
  const safety = snapshots.filter(isSafety).length;
  let showSafety = safety === snapshots.length;
  for (;;) {
    const shown = snapshots.filter((s) => showSafety || !isSafety(s));
    const items = shown.map((s) => ({
      label: `${s.pinned ? '$(pinned) ' : ''}${isSafety(s) ? '$(history) ' : ''}${s.reason}`,
      description: `${age(s.time)} · ${s.id}`,
      detail: [
        s.artifacts.length > 0
          ? t('Artifacts: {0}', firstNames(s.artifacts.map(shortName)))
          : t('Whole collection'),
        t('taken by {0} ({1})', s.tool, s.trigger),
        s.pinned ? t('pinned') : undefined,
      ]
        .filter(Boolean)
        .join(' · '),
      value: s.id,
    }));
    if (!showSafety && safety > 0) {
      items.push({
        label: t('$(eye) Show {0} safety snapshot(s) taken before restores', safety),
        description: '',
        detail: '',
        value: SHOW_SAFETY,
      });
    }
    const picked = await services.prompter.pick({
      id: 'pickSnapshot',
      title: t('Restore a snapshot of {0}', collection.name),
      placeholder: t('The newest snapshot is first'),
      items,
    });
    if (picked !== SHOW_SAFETY) return picked;
    showSafety = true;
  }
}

/** Palette "Restore snapshot" (or a given snapshot): pick, preview, confirm, restore. */
export async function restoreFlow(
  services: Services,
  collection: CollectionModel,
  snapshotId?: string,
): Promise<RestoreOutcome> {
  const { prompter } = services;
  let id = snapshotId;
  if (!id) {
    const snapshots = await listSnapshots(collection.dir, services.store.readOptions());
    if (snapshots.length === 0) {
      void prompter.notify({
        id: 'no-snapshots',
        severity: 'info',
        message: t('{0} has no snapshots yet.', collection.name),
        actions: [],
      });
      return { kind: 'cancelled' };
    }
    id = await pickSnapshot(services, collection, snapshots);
    if (!id) return { kind: 'cancelled' };
  }
  const changes = await diffSnapshot(collection.dir, id, 'working', services.store.readOptions());
  if (changes.length === 0) {
    void prompter.notify({
      id: 'restore-unchanged',
      severity: 'info',
      message: t('{0} already matches snapshot {1}; there is nothing to restore.', collection.name, id),
      actions: [],
    });
    return { kind: 'unchanged' };
  }
  // Left: the collection now; right: what the restore makes of it.
  const entries: ChangeEntry[] = changes.map((change) => {
    const working = workingUri(collection.dir, change.rel);
    const snapshot = toSnapshotUri(
      { kind: 'snapshot', dir: collection.dir, snapshotId: id, rel: change.rel },
      working.fsPath,
    );
    const empty = toSnapshotUri({ kind: 'empty', rel: change.rel }, working.fsPath);
    return {
      label: working,
      original: change.status === 'deleted' ? empty : working,
      modified: change.status === 'added' ? empty : snapshot,
    };
  });
  const restoreTarget = (await listSnapshots(collection.dir, services.store.readOptions())).find(
    (s) => s.id === id,
  );
  const restoreSides = t('now ↔ snapshot {0}', restoreTarget ? snapshotTime(restoreTarget.time) : id);
  await showChanges(
    t('Restore {0} ({1})', collection.name, restoreSides),
    titled(collection, entries, restoreSides),
    services.log,
  );
  const confirmed = await prompter.confirm({
    id: 'confirmRestore',
    message: t('Restore snapshot {0} of {1}?', id, collection.name),
    detail: t(
      '{0} file(s) change. A safety snapshot is taken first, so this restore can be undone.',
      changes.length,
    ),
    confirm: t('Restore'),
  });
  if (!confirmed) return { kind: 'cancelled' };
  const restoredId = id;
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'restoring', snapshotId: restoredId },
      mutates: true,
      progress: 'notification',
      title: t('Restoring snapshot {0}', restoredId),
    },
    (ctx) => restoreSnapshot(collection.dir, restoredId, ctx.options),
  );
  const safety = result.safety.id;
  void prompter
    .notify({
      id: 'restore-succeeded',
      severity: 'info',
      message: t(
        'Restored snapshot {0}. Safety snapshot {1} holds the state before the restore.',
        restoredId,
        safety,
      ),
      actions: [{ id: 'undo', title: t('Undo Restore') }],
    })
    .then((action) => {
      if (action === 'undo') void rollbackCommand(collection, safety, t('the restore of {0}', restoredId));
    });
  return { kind: 'restored', snapshotId: restoredId, safetySnapshot: safety };
}

export interface RollbackOptions {
  /** No notification (the caller words the outcome). */
  quiet?: boolean;
}

/**
 * One click back: finishes any interrupted transaction (recover), then restores `snapshotId` (the state
 * before an update, or the safety snapshot of a restore). Without a snapshot, only recovers.
 */
export async function rollbackFlow(
  services: Services,
  collection: CollectionModel,
  snapshotId: string | undefined,
  label: string,
  options: RollbackOptions = {},
): Promise<{ recovered: string; safetySnapshot?: string }> {
  const result = await services.store.run(
    collection,
    {
      activity: snapshotId ? { kind: 'restoring', snapshotId } : { kind: 'recovering' },
      mutates: true,
      progress: 'notification',
      title: t('Rolling back {0}', label),
    },
    async (ctx) => {
      const recovered = await recoverCollection(collection.dir, ctx.options);
      if (!snapshotId) return { recovered };
      const restored = await restoreSnapshot(collection.dir, snapshotId, ctx.options);
      return { recovered, safetySnapshot: restored.safety.id };
    },
  );
  if (!options.quiet) {
    const safety = result.safetySnapshot;
    void services.prompter
      .notify({
        id: 'rollback-succeeded',
        severity: 'info',
        message: snapshotId
          ? t('Rolled back {0} to snapshot {1}.', label, snapshotId)
          : t('Recovered {0}.', collection.name),
        actions: safety ? [{ id: 'undo', title: t('Undo Roll Back') }] : [],
      })
      .then((action) => {
        if (action === 'undo' && safety) void rollbackCommand(collection, safety, t('the roll back'));
      });
  }
  return result;
}

/**
 * A one-click roll back from a notification button, through the command (and so its error wrapper:
 * a failure there is reported like any other).
 */
export function rollbackCommand(
  collection: CollectionModel,
  snapshotId: string | undefined,
  label: string,
): Thenable<unknown> {
  return vscode.commands.executeCommand('artifactKeeper.rollback', collection.dir, snapshotId, label);
}

/** Palette "Roll back last update": the newest update in the history, confirmed, restored. */
export async function rollbackLastUpdateFlow(
  services: Services,
  collection: CollectionModel,
): Promise<boolean> {
  const last = findHistory(collection.dir, (entry) => entry.kind === 'update' && Boolean(entry.preSnapshot));
  if (!last?.preSnapshot)
    throw new ExtensionError({ code: 'nothing-to-roll-back', collection: collection.name });
  const label = firstNames(last.artifacts.map(shortName)) || last.description;
  const confirmed = await services.prompter.confirm({
    id: 'confirmRollback',
    message: t('Roll back the update of {0} ({1})?', label, age(last.time)),
    detail: t(
      'Restores snapshot {0}, taken just before it. A safety snapshot is taken first.',
      last.preSnapshot,
    ),
    confirm: t('Roll Back'),
  });
  if (!confirmed) return false;
  await rollbackFlow(services, collection, last.preSnapshot, label);
  return true;
}

/** What changed since a snapshot, in the multi-file diff editor (snapshot ↔ working). */
export async function showSnapshotChanges(
  services: Services,
  collection: CollectionModel,
  snapshotId: string,
  /** The multi-file diff editor's title; default `<collection> (snapshot <time> ↔ now)`. */
  title?: string,
): Promise<number> {
  const changes = await diffSnapshot(collection.dir, snapshotId, 'working', services.store.readOptions());
  if (changes.length === 0) {
    void services.prompter.notify({
      id: 'no-changes',
      severity: 'info',
      message: t('Nothing changed since snapshot {0}.', snapshotId),
      actions: [],
    });
    return 0;
  }
  const entries = changes.map((change) => {
    const working = workingUri(collection.dir, change.rel);
    const snapshot = toSnapshotUri(
      { kind: 'snapshot', dir: collection.dir, snapshotId, rel: change.rel },
      working.fsPath,
    );
    const empty = toSnapshotUri({ kind: 'empty', rel: change.rel }, working.fsPath);
    return {
      label: working,
      original: change.status === 'added' ? empty : snapshot,
      modified: change.status === 'deleted' ? empty : working,
    };
  });
  const info = (await listSnapshots(collection.dir, services.store.readOptions())).find(
    (s) => s.id === snapshotId,
  );
  const sides = t('snapshot {0} ↔ now', info ? snapshotTime(info.time) : snapshotId);
  await showChanges(
    title ?? t('{0} ({1})', collection.name, sides),
    titled(collection, entries, sides),
    services.log,
  );
  return entries.length;
}

/**
 * Palette "Undo Last Change", and "Undo Update" after an update (`expectTxId`: only while that update is
 * still the last change): the core's undo, without a question — it is itself undone the same way.
 * Shows "Undid …" with [Show Changes] (what the undo changed: its safety snapshot ↔ now).
 */
export async function undoFlow(
  services: Services,
  collection: CollectionModel,
  expectTxId?: string,
): Promise<UndoResult> {
  const last = newestHistoryEntry(collection.dir);
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'restoring', snapshotId: last?.preSnapshot ?? '' },
      mutates: true,
      progress: 'notification',
      title: last ? t('Undoing {0}', describeChange(last)) : t('Undoing the last change'),
    },
    (ctx) => undoLastChange(collection.dir, ctx.options, expectTxId ? { expectTxId } : {}),
  );
  const change = describeChange(result.undone);
  const safety = result.safety.id;
  void services.prompter
    .notify({
      id: 'undo-succeeded',
      severity: 'info',
      message:
        result.changed > 0
          ? t('Undid {0}: restored snapshot {1}. Undo again to re-apply it.', change, result.restored.id)
          : t('Nothing to undo: {0} already matches the state before {1}.', collection.name, change),
      actions: result.changed > 0 ? [{ id: 'changes', title: t('Show Changes') }] : [],
    })
    .then((action) => {
      if (action === 'changes')
        void vscode.commands.executeCommand('artifactKeeper.showChanges', collection.dir, safety);
    });
  return result;
}

/** Palette "Take snapshot". */
export async function takeSnapshotFlow(
  services: Services,
  collection: CollectionModel,
): Promise<string | undefined> {
  const message = await services.prompter.input({
    id: 'snapshotMessage',
    title: t('Take a snapshot of {0}', collection.name),
    prompt: t('A note to find it again by (optional)'),
    placeholder: t('e.g. before trying the new pdf skill'),
  });
  if (message === undefined) return undefined;
  const info = await services.store.run(
    collection,
    {
      activity: { kind: 'snapshotting' },
      mutates: true,
      progress: 'notification',
      title: t('Taking a snapshot of {0}', collection.name),
    },
    (ctx) =>
      takeSnapshot(
        collection.dir,
        {
          ...(message.trim() ? { message: message.trim() } : {}),
          trigger: 'manual',
        },
        ctx.options,
      ),
  );
  void services.prompter.notify({
    id: 'snapshot-taken',
    severity: 'info',
    message: t('Took snapshot {0} of {1}.', info.id, collection.name),
    actions: [],
  });
  return info.id;
}

/** Palette "Recover": finishes or undoes an interrupted transaction. */
export async function recoverFlow(services: Services, collection: CollectionModel): Promise<string> {
  const outcome = await services.store.run(
    collection,
    {
      activity: { kind: 'recovering' },
      mutates: true,
      progress: 'notification',
      title: t('Recovering {0}', collection.name),
    },
    (ctx) => recoverCollection(collection.dir, ctx.options),
  );
  const message =
    outcome === 'rolled-back'
      ? t('Recovered {0}: the interrupted change was undone.', collection.name)
      : outcome === 'rolled-forward'
        ? t('Recovered {0}: the interrupted change had committed and was completed.', collection.name)
        : t('{0} has nothing to recover.', collection.name);
  void services.prompter.notify({ id: 'recovered', severity: 'info', message, actions: [] });
  return outcome;
}

/** How many entries the History list shows at a time; "Older changes…" shows the next ones. */
const HISTORY_PAGE = 200;

/**
 * "Show history": past transactions, newest first, a page at a time (read backwards from the end of the
 * history, so a long one costs only what is shown); pick one to see its changes or go back to before it.
 */
export async function historyFlow(
  services: Services,
  collection: CollectionModel,
  artifactId?: string,
): Promise<void> {
  let shown = 0;
  let picked: HistoryEntry | undefined;
  for (;;) {
    const page: HistoryEntry[] = [];
    let older = false;
    let skipped = 0;
    for (const entry of historyNewestFirst(collection.dir)) {
      if (artifactId && !entry.artifacts.includes(artifactId)) continue;
      if (skipped++ < shown) continue;
      if (page.length === HISTORY_PAGE) {
        older = true;
        break;
      }
      page.push(entry);
    }
    if (page.length === 0) {
      void services.prompter.notify({
        id: 'no-history',
        severity: 'info',
        message: artifactId
          ? t('{0} has no recorded changes yet.', artifactId)
          : t('{0} has no recorded changes yet.', collection.name),
        actions: [],
      });
      return;
    }
    const answer = await services.prompter.pick<HistoryEntry | 'older'>({
      id: 'pickHistory',
      title: artifactId ? t('History of {0}', artifactId) : t('History of {0}', collection.name),
      items: [
        ...page.map((entry) => ({
          label: `${entry.kind}: ${firstNames(entry.artifacts.map(shortName)) || entry.description}`,
          description: `${age(entry.time)} · ${entry.tool}`,
          detail: [
            entry.description,
            entry.preSnapshot ? t('snapshot before it: {0}', entry.preSnapshot) : undefined,
          ]
            .filter(Boolean)
            .join(' · '),
          value: entry as HistoryEntry | 'older',
        })),
        ...(older ? [{ label: t('$(history) Older changes…'), value: 'older' as const }] : []),
      ],
    });
    if (answer !== 'older') {
      picked = answer;
      break;
    }
    shown += page.length;
  }
  if (!picked?.preSnapshot) return;
  const pre = picked.preSnapshot;
  const action = await services.prompter.pick({
    id: 'pickHistoryAction',
    title: picked.description,
    items: [
      { label: t('$(diff) Show changes since just before it'), value: 'changes' as const },
      { label: t('$(discard) Restore the state before it…'), value: 'restore' as const },
    ],
  });
  if (action === 'changes')
    await showSnapshotChanges(services, collection, pre, t('Changes since {0}', picked.description));
  if (action === 'restore') await restoreFlow(services, collection, pre);
}
