/**
 * Per-artifact quick fixes (the tree's context menu, the status bar's findings, the palette): "Keep My
 * Edits" accepts an artifact's files as its locked content (the core's `relockArtifacts`); "Discard Local
 * Changes" and "Reinstall" put its files back to the locked content (`discardArtifacts`); "Remove from
 * Collection" drops its manifest entry, lock entry and files (`removeArtifacts`). Each is one transaction
 * with a snapshot first, so the notification's Undo (the core's undo of that transaction) reverts it.
 * The destructive ones ask first, in a modal warning.
 */
import * as vscode from 'vscode';
import { discardArtifacts, relockArtifacts, removeArtifacts } from '../core/index.js';
import type { DiscardResult, RelockResult, RemoveResult } from '../core/index.js';
import type { Services } from './services.js';
import type { CollectionModel } from './store.js';
import { shortName } from './ui.js';

const t = vscode.l10n.t;

/** "Keep My Edits": the lock records the artifact's files as they are; it reads clean. */
export async function keepEditsFlow(
  services: Services,
  collection: CollectionModel,
  id: string,
): Promise<RelockResult> {
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'relocking', artifacts: [id] },
      mutates: true,
      progress: 'notification',
      title: t('Keeping the edits of {0}', shortName(id)),
    },
    (ctx) => relockArtifacts(collection.dir, [id], ctx.options),
  );
  if (result.relocked.length > 0)
    services.log.info(`[Relock] ${id} re-locked (snapshot ${result.preSnapshot} before)`);
  void services.prompter.notify({
    id: 'edits-kept',
    severity: 'info',
    message:
      result.relocked.length > 0
        ? t(
            '{0}: your edits are now its locked content (snapshot {1} before).',
            shortName(id),
            result.preSnapshot,
          )
        : t('{0} has no local edits to keep.', shortName(id)),
    actions: [],
  });
  return result;
}

/** Offers Undo of the transaction just committed (refused by the core once another change came after it). */
function offerUndo(services: Services, collection: CollectionModel, txId: string, message: string): void {
  void services.prompter
    .notify({ id: 'fix-done', severity: 'info', message, actions: [{ id: 'undo', title: t('Undo') }] })
    .then((picked) => {
      if (picked === 'undo') void vscode.commands.executeCommand('artifactKeeper.undo', collection.dir, txId);
    });
}

/**
 * "Discard Local Changes" (a `modified` artifact) and "Reinstall" (a `missing` one): after a modal
 * confirmation for a discard (a reinstall loses nothing), the files go back to the locked content.
 * Undefined when the person cancels.
 */
export async function discardFlow(
  services: Services,
  collection: CollectionModel,
  id: string,
  mode: 'discard' | 'reinstall',
): Promise<DiscardResult | undefined> {
  if (mode === 'discard') {
    const yes = await services.prompter.confirm({
      id: 'confirmDiscard',
      message: t('Discard the local changes of {0}?', shortName(id)),
      detail: t(
        'Its files go back to the content its lock records. A snapshot is taken first: Undo brings your changes back.',
      ),
      confirm: t('Discard Changes'),
      modal: true,
    });
    if (!yes) return undefined;
  }
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'fixing', artifacts: [id] },
      mutates: true,
      progress: 'notification',
      title:
        mode === 'discard'
          ? t('Discarding the local changes of {0}', shortName(id))
          : t('Reinstalling {0}', shortName(id)),
    },
    (ctx) => discardArtifacts(collection.dir, [id], ctx.options),
  );
  const done = result.restored[0];
  if (!done) {
    void services.prompter.notify({
      id: 'fix-done',
      severity: 'info',
      message: t('{0} already holds its locked content.', shortName(id)),
      actions: [],
    });
    return result;
  }
  const from = done.from.kind === 'upstream' ? t('the stored upstream') : t('snapshot {0}', done.from.id);
  services.log.info(
    `[Fix] ${mode} ${id}: ${done.files} file(s) from ${from} (snapshot ${result.preSnapshot} before)`,
  );
  offerUndo(
    services,
    collection,
    result.txId,
    mode === 'discard'
      ? t('{0}: local changes discarded ({1} file(s), from {2}).', shortName(id), done.files, from)
      : t('{0}: reinstalled ({1} file(s), from {2}).', shortName(id), done.files, from),
  );
  return result;
}

/** "Remove from Collection": after a modal confirmation, the manifest entry, lock entry and files go. */
export async function removeFlow(
  services: Services,
  collection: CollectionModel,
  id: string,
): Promise<RemoveResult | undefined> {
  const yes = await services.prompter.confirm({
    id: 'confirmRemove',
    message: t('Remove {0} from {1}?', shortName(id), collection.name),
    detail: t(
      'Its manifest entry, lock entry and files are removed. A snapshot is taken first: Undo brings it back.',
    ),
    confirm: t('Remove'),
    modal: true,
  });
  if (!yes) return undefined;
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'fixing', artifacts: [id] },
      mutates: true,
      progress: 'notification',
      title: t('Removing {0}', shortName(id)),
    },
    (ctx) => removeArtifacts(collection.dir, [id], ctx.options),
  );
  services.log.info(`[Fix] removed ${id} (snapshot ${result.preSnapshot} before)`);
  offerUndo(services, collection, result.txId, t('{0} removed from {1}.', shortName(id), collection.name));
  return result;
}
