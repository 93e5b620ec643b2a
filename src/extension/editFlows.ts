/**
 * Per-artifact quick fixes for local edits (the tree's context menu, the status bar's findings): "Keep My
 * Edits" accepts an artifact's files as its locked content (the core's `relockArtifacts`, snapshot first,
 * so it is undoable like every change).
 */
import * as vscode from 'vscode';
import { relockArtifacts } from '../core/index.js';
import type { RelockResult } from '../core/index.js';
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
