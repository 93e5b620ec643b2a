/**
 * "Show Snapshot History of File": the snapshots holding other versions of a collection file, in a quick
 * pick (newest first, with time, age and the reason the snapshot was taken); the picked one opens in a
 * diff editor against the file as it is now, titled `pdf/SKILL.md (snapshot 2026-12-04 10:12 ↔ now)`.
 * A command, not a Timeline provider: `registerTimelineProvider` is still proposed API in VS Code 1.100
 * (the extension host checks the `timeline` proposal), so a published extension cannot use it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { snapshotFileHistory } from '../core/index.js';
import type { FileVersion } from '../core/index.js';
import type { Services } from './services.js';
import type { CollectionModel } from './store.js';
import { toSnapshotUri, workingUri } from './snapshotContent.js';
import { age, fileLabel, snapshotTime } from './ui.js';

const t = vscode.l10n.t;

export interface FileHistoryResult {
  /** Collection-relative path of the file. */
  rel: string;
  versions: FileVersion[];
  /** The version opened in a diff editor, if one was picked. */
  opened?: FileVersion;
  /** The diff editor's title. */
  title?: string;
}

/** The collection and collection-relative path of a file of a collection, or undefined. */
export function collectionFile(
  services: Services,
  uri: vscode.Uri | undefined,
): { collection: CollectionModel; rel: string } | undefined {
  if (!uri || uri.scheme !== 'file') return undefined;
  const collection = services.store.collectionOf(uri);
  if (!collection) return undefined;
  const rel = path.relative(collection.dir, uri.fsPath).split(path.sep).join('/');
  if (!rel || rel.startsWith('.artifact-keeper/') || rel === '.artifact-keeper') return undefined;
  return { collection, rel };
}

export async function fileHistoryFlow(
  services: Services,
  uri: vscode.Uri | undefined,
): Promise<FileHistoryResult | undefined> {
  const found = collectionFile(services, uri);
  if (!found) {
    void services.prompter.notify({
      id: 'file-history',
      severity: 'info',
      message: t('Open a file of an artifact collection to see its snapshot history.'),
      actions: [],
    });
    return undefined;
  }
  const { collection, rel } = found;
  const versions = await snapshotFileHistory(collection.dir, rel, services.store.readOptions());
  const label = fileLabel(collection, rel);
  if (versions.length === 0) {
    void services.prompter.notify({
      id: 'file-history',
      severity: 'info',
      message: t('No snapshot holds another version of {0}.', label),
      actions: [],
    });
    return { rel, versions };
  }
  const picked = await services.prompter.pick({
    id: 'pickFileSnapshot',
    title: t('Snapshot history of {0}', label),
    placeholder: t('Pick a version to compare with the file now'),
    items: versions.map((v) => ({
      label: `$(history) ${snapshotTime(v.snapshot.time)}`,
      description: [
        age(v.snapshot.time),
        v.blob ? undefined : t('file absent'),
        v.snapshots > 1 ? t('same in {0} snapshots', v.snapshots) : undefined,
      ]
        .filter(Boolean)
        .join(' · '),
      detail: v.snapshot.reason,
      value: v,
    })),
  });
  if (!picked) return { rel, versions };
  const title = t('{0} (snapshot {1} ↔ now)', label, snapshotTime(picked.snapshot.time));
  const left = picked.blob
    ? toSnapshotUri({ kind: 'snapshot', dir: collection.dir, snapshotId: picked.snapshot.id, rel })
    : toSnapshotUri({ kind: 'empty', rel });
  await vscode.commands.executeCommand('vscode.diff', left, workingUri(collection.dir, rel), title, {
    preview: true,
  });
  return { rel, versions, opened: picked, title };
}
