/**
 * Read-only contents under the `artifact-snapshot:` scheme, so any version can be opened in a diff or
 * merge editor: a file of a snapshot, a file of an upstream tree the snapshot store keeps, a side (base,
 * mine, upstream, result) of a pending update plan, a side (base, local, upstream) of a file a committed
 * update left conflicted, or nothing (the empty side of an added file).
 * One `toSnapshotUri`/`fromSnapshotUri` pair encodes them; the path ends with the file's name so the
 * editor picks the right language.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { conflictSides, readSnapshotFile, readUpstreamFile } from '../core/index.js';
import type { OperationOptions } from '../core/index.js';
import { Disposable } from './disposable.js';

export const SNAPSHOT_SCHEME = 'artifact-snapshot';

export type PlanSide = 'base' | 'mine' | 'upstream' | 'result';

export type ConflictSide = 'base' | 'local' | 'upstream';

export type SnapshotRef =
  /** A file of snapshot `snapshotId`; `rel` is relative to the collection. */
  | { kind: 'snapshot'; dir: string; snapshotId: string; rel: string }
  /** A file of the upstream tree of `type/name` at `sha` (the pinned one when absent); `rel` is relative to the artifact. */
  | { kind: 'upstream'; dir: string; type: string; name: string; rel: string; sha?: string }
  /** A side of a pending update plan registered by the update flow; `rel` is relative to the artifact. */
  | { kind: 'plan'; plan: string; artifact: string; rel: string; side: PlanSide }
  /** A side of a file a committed update left conflicted (`conflictSides`); `rel` is relative to the artifact. */
  | { kind: 'conflict'; dir: string; artifact: string; rel: string; side: ConflictSide }
  | { kind: 'empty'; rel: string };

/** Serves the sides of one pending plan: undefined when the file does not exist on that side. */
export type PlanReader = (artifact: string, rel: string, side: PlanSide) => Uint8Array | undefined;

export function toSnapshotUri(ref: SnapshotRef, label?: string): vscode.Uri {
  const shown = label ?? (ref.kind === 'plan' ? `${ref.artifact}/${ref.rel}` : ref.rel);
  return vscode.Uri.from({
    scheme: SNAPSHOT_SCHEME,
    path: `/${shown.replace(/^\/+/, '')}`,
    query: JSON.stringify(ref),
  });
}

export function fromSnapshotUri(uri: vscode.Uri): SnapshotRef | undefined {
  if (uri.scheme !== SNAPSHOT_SCHEME) return undefined;
  try {
    const ref = JSON.parse(uri.query) as SnapshotRef;
    return typeof ref === 'object' && ref !== null && typeof ref.kind === 'string' ? ref : undefined;
  } catch {
    return undefined;
  }
}

export class SnapshotContentProvider extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly plans = new Map<string, PlanReader>();
  /** Plans kept after their update ended, so diff tabs still opened on them keep their text; bounded. */
  private readonly retired: string[] = [];
  private readonly _onDidChange = this.register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this._onDidChange.event;

  constructor(private readonly readOptions: () => Pick<OperationOptions, 'fs' | 'logger'>) {
    super();
    this.register(vscode.workspace.registerTextDocumentContentProvider(SNAPSHOT_SCHEME, this));
  }

  /** Registers a plan's contents; dispose retires it (it stays readable until three newer plans retire). */
  registerPlan(key: string, reader: PlanReader): vscode.Disposable {
    this.plans.set(key, reader);
    return {
      dispose: () => {
        this.retired.push(key);
        while (this.retired.length > 3) this.plans.delete(this.retired.shift() as string);
      },
    };
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const data = await this.read(uri);
    return data ? Buffer.from(data).toString('utf8') : '';
  }

  async read(uri: vscode.Uri): Promise<Uint8Array | undefined> {
    const ref = fromSnapshotUri(uri);
    if (!ref) return undefined;
    switch (ref.kind) {
      case 'snapshot':
        return readSnapshotFile(ref.dir, ref.snapshotId, ref.rel, this.readOptions());
      case 'upstream':
        return readUpstreamFile(ref.dir, ref.type, ref.name, ref.rel, ref.sha, this.readOptions());
      case 'plan':
        return this.plans.get(ref.plan)?.(ref.artifact, ref.rel, ref.side);
      case 'conflict':
        return (await conflictSides(ref.dir, ref.artifact, ref.rel, this.readOptions()))?.[ref.side];
      case 'empty':
        return undefined;
    }
  }
}

/** The working-tree file of a collection-relative path. */
export function workingUri(dir: string, rel: string): vscode.Uri {
  return vscode.Uri.file(path.join(dir, ...rel.split('/')));
}
