/**
 * The changed files of the artifacts that need attention, git-status style (M, A, D, C), derived from the
 * store: listed under an artifact in the tree, and lettered by a FileDecorationProvider on every view of
 * the files (our tree's file rows, the Explorer, editor tabs). Computed by the core's
 * `artifactFileChanges` for every artifact that is not clean, again whenever the store redraws it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { artifactFileChanges, loadCollection } from '../core/index.js';
import type { ArtifactChanges, ArtifactFileKind, ArtifactReport } from '../core/index.js';
import { Disposable } from './disposable.js';
import type { CollectionModel, Store } from './store.js';

const t = vscode.l10n.t;

/** An artifact's changed files plus what its tooltip names: the manifest's source spec. */
export interface ArtifactDetails extends ArtifactChanges {
  /** The manifest's `upstream` (the source spec the artifact was added from). */
  upstream?: string;
  /** The manifest's `version_spec` (`latest`, a tag, a sha). */
  versionSpec?: string;
}

export function kindLetter(kind: ArtifactFileKind): string {
  switch (kind) {
    case 'modified':
      return 'M';
    case 'added':
      return 'A';
    case 'deleted':
      return 'D';
    case 'conflicted':
      return 'C';
  }
}

export function kindLabel(kind: ArtifactFileKind): string {
  switch (kind) {
    case 'modified':
      return t('Modified');
    case 'added':
      return t('Added locally');
    case 'deleted':
      return t('Deleted locally');
    case 'conflicted':
      return t('Conflicted');
  }
}

/** The theme colors git's extension uses for the same letters. */
export function kindColor(kind: ArtifactFileKind): vscode.ThemeColor {
  switch (kind) {
    case 'modified':
      return new vscode.ThemeColor('gitDecoration.modifiedResourceForeground');
    case 'added':
      return new vscode.ThemeColor('gitDecoration.untrackedResourceForeground');
    case 'deleted':
      return new vscode.ThemeColor('gitDecoration.deletedResourceForeground');
    case 'conflicted':
      return new vscode.ThemeColor('gitDecoration.conflictingResourceForeground');
  }
}

/** Artifacts whose files may differ from the lock: the ones that expand into files. */
export function hasFileChanges(report: ArtifactReport): boolean {
  return report.state === 'modified' || report.state === 'conflicted' || report.state === 'missing';
}

/** The absolute path of a file of an artifact (a single-file artifact: the artifact's own path). */
export function artifactFilePath(
  dir: string,
  report: ArtifactReport,
  rel: string,
  isFolder: boolean,
): string {
  const root = path.join(dir, ...report.path.split('/'));
  return isFolder ? path.join(root, ...rel.split('/')) : root;
}

export class ArtifactFiles extends Disposable implements vscode.FileDecorationProvider {
  /** `dir\0id` → the details being computed or computed. */
  private readonly details = new Map<string, Promise<ArtifactDetails | undefined>>();
  /** `dir\0id` → the details last computed (what the tree lists without waiting). */
  private readonly resolved = new Map<string, ArtifactDetails>();
  /** Absolute file path → its change, for the decorations. */
  private readonly decorations = new Map<string, ArtifactFileKind>();
  /** `dir\0id` → the paths it decorated, so a redraw can take them back. */
  private readonly decorated = new Map<string, string[]>();
  private readonly _onDidChangeFileDecorations = this.register(new vscode.EventEmitter<vscode.Uri[]>());
  readonly onDidChangeFileDecorations = this._onDidChangeFileDecorations.event;
  private readonly _onDidChangeArtifact = this.register(
    new vscode.EventEmitter<{ dir: string; artifact: string }>(),
  );
  /** Fires when an artifact's file list was computed anew. */
  readonly onDidChangeArtifact = this._onDidChangeArtifact.event;

  constructor(private readonly store: Store) {
    super();
    this.register(vscode.window.registerFileDecorationProvider(this));
    this.register(store.onDidChangeCollections(() => this.refreshAll()));
    this.register(
      store.onDidChangeCollection((change) => {
        if (change.artifacts === undefined) this.refreshCollection(change.collection);
        else for (const id of change.artifacts) this.refreshArtifact(change.collection, id);
      }),
    );
    this.refreshAll();
  }

