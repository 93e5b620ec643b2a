/**
 * Every command in one table, registered through one wrapper that resolves what the command acts on
 * (a tree element, a collection folder, `{ collection, artifact }`, or the person's pick) and routes any
 * error through `userErrors.ts` to one notification. Handlers stay thin: they call a flow and return its
 * outcome (which the integration tests assert on).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findHistory } from '../core/index.js';
import type { ArtifactReport, Strategy } from '../core/index.js';
import {
  addFlow,
  checkFlow,
  createCollectionFlow,
  diffFlow,
  openArtifact,
  openCollectionFlow,
  statusFlow,
} from './collectionFlows.js';
import { abortUpdateFlow, conflictedIds, markResolvedFlow, resolveConflictsFlow } from './conflictFlow.js';
import { discardFlow, keepEditsFlow, removeFlow } from './editFlows.js';
import { fileHistoryFlow } from './fileHistory.js';
import { fileElementOf, openFileRow, openFileRowChanges } from './fileRows.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import {
  historyFlow,
  recoverFlow,
  restoreFlow,
  rollbackFlow,
  rollbackLastUpdateFlow,
  showSnapshotChanges,
  takeSnapshotFlow,
  undoFlow,
} from './snapshotFlows.js';
import type { CollectionModel } from './store.js';
import type { TreeElement } from './tree.js';
import { pickArtifact, pickCollection } from './ui.js';
import { updateFlow } from './updateFlow.js';
import { actionTitle, toUserError } from './userErrors.js';
import type { ErrorAction } from './userErrors.js';

export type CommandId =
  | 'artifactKeeper.refresh'
  | 'artifactKeeper.updateArtifact'
  | 'artifactKeeper.updateArtifactWith'
  | 'artifactKeeper.updateAll'
  | 'artifactKeeper.checkForUpdates'
  | 'artifactKeeper.showDiff'
  | 'artifactKeeper.showHistory'
  | 'artifactKeeper.openManifest'
  | 'artifactKeeper.addArtifact'
  | 'artifactKeeper.takeSnapshot'
  | 'artifactKeeper.restoreSnapshot'
  | 'artifactKeeper.recover'
  | 'artifactKeeper.rollback'
  | 'artifactKeeper.undo'
  | 'artifactKeeper.showChanges'
  | 'artifactKeeper.resolveConflicts'
  | 'artifactKeeper.markResolved'
  | 'artifactKeeper.keepEdits'
  | 'artifactKeeper.discardChanges'
  | 'artifactKeeper.reinstall'
  | 'artifactKeeper.removeArtifact'
  | 'artifactKeeper.showFileHistory'
  | 'artifactKeeper.abortUpdate'
  | 'artifactKeeper.completeMerge'
  | 'artifactKeeper.openCollection'
  | 'artifactKeeper.createCollection'
  | 'artifactKeeper.showStatus'
  | 'artifactKeeper.showLog'
  | 'artifactKeeper.openArtifact'
  | 'artifactKeeper.openFile'
  | 'artifactKeeper.openFileChanges'
  | 'artifactKeeper.resolveInMergeEditor';

type Handler = (...args: unknown[]) => Promise<unknown>;

const t = vscode.l10n.t;

/** What a command was invoked on. */
interface Target {
  collection?: CollectionModel;
  artifacts: string[];
}

/** Resolves the arguments VS Code or a caller passes: tree elements (with the multi-selection), a folder, a Uri, or `{ collection, artifact }`. */
function resolveTarget(services: Services, args: unknown[]): Target {
  const [first, second] = args;
  const store = services.store;
  if (first === undefined || first === null) return { artifacts: [] };
  if (typeof first === 'string') return { ...collectionOf(store.find(first)), artifacts: [] };
  if (first instanceof vscode.Uri) return { ...collectionOf(store.collectionOf(first)), artifacts: [] };
  if (typeof first === 'object' && 'kind' in first) {
    const element = first as TreeElement;
    const selection = Array.isArray(second) ? (second as TreeElement[]) : [element];
    const artifacts = selection
      .filter((e) => e.kind === 'artifact' && e.dir === element.dir)
      .map((e) => (e as TreeElement & { kind: 'artifact' }).artifact);
    return {
      ...collectionOf(store.find(element.dir)),
      artifacts: element.kind === 'artifact' ? artifacts : [],
    };
  }
  if (typeof first === 'object' && 'collection' in first) {
    const value = first as { collection: string; artifact?: string | string[] };
    const artifacts =
      value.artifact === undefined ? [] : Array.isArray(value.artifact) ? value.artifact : [value.artifact];
    return { ...collectionOf(store.find(value.collection)), artifacts };
  }
  return { artifacts: [] };
}

