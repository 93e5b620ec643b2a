/**
 * The merge editor's result, as a file system of ours (`artifact-keeper-merge:`) whose paths are the real
 * files' paths, so the tab, the breadcrumbs and the result pane name the collection file being merged.
 * A read gives the real file until the merge writes; every write (the merge editor's starting result,
 * auto-save, "Save with Conflicts", Complete Merge's save) keeps a draft in memory and never reaches the
 * disk. Only the conflict walk (`conflictFlow.ts`) takes a draft, after our Complete Merge, and writes it
 * to the real file itself; a merge that ends any other way drops its draft, so the next one starts again
 * from the real file and its markers. Each merge's URI carries a query of its own (`?merge=3`), so VS
 * Code gives it a fresh document: a document an earlier merge left open cannot hand the next one a
 * stale text, or save over it.
 */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Disposable } from './disposable.js';

export const MERGE_SCHEME = 'artifact-keeper-merge';

interface Draft {
  data: Uint8Array;
  ctime: number;
  mtime: number;
}

export class MergeResults extends Disposable implements vscode.FileSystemProvider {
  /** The URI (as a string) of every merge running → its draft, null until it writes one. */
  private readonly merges = new Map<string, Draft | null>();
  private count = 0;
  private readonly _onDidChangeFile = this.register(new vscode.EventEmitter<vscode.FileChangeEvent[]>());
  readonly onDidChangeFile = this._onDidChangeFile.event;

  constructor() {
    super();
    this.register(
      vscode.workspace.registerFileSystemProvider(MERGE_SCHEME, this, {
        isCaseSensitive: process.platform === 'linux',
      }),
    );
  }

  /** The real file behind a merge result's URI. */
  static realOf(uri: vscode.Uri): string {
    return uri.with({ scheme: 'file', query: '' }).fsPath;
  }

  /**
   * Starts a merge of `real`, reading the real file until it writes. Its URI is the real file's path
   * under our scheme, with a query of its own: each merge gets a document of its own, never one an
   * earlier merge of the file left behind.
   */
  begin(real: string): vscode.Uri {
    const uri = vscode.Uri.file(real).with({ scheme: MERGE_SCHEME, query: `merge=${++this.count}` });
    this.merges.set(uri.toString(), null);
    return uri;
  }

  /** What the merge holds now: its draft, else the real file's bytes. */
  result(uri: vscode.Uri): Uint8Array {
    return this.readFile(uri);
  }

  /**
   * Starts a merge over: its draft is dropped, and its URI reads the real file (with its markers) until
   * the merge editor writes again.
   */
  restart(uri: vscode.Uri): void {
    const key = uri.toString();
    if (!this.merges.get(key)) return;
    this.merges.set(key, null);
    this._onDidChangeFile.fire([{ type: vscode.FileChangeType.Changed, uri }]);
  }

  /** Ends a merge: its draft is dropped; its URI reads the real file again and takes no more writes. */
  drop(uri: vscode.Uri): void {
    const draft = this.merges.get(uri.toString());
    if (!this.merges.delete(uri.toString()) || !draft) return;
    this._onDidChangeFile.fire([{ type: vscode.FileChangeType.Changed, uri }]);
  }

  watch(): vscode.Disposable {
    // Every change comes from a write or a drop of ours, and fires onDidChangeFile for all listeners.
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    const real = MergeResults.realOf(uri);
    const draft = this.merges.get(uri.toString());
    if (draft)
      return { type: vscode.FileType.File, ctime: draft.ctime, mtime: draft.mtime, size: draft.data.length };
    const stat = realStat(uri, real);
    return {
      type: stat.isDirectory() ? vscode.FileType.Directory : vscode.FileType.File,
      ctime: stat.ctimeMs,
      mtime: stat.mtimeMs,
      size: stat.size,
    };
  }

  readDirectory(uri: vscode.Uri): [string, vscode.FileType][] {
    const real = MergeResults.realOf(uri);
    if (!realStat(uri, real).isDirectory()) throw vscode.FileSystemError.FileNotADirectory(uri);
    return fs
      .readdirSync(real, { withFileTypes: true })
      .map((entry) => [entry.name, entry.isDirectory() ? vscode.FileType.Directory : vscode.FileType.File]);
  }

  readFile(uri: vscode.Uri): Uint8Array {
    const real = MergeResults.realOf(uri);
    const draft = this.merges.get(uri.toString());
    if (draft) return draft.data;
    if (realStat(uri, real).isDirectory()) throw vscode.FileSystemError.FileIsADirectory(uri);
    return fs.readFileSync(real);
  }

  writeFile(uri: vscode.Uri, content: Uint8Array, options: { create: boolean; overwrite: boolean }): void {
    const key = uri.toString();
    // A merge that ended keeps nothing: a late save of its document is refused, never kept.
    if (!this.merges.has(key)) throw vscode.FileSystemError.NoPermissions(uri);
    const draft = this.merges.get(key);
    const real = MergeResults.realOf(uri);
    const stat = draft ? undefined : fs.statSync(real, { throwIfNoEntry: false });
    if (stat?.isDirectory()) throw vscode.FileSystemError.FileIsADirectory(uri);
    const exists = Boolean(draft) || stat !== undefined;
    if (!exists && !options.create) throw vscode.FileSystemError.FileNotFound(uri);
    if (exists && !options.overwrite) throw vscode.FileSystemError.FileExists(uri);
    const now = Date.now();
    // Strictly later than what was read before, so an editor never takes the draft for an older version.
    const mtime = Math.max(now, (draft?.mtime ?? stat?.mtimeMs ?? 0) + 1);
    this.merges.set(key, {
      data: new Uint8Array(content),
      ctime: draft?.ctime ?? stat?.ctimeMs ?? now,
      mtime,
    });
    this._onDidChangeFile.fire([
      { type: exists ? vscode.FileChangeType.Changed : vscode.FileChangeType.Created, uri },
    ]);
  }

  createDirectory(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  delete(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  rename(oldUri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(oldUri);
  }
}

/** The real file's stat, or FileNotFound. */
function realStat(uri: vscode.Uri, real: string): fs.Stats {
  const stat = fs.statSync(real, { throwIfNoEntry: false });
  if (!stat) throw vscode.FileSystemError.FileNotFound(uri);
  return stat;
}