  /** The changed files of an artifact (computed once per redraw of it); undefined when it is clean. */
  get(dir: string, artifact: string): Promise<ArtifactDetails | undefined> {
    const key = `${dir}\0${artifact}`;
    const known = this.details.get(key);
    if (known) return known;
    const collection = this.store.find(dir);
    if (!collection) return Promise.resolve(undefined);
    return this.compute(collection, artifact);
  }

  /** The details last computed, without waiting (the tree's children); a redraw follows a computation. */
  peek(dir: string, artifact: string): ArtifactDetails | undefined {
    return this.resolved.get(`${dir}\0${artifact}`);
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== 'file') return undefined;
    const kind = this.decorations.get(uri.fsPath);
    if (!kind) return undefined;
    const decoration = new vscode.FileDecoration(kindLetter(kind), kindLabel(kind), kindColor(kind));
    // Only the file itself: its folders in the Explorer keep their own look.
    decoration.propagate = false;
    return decoration;
  }

  private refreshAll(): void {
    const dirs = new Set(this.store.collections.map((c) => c.dir));
    for (const key of [...this.decorated.keys()])
      if (!dirs.has(key.split('\0')[0] as string)) this.forget(key);
    for (const collection of this.store.collections) this.refreshCollection(collection);
  }

  private refreshCollection(collection: CollectionModel): void {
    const ids = new Set(collection.report?.artifacts.map((a) => a.id) ?? []);
    for (const key of [...this.details.keys()]) {
      const [dir, id] = key.split('\0') as [string, string];
      if (dir === collection.dir && !ids.has(id)) this.forget(key);
    }
    for (const id of ids) this.refreshArtifact(collection, id);
  }

  private refreshArtifact(collection: CollectionModel, artifact: string): void {
    this.details.delete(`${collection.dir}\0${artifact}`);
    void this.compute(collection, artifact);
  }

  private compute(collection: CollectionModel, artifact: string): Promise<ArtifactDetails | undefined> {
    const key = `${collection.dir}\0${artifact}`;
    const report = collection.report?.artifacts.find((a) => a.id === artifact);
    if (!report || !hasFileChanges(report)) {
      this.forget(key);
      this.resolved.delete(key);
      const none = Promise.resolve(undefined);
      this.details.set(key, none);
      return none;
    }
    const promise = this.read(collection.dir, report).then(
      (details) => {
        if (this.details.get(key) === promise) {
          this.resolved.set(key, details);
          this.decorate(key, collection.dir, report, details);
        }
        return details;
      },
      (err: unknown) => {
        this.store.readOptions().logger.warn(`[ArtifactFiles] ${artifact}: ${String(err)}`);
        return undefined;
      },
    );
    this.details.set(key, promise);
    return promise;
  }

  private async read(dir: string, report: ArtifactReport): Promise<ArtifactDetails> {
    const changes = await artifactFileChanges(dir, report, this.store.readOptions());
    let entry;
    try {
      entry = loadCollection(dir).manifest.artifacts.find((a) => `${a.type}/${a.name}` === report.id);
    } catch {
      entry = undefined;
    }
    return {
      ...changes,
      ...(entry?.upstream ? { upstream: entry.upstream } : {}),
      ...(entry?.versionSpec ? { versionSpec: entry.versionSpec } : {}),
    };
  }

  private decorate(key: string, dir: string, report: ArtifactReport, details: ArtifactDetails): void {
    const before = this.decorated.get(key) ?? [];
    for (const file of before) this.decorations.delete(file);
    const now: string[] = [];
    for (const change of details.files) {
      const file = artifactFilePath(dir, report, change.rel, details.isFolder);
      this.decorations.set(file, change.kind);
      now.push(file);
    }
    this.decorated.set(key, now);
    this._onDidChangeFileDecorations.fire([...new Set([...before, ...now])].map((f) => vscode.Uri.file(f)));
    this._onDidChangeArtifact.fire({ dir, artifact: report.id });
  }

  private forget(key: string): void {
    this.details.delete(key);
    this.resolved.delete(key);
    const before = this.decorated.get(key);
    if (!before) return;
    this.decorated.delete(key);
    for (const file of before) this.decorations.delete(file);
    if (before.length > 0) this._onDidChangeFileDecorations.fire(before.map((f) => vscode.Uri.file(f)));
  }
}