function collectionOf(collection: CollectionModel | undefined): { collection?: CollectionModel } {
  return collection ? { collection } : {};
}

async function collectionFor(services: Services, target: Target): Promise<CollectionModel | undefined> {
  return pickCollection(services, target.collection);
}

async function artifactFor(
  services: Services,
  target: Target,
  collection: CollectionModel,
  filter?: (a: ArtifactReport) => boolean,
): Promise<ArtifactReport | undefined> {
  const id = target.artifacts[0];
  if (id) {
    const report = collection.report?.artifacts.find((a) => a.id === id || a.name === id);
    if (report) return report;
  }
  return pickArtifact(services, collection, filter);
}

export function commandTable(services: Services): Record<CommandId, Handler> {
  const { store, log } = services;
  return {
    'artifactKeeper.refresh': async () => {
      await store.discover();
      await store.refreshAll();
    },
    'artifactKeeper.updateArtifact': async (...args) => {
      const chosen = await updateTarget(services, args);
      return chosen && updateFlow(services, chosen.collection, chosen.ids);
    },
    'artifactKeeper.updateArtifactWith': async (...args) => {
      // "Update with…": the strategy for this one update, as git's pull options are; the setting stays the default.
      const chosen = await updateTarget(services, args);
      if (!chosen) return undefined;
      const strategy = await pickStrategy(services, chosen.collection);
      if (!strategy) return undefined;
      return updateFlow(services, chosen.collection, chosen.ids, strategy);
    },
    'artifactKeeper.updateAll': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      if (!collection) return undefined;
      return updateFlow(services, collection, 'all');
    },
    'artifactKeeper.checkForUpdates': async (...args) => {
      const target = resolveTarget(services, args);
      return checkFlow(services, target.collection ? [target.collection] : store.collections);
    },
    'artifactKeeper.showDiff': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (!collection) return undefined;
      const artifact = await artifactFor(services, target, collection, (a) => Boolean(a.resolvedSha));
      return artifact ? diffFlow(services, collection, artifact) : undefined;
    },
    'artifactKeeper.showHistory': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (collection) await historyFlow(services, collection, target.artifacts[0]);
    },
    'artifactKeeper.openManifest': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      if (collection)
        await vscode.commands.executeCommand(
          'vscode.open',
          vscode.Uri.file(path.join(collection.dir, 'collection.toml')),
        );
    },
    'artifactKeeper.addArtifact': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      return collection ? addFlow(services, collection) : undefined;
    },
    'artifactKeeper.takeSnapshot': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      return collection ? takeSnapshotFlow(services, collection) : undefined;
    },
    'artifactKeeper.restoreSnapshot': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      const snapshotId = typeof args[1] === 'string' ? args[1] : undefined;
      return collection ? restoreFlow(services, collection, snapshotId) : undefined;
    },
    'artifactKeeper.recover': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      return collection ? recoverFlow(services, collection) : undefined;
    },
    'artifactKeeper.rollback': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      if (!collection) return undefined;
      const snapshotId = typeof args[1] === 'string' ? args[1] : undefined;
      const label = typeof args[2] === 'string' ? args[2] : collection.name;
      if (snapshotId) return rollbackFlow(services, collection, snapshotId, label);
      if (args.length > 1) return rollbackFlow(services, collection, undefined, label);
      return rollbackLastUpdateFlow(services, collection);
    },
    /** (collection?, txId?): with a txId, only while that transaction is still the last ("Undo Update"). */
    'artifactKeeper.undo': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      if (!collection) return undefined;
      return undoFlow(services, collection, typeof args[1] === 'string' ? args[1] : undefined);
    },
    'artifactKeeper.showChanges': async (...args) => {
      const collection = await collectionFor(services, resolveTarget(services, args));
      if (!collection) return undefined;
      const snapshotId = typeof args[1] === 'string' ? args[1] : lastUpdateSnapshot(collection);
      if (!snapshotId)
        throw new ExtensionError({ code: 'nothing-to-roll-back', collection: collection.name });
      return showSnapshotChanges(services, collection, snapshotId);
    },
    'artifactKeeper.resolveConflicts': async (...args) => {
      const chosen = await conflictTarget(services, args);
      return chosen && resolveConflictsFlow(services, chosen.collection, chosen.ids);
    },
    'artifactKeeper.keepEdits': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (!collection) return undefined;
      const artifact = await artifactFor(services, target, collection, (a) => a.state === 'modified');
      return artifact ? keepEditsFlow(services, collection, artifact.id) : undefined;
    },
    'artifactKeeper.discardChanges': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (!collection) return undefined;
      const artifact = await artifactFor(services, target, collection, (a) => a.state === 'modified');
      return artifact ? discardFlow(services, collection, artifact.id, 'discard') : undefined;
    },
    'artifactKeeper.reinstall': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (!collection) return undefined;
      const artifact = await artifactFor(services, target, collection, (a) => a.state === 'missing');
      return artifact ? discardFlow(services, collection, artifact.id, 'reinstall') : undefined;
    },
    'artifactKeeper.removeArtifact': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      if (!collection) return undefined;
      const artifact = await artifactFor(services, target, collection);
      return artifact ? removeFlow(services, collection, artifact.id) : undefined;
    },
    /** (uri? | file row?): a file of an artifact; without one, the active editor's file. */
    'artifactKeeper.showFileHistory': async (...args) => {
      const row = fileElementOf(args[0]);
      const uri = row
        ? vscode.Uri.file(row.file)
        : args[0] instanceof vscode.Uri
          ? args[0]
          : vscode.window.activeTextEditor?.document.uri;
      return fileHistoryFlow(services, uri);
    },
    'artifactKeeper.markResolved': async (...args) => {
      const chosen = await conflictTarget(services, args);
      return chosen && markResolvedFlow(services, chosen.collection, chosen.ids);
    },
    'artifactKeeper.abortUpdate': async (...args) => {
      const chosen = await conflictTarget(services, args);
      return chosen && abortUpdateFlow(services, chosen.collection, chosen.ids);
    },
    'artifactKeeper.completeMerge': async () => {
      // Without a merge editor in front there is nothing to complete (undefined).
      return services.completions.complete();
    },
    'artifactKeeper.openCollection': async (...args) =>
      openCollectionFlow(services, args[0] instanceof vscode.Uri ? args[0] : undefined),
    'artifactKeeper.createCollection': async (...args) =>
      createCollectionFlow(services, args[0] instanceof vscode.Uri ? args[0] : undefined),
    'artifactKeeper.showStatus': async () => statusFlow(services),
    'artifactKeeper.showLog': async () => log.show(true),
    'artifactKeeper.openArtifact': async (...args) => {
      const target = resolveTarget(services, args);
      const collection = await collectionFor(services, target);
      const id = target.artifacts[0];
      if (collection && id) await openArtifact(services, collection, id);
    },
    /** (file row): the commands of a changed file's row in the tree; nothing without one. */
    'artifactKeeper.openFile': async (...args) => {
      const row = fileElementOf(args[0]);
      return row && openFileRow(row);
    },
    'artifactKeeper.openFileChanges': async (...args) => {
      const row = fileElementOf(args[0]);
      if (row) await openFileRowChanges(store.find(row.dir), row);
    },
    'artifactKeeper.resolveInMergeEditor': async (...args) => {
      const row = fileElementOf(args[0]);
      const collection = row && store.find(row.dir);
      return collection && resolveConflictsFlow(services, collection, [row.artifact], row.rel);
    },
  };
}

