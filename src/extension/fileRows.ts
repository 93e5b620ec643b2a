/**
 * What a changed file's row under an artifact in the tree does (contextValue `artifactFile;M`, `A`, `D` or `C`): its
 * click opens the locked ↔ working diff, and its context menu, like a file in the Source Control view,
 * offers Open File (also inline), Open Changes, Show Snapshot History of File and, on a conflicted file,
 * Resolve in Merge Editor.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ArtifactReport } from '../core/index.js';
import type { CollectionModel } from './store.js';
import { toSnapshotUri } from './snapshotContent.js';
import type { TreeElement } from './tree.js';

const t = vscode.l10n.t;

export type FileElement = TreeElement & { kind: 'file' };

/** The file row a command was run on, when it was run on one. */
export function fileElementOf(arg: unknown): FileElement | undefined {
  if (typeof arg !== 'object' || arg === null || !('kind' in arg)) return undefined;
  return (arg as TreeElement).kind === 'file' ? (arg as FileElement) : undefined;
}

/** The artifact's report behind a file row. */
export function fileReport(collection: CollectionModel | undefined, element: FileElement): ArtifactReport {
  const report = collection?.report?.artifacts.find((a) => a.id === element.artifact);
  if (!report) throw new Error(`${element.artifact} is no longer in the collection's report`);
  return report;
}

/** Opens a changed file in a diff editor: the locked content (the stored upstream at the lock's sha) ↔ the working file. */
export function fileDiffCommand(
  element: TreeElement & { kind: 'file' },
  report: ArtifactReport,
): vscode.Command {
  const empty = toSnapshotUri({ kind: 'empty', rel: element.rel }, element.file);
  const locked =
    element.change === 'added'
      ? empty
      : toSnapshotUri(
          {
            kind: 'upstream',
            dir: element.dir,
            type: report.type,
            name: report.name,
            rel: element.rel,
            ...(report.resolvedSha ? { sha: report.resolvedSha } : {}),
          },
          element.file,
        );
  // A conflicted file may be gone locally too (deleted here, changed upstream: only its copy is left).
  const working =
    element.change === 'deleted' || !fs.existsSync(element.file) ? empty : vscode.Uri.file(element.file);
  return {
    command: 'vscode.diff',
    title: t('Open Changes'),
    arguments: [
      locked,
      working,
      t('{0}/{1} (locked ↔ working)', report.name, element.rel),
      { preview: true },
    ],
  };
}

/** "Open File": the working file in an editor (a file deleted locally has none). */
export async function openFileRow(element: FileElement): Promise<vscode.Uri> {
  const uri = vscode.Uri.file(element.file);
  await vscode.commands.executeCommand('vscode.open', uri);
  return uri;
}

/** "Open Changes": what the row's click opens, the locked content ↔ the working file. */
export async function openFileRowChanges(
  collection: CollectionModel | undefined,
  element: FileElement,
): Promise<void> {
  const command = fileDiffCommand(element, fileReport(collection, element));
  await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
}
