/**
 * The "Deployed here" view (DESIGN §10): per workspace folder with a profile root, the artifacts deployed
 * there with their drift against the collection found for it. It owns the projects the window shows and
 * their drift reports, re-read on file events in the profile roots and after every operation of the store.
 * Drift is read where the store's consistency checks run (a worker thread), never on the extension
 * host's loop: it stats every file of every deployed copy on both sides.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { discoverCollection, isDrift, projectProfileRoot, readTrackingFile } from '../core/index.js';
import type { DriftEntry, DriftState, ProfileRoot } from '../core/index.js';
import { Disposable } from './disposable.js';
import type { Store } from './store.js';

const t = vscode.l10n.t;
export const DEPLOYED_VIEW_ID = 'artifactKeeper.deployed';
const REFRESH_DEBOUNCE_MS = 300;

export interface DeployedProject {
  /** The workspace folder. */
  folder: string;
  root: ProfileRoot;
  /** Undefined when no collection could be found for it. */
  collectionDir: string | undefined;
  entries: DriftEntry[];
  /** Why the drift could not be read. */
  error?: string;
}

export type DeployedElement =
  | { kind: 'project'; project: DeployedProject }
  | { kind: 'deployed'; project: DeployedProject; entry: DriftEntry };

const ICONS: Record<DriftState, [string, string | undefined]> = {
  'in-sync': ['pass', 'testing.iconPassed'],
  modified: ['edit', 'gitDecoration.modifiedResourceForeground'],
  outdated: ['arrow-circle-down', 'gitDecoration.modifiedResourceForeground'],
  conflict: ['warning', 'list.warningForeground'],
  removed: ['circle-slash', 'list.errorForeground'],
  missing: ['question', 'list.errorForeground'],
  'not-deployed': ['circle-outline', undefined],
};

export function driftLabel(state: DriftState): string {
  switch (state) {
    case 'in-sync':
      return t('in sync');
    case 'modified':
      return t('edited in the project');
    case 'outdated':
      return t('collection is newer');
    case 'conflict':
      return t('edited on both sides');
    case 'removed':
      return t('deleted from the project');
    case 'missing':
      return t('gone from the collection');
    case 'not-deployed':
      return t('not deployed');
  }
}

/** The profile root of a workspace folder: its `.claude/` when it exists. */
export function profileRootOf(folder: string): ProfileRoot | undefined {
  const root = projectProfileRoot(folder);
  return fs.statSync(root.dir, { throwIfNoEntry: false })?.isDirectory() ? root : undefined;
}

/** The collection of a profile root: its tracking file's, SkillMeat's, else the one collection the window shows. */
export function collectionFor(root: ProfileRoot, store: Store): string | undefined {
  let tracking;
  try {
    tracking = readTrackingFile(root);
  } catch {
    tracking = undefined;
  }
  try {
    return discoverCollection({ home: os.homedir(), ...(tracking ? { tracking } : {}) }).dir;
  } catch {
    const shown = store.collections;
    return shown.length === 1 ? shown[0]?.dir : undefined;
  }
}

export class DeployedView extends Disposable implements vscode.TreeDataProvider<DeployedElement> {
  private readonly _onDidChangeTreeData = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  private readonly _onDidChangeProjects = this.register(new vscode.EventEmitter<void>());
  /** Fired after every re-read (the status bar shows the drifting ones). */
  readonly onDidChangeProjects = this._onDidChangeProjects.event;
  private readonly view: vscode.TreeView<DeployedElement>;
  private timer: NodeJS.Timeout | undefined;
  /** Counts refreshes: only the newest one shows what it read. */
  private generation = 0;
  projects: DeployedProject[] = [];