function lastUpdateSnapshot(collection: CollectionModel): string | undefined {
  return findHistory(collection.dir, (entry) => entry.kind === 'update' && Boolean(entry.preSnapshot))
    ?.preSnapshot;
}

export function registerCommands(services: Services): vscode.Disposable {
  const table = commandTable(services);
  const disposables = (Object.keys(table) as CommandId[]).map((id) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await table[id](...args);
      } catch (err) {
        showError(services, err, () => void vscode.commands.executeCommand(id, ...args));
        return undefined;
      }
    }),
  );
  return vscode.Disposable.from(...disposables);
}

/** The single place errors become notifications: worded by userErrors.ts, logged, never awaited. */
export function showError(services: Services, err: unknown, retry?: () => void): void {
  const error = toUserError(err);
  if (error.severity === 'none') return;
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (error.severity === 'error') services.log.error(`[Commands] ${error.message}\n${detail}`);
  else services.log.warn(`[Commands] ${error.message}`);
  const actions = error.actions.filter((a) => a.kind !== 'retry' || retry);
  const byId = new Map<string, ErrorAction>(
    actions.map((action, index) => [`${action.kind}-${index}`, action]),
  );
  void services.prompter
    .notify({
      id: 'error',
      severity: error.severity,
      message: error.message,
      actions: [...byId].map(([id, action]) => ({ id, title: actionTitle(action) })),
    })
    .then((picked) => {
      const action = picked ? byId.get(picked) : undefined;
      if (!action) return;
      switch (action.kind) {
        case 'showLog':
          services.log.show(true);
          break;
        case 'retry':
          retry?.();
          break;
        case 'recover':
          void vscode.commands.executeCommand('artifactKeeper.recover');
          break;
        case 'refresh':
          void vscode.commands.executeCommand('artifactKeeper.refresh');
          break;
        case 'restore':
          void vscode.commands.executeCommand('artifactKeeper.restoreSnapshot');
          break;
        case 'open': {
          const line = Math.max(0, (action.line ?? 1) - 1);
          void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(action.file), {
            selection: new vscode.Range(line, 0, line, 0),
          });
          break;
        }
      }
    });
}

/** The collection and artifacts an update command acts on: its arguments, or the person's pick. */
async function updateTarget(
  services: Services,
  args: unknown[],
): Promise<{ collection: CollectionModel; ids: string[] } | undefined> {
  const target = resolveTarget(services, args);
  const collection = await collectionFor(services, target);
  if (!collection) return undefined;
  if (target.artifacts.length > 0) return { collection, ids: [...target.artifacts] };
  const picked = await artifactFor(services, target, collection, (a) => Boolean(a.resolvedSha));
  return picked ? { collection, ids: [picked.id] } : undefined;
}

/**
 * The conflicted artifacts a conflict command acts on: its arguments, else the collection's conflicted
 * artifacts (the first collection that has any, when none is named), else the person's pick.
 */
async function conflictTarget(
  services: Services,
  args: unknown[],
): Promise<{ collection: CollectionModel; ids: string[] } | undefined> {
  const target = resolveTarget(services, args);
  const collection =
    target.collection ??
    services.store.collections.find((c) => conflictedIds(c).length > 0) ??
    (await collectionFor(services, target));
  if (!collection) return undefined;
  if (target.artifacts.length > 0) {
    const ids = target.artifacts.map(
      (ref) => collection.report?.artifacts.find((a) => a.id === ref || a.name === ref)?.id ?? ref,
    );
    return { collection, ids };
  }
  const conflicted = conflictedIds(collection);
  if (conflicted.length <= 1) return { collection, ids: conflicted };
  const picked = await artifactFor(services, target, collection, (a) => a.state === 'conflicted');
  return picked ? { collection, ids: [picked.id] } : undefined;
}

/** The strategy for one update, the configured default first. */
async function pickStrategy(services: Services, collection: CollectionModel): Promise<Strategy | undefined> {
  const fallback = services.config.get('defaultStrategy', collection.uri);
  const items: { value: Strategy; label: string; detail: string }[] = [
    {
      value: 'merge',
      label: t('$(git-merge) Merge'),
      detail: t('Three-way merge against the last applied upstream; conflicts open in the merge editor.'),
    },
    {
      value: 'prompt',
      label: t('$(list-selection) Choose per file'),
      detail: t('A diff and a choice for each file upstream changed.'),
    },
    {
      value: 'overwrite',
      label: t('$(cloud-download) Take upstream'),
      detail: t("Upstream's version of every file it has, after a preview; files only you have stay."),
    },
    {
      value: 'keep',
      label: t('$(account) Keep mine'),
      detail: t('Skip this update: nothing is fetched or changed.'),
    },
  ];
  items.sort((a, b) => Number(b.value === fallback) - Number(a.value === fallback));
  return services.prompter.pick({
    id: 'pickStrategy',
    title: t('Update with…'),
    placeholder: t('How should this update combine upstream with your files? (default: {0})', fallback),
    items: items.map((item) => ({
      ...item,
      ...(item.value === fallback ? { description: t('default') } : {}),
    })),
  });
}