  constructor(private readonly store: Store) {
    super();
    this.view = this.register(
      vscode.window.createTreeView(DEPLOYED_VIEW_ID, { treeDataProvider: this, showCollapseAll: true }),
    );
    const watcher = this.register(vscode.workspace.createFileSystemWatcher('**/.claude/**'));
    for (const event of [watcher.onDidChange, watcher.onDidCreate, watcher.onDidDelete])
      this.register(event(() => this.scheduleRefresh()));
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.scheduleRefresh()));
    this.register(store.onDidChangeCollections(() => this.scheduleRefresh()));
    this.register(
      store.onDidChangeOperation((e) => {
        if (e.phase === 'end') this.scheduleRefresh();
      }),
    );
    void this.refresh();
  }

  override dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    super.dispose();
  }

  private scheduleRefresh(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), REFRESH_DEBOUNCE_MS);
  }

  /**
   * Re-reads every workspace folder's profile root and drift now; resolves once they are shown (or once a
   * newer refresh replaced this one).
   */
  async refresh(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const generation = ++this.generation;
    const reads: Promise<DeployedProject>[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      if (folder.uri.scheme !== 'file') continue;
      const root = profileRootOf(folder.uri.fsPath);
      if (!root) continue;
      reads.push(this.readProject(folder.uri.fsPath, root));
    }
    const projects = await Promise.all(reads);
    if (generation !== this.generation || this.isDisposed) return;
    this.projects = projects;
    const drifting = projects.reduce((n, p) => n + p.entries.filter((e) => isDrift(e.state)).length, 0);
    this.view.badge =
      drifting > 0
        ? { value: drifting, tooltip: t('{0} deployed artifact(s) drifting', drifting) }
        : undefined;
    void vscode.commands.executeCommand(
      'setContext',
      'artifactKeeper.hasDeployments',
      projects.some((p) => p.entries.length > 0),
    );
    this._onDidChangeTreeData.fire();
    this._onDidChangeProjects.fire();
  }

  /** One project's drift, read through the stat caches as the CLI's drift (an unchanged copy is not re-hashed). */
  private async readProject(folder: string, root: ProfileRoot): Promise<DeployedProject> {
    const collectionDir = collectionFor(root, this.store);
    if (!collectionDir) return { folder, root, collectionDir, entries: [] };
    const outcome = await this.store.checkDrift({ collectionDir, root, persist: vscode.workspace.isTrusted });
    switch (outcome.kind) {
      case 'drifted':
        return { folder, root, collectionDir, entries: outcome.report.entries };
      case 'failed': {
        const error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        return { folder, root, collectionDir, entries: [], error };
      }
      case 'superseded':
        // A newer refresh asked again for this root: its answer is the one shown.
        return { folder, root, collectionDir, entries: [] };
    }
  }

  getChildren(element?: DeployedElement): DeployedElement[] {
    if (!element) {
      const shown = this.projects.filter((p) => p.entries.length > 0 || p.error);
      return shown.map((project) => ({ kind: 'project', project }));
    }
    if (element.kind === 'project')
      return element.project.entries.map((entry) => ({ kind: 'deployed', project: element.project, entry }));
    return [];
  }

  getTreeItem(element: DeployedElement): vscode.TreeItem {
    if (element.kind === 'project') {
      const { project } = element;
      const item = new vscode.TreeItem(
        path.basename(project.folder),
        vscode.TreeItemCollapsibleState.Expanded,
      );
      item.id = `project:${project.root.dir}`;
      const drifting = project.entries.filter((e) => isDrift(e.state)).length;
      item.description = project.error
        ? project.error
        : drifting > 0
          ? t('{0} drifting', drifting)
          : t('{0} in sync', project.entries.length);
      item.tooltip = `${project.root.dir}${project.collectionDir ? `\n${t('from {0}', project.collectionDir)}` : ''}`;
      item.iconPath = new vscode.ThemeIcon('root-folder');
      item.contextValue = 'deployedProject';
      return item;
    }
    const { entry, project } = element;
    const item = new vscode.TreeItem(entry.name, vscode.TreeItemCollapsibleState.None);
    item.id = `deployed:${project.root.dir}:${entry.id}`;
    item.description = `${entry.type} · ${driftLabel(entry.state)}`;
    const [icon, color] = ICONS[entry.state];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    item.tooltip = `${entry.id}: ${driftLabel(entry.state)}\n${path.join(project.root.dir, entry.path)}`;
    item.accessibilityInformation = { label: `${entry.name}, ${entry.type}, ${driftLabel(entry.state)}` };
    item.contextValue = `deployed;${entry.state}`;
    item.resourceUri = vscode.Uri.file(path.join(project.root.dir, entry.path));
    return item;
  }
}
