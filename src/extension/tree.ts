/**
 * The view `artifactKeeper.collection`: collections → type groups → artifacts, derived from the store.
 * Elements are plain data with stable ids, cached so the same artifact is always the same object (which
 * `reveal`, targeted refreshes and `getParent` rely on).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { executableSurface } from '../core/index.js';
import type { ArtifactFileKind, ArtifactReport, ArtifactState, SurfaceKind } from '../core/index.js';
import { ArtifactFiles, artifactFilePath, hasFileChanges, kindLabel, kindLetter } from './artifactFiles.js';
import type { ArtifactDetails } from './artifactFiles.js';
import { Disposable } from './disposable.js';
import { fileDiffCommand } from './fileRows.js';
import type { CollectionModel, Store } from './store.js';
import { pinnedAt, pinnedHint } from './ui.js';
import { toUserError } from './userErrors.js';

export const VIEW_ID = 'artifactKeeper.collection';

export type TreeElement =
  | { kind: 'collection'; dir: string }
  | { kind: 'group'; dir: string; type: string }
  | { kind: 'artifact'; dir: string; type: string; artifact: string }
  /** A changed file of an artifact; `rel` is relative to the artifact, `file` is its absolute path. */
  | {
      kind: 'file';
      dir: string;
      type: string;
      artifact: string;
      rel: string;
      file: string;
      change: ArtifactFileKind;
    }
  | { kind: 'problem'; dir: string; code: string };

const t = vscode.l10n.t;

const TYPE_ORDER = ['skill', 'command', 'agent', 'hook', 'mcp', 'workflow', 'composite'];

export function typeLabel(type: string): string {
  switch (type) {
    case 'skill':
      return t('Skills');
    case 'command':
      return t('Commands');
    case 'agent':
      return t('Agents');
    case 'hook':
      return t('Hooks');
    case 'mcp':
      return t('MCP Servers');
    case 'workflow':
      return t('Workflows');
    case 'composite':
      return t('Composites');
    default:
      return type;
  }
}

export function stateLabel(state: ArtifactState): string {
  switch (state) {
    case 'clean':
      return t('clean');
    case 'modified':
      return t('modified');
    case 'update-available':
      return t('update available');
    case 'conflicted':
      return t('conflicted');
    case 'missing':
      return t('missing');
    case 'unlocked':
      return t('not in lock');
    case 'orphaned':
      return t('only in lock');
  }
}

function stateIcon(state: ArtifactState): vscode.ThemeIcon {
  switch (state) {
    case 'clean':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'modified':
      return new vscode.ThemeIcon('edit', new vscode.ThemeColor('gitDecoration.modifiedResourceForeground'));
    case 'update-available':
      return new vscode.ThemeIcon(
        'cloud-download',
        new vscode.ThemeColor('notificationsInfoIcon.foreground'),
      );
    case 'conflicted':
      return new vscode.ThemeIcon(
        'git-merge',
        new vscode.ThemeColor('gitDecoration.conflictingResourceForeground'),
      );
    case 'missing':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
    case 'unlocked':
      return new vscode.ThemeIcon('unlock', new vscode.ThemeColor('editorWarning.foreground'));
    case 'orphaned':
      return new vscode.ThemeIcon('question', new vscode.ThemeColor('editorWarning.foreground'));
  }
}

function typeIcon(type: string): vscode.ThemeIcon {
  const icons: Record<string, string> = {
    skill: 'package',
    command: 'terminal',
    agent: 'hubot',
    hook: 'plug',
    mcp: 'server',
    workflow: 'type-hierarchy',
    composite: 'layers',
  };
  return new vscode.ThemeIcon(icons[type] ?? 'file');
}

/** What a state means, in a sentence (the artifact's tooltip). */
export function stateSentence(state: ArtifactState): string {
  switch (state) {
    case 'clean':
      return t('Clean: the files match the lock.');
    case 'modified':
      return t('Modified: the files differ from the locked content.');
    case 'update-available':
      return t('An update is available upstream; the files match the lock.');
    case 'conflicted':
      return t('Conflicted: an update left conflicts to resolve.');
    case 'missing':
      return t("Missing: the artifact's files are not on disk.");
    case 'unlocked':
      return t('Not in the lock: the manifest names it, the lock does not.');
    case 'orphaned':
      return t('Only in the lock: the manifest no longer names it.');
  }
}

/**
 * The artifacts that need attention, the view's badge: modified, conflicted, missing, or with an update
 * available (an update known for a modified artifact counts it once). Not-in-lock and only-in-lock
 * entries are findings of the collection, not of an artifact's content, and stay out.
 */
export function attentionCount(collections: readonly CollectionModel[]): number {
  let count = 0;
  for (const collection of collections)
    for (const report of collection.report?.artifacts ?? []) {
      const needs =
        report.state === 'modified' ||
        report.state === 'conflicted' ||
        report.state === 'missing' ||
        report.state === 'update-available' ||
        collection.updates.get(report.id)?.available === true;
      if (needs) count += 1;
    }
  return count;
}

/** "3 modified · 1 update" — the collection row's summary, also used to decide whether it needs a redraw. */
export function collectionSummary(collection: CollectionModel): string {
  if (collection.operation)
    return collection.step
      ? `${collection.operation.title}: ${collection.step}`
      : `${collection.operation.title}…`;
  if (collection.foreignLock) return t('locked by another process');
  if (!collection.checked) return t('checking…');
  const report = collection.report;
  if (!report) return t('cannot be read');
  if (report.state === 'interrupted') return t('interrupted: recover');
  if (report.state === 'inconsistent') return t('inconsistent');
  const modified = report.artifacts.filter((a) => a.state === 'modified').length;
  const conflicted = report.artifacts.filter((a) => a.state === 'conflicted').length;
  const updates = [...collection.updates.values()].filter((u) => u.available).length;
  const parts = [
    conflicted > 0 ? t('{0} conflicted', conflicted) : undefined,
    modified > 0 ? t('{0} modified', modified) : undefined,
    updates > 0 ? (updates === 1 ? t('1 update') : t('{0} updates', updates)) : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : t('clean');
}

export class ArtifactTree extends Disposable implements vscode.TreeDataProvider<TreeElement> {
  private readonly elements = new Map<string, TreeElement>();
  private readonly summaries = new Map<string, string>();
  /** What each artifact holds that can run, by its folder and content hash (names and modes only). */
  private readonly surfaces = new Map<string, SurfaceKind[]>();
  private readonly _onDidChangeTreeData = this.register(
    new vscode.EventEmitter<TreeElement | TreeElement[] | undefined>(),
  );
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  readonly view: vscode.TreeView<TreeElement>;
  /** The changed files of the artifacts that need attention, and their decorations. */
  readonly files: ArtifactFiles;

  constructor(private readonly store: Store) {
    super();
    this.files = this.register(new ArtifactFiles(store));
    this.view = this.register(
      vscode.window.createTreeView(VIEW_ID, {
        treeDataProvider: this,
        showCollapseAll: true,
        canSelectMany: true,
      }),
    );
    this.register(store.onDidChangeCollections(() => this._onDidChangeTreeData.fire(undefined)));
    this.register(store.onDidChangeCollections(() => this.updateBadge()));
    this.register(store.onDidChangeCollection(() => this.updateBadge()));
    // A new file list redraws the artifact's row and children.
    this.register(
      this.files.onDidChangeArtifact(({ dir, artifact }) => {
        const report = this.store.find(dir)?.report?.artifacts.find((a) => a.id === artifact);
        if (report)
          this._onDidChangeTreeData.fire(
            this.element({ kind: 'artifact', dir, type: report.type, artifact }),
          );
      }),
    );
    this.updateBadge();
    this.register(
      store.onDidChangeCollection((change) => {
        const dir = change.collection.dir;
        const summary = collectionSummary(change.collection);
        const summaryChanged = this.summaries.get(dir) !== summary;
        this.summaries.set(dir, summary);
        if (change.artifacts === undefined) {
          this._onDidChangeTreeData.fire(this.element({ kind: 'collection', dir }));
          return;
        }
        const changed: TreeElement[] = [];
        if (summaryChanged) changed.push(this.element({ kind: 'collection', dir }));
        for (const id of change.artifacts) {
          const report = change.collection.report?.artifacts.find((a) => a.id === id);
          if (report) changed.push(this.element({ kind: 'artifact', dir, type: report.type, artifact: id }));
        }
        if (changed.length > 0) this._onDidChangeTreeData.fire(changed);
      }),
    );
  }

  private updateBadge(): void {
    const count = attentionCount(this.store.collections);
    const badge =
      count === 0
        ? undefined
        : {
            value: count,
            tooltip: count === 1 ? t('1 artifact needs attention') : t('{0} artifacts need attention', count),
          };
    if (this.view.badge?.value === badge?.value) return;
    this.view.badge = badge;
  }

  /** The cached element for a value, so the same artifact is always the same object. */
  element<E extends TreeElement>(value: E): E {
    const key = elementId(value);
    const cached = this.elements.get(key);
    if (cached) return cached as E;
    this.elements.set(key, value);
    return value;
  }

  getChildren(element?: TreeElement): TreeElement[] {
    if (!element) {
      return [...this.store.collections]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((c) => this.element({ kind: 'collection', dir: c.dir }));
    }
    const collection = this.store.find(element.dir);
    if (!collection) return [];
    if (element.kind === 'collection') {
      const report = collection.report;
      if (!report)
        return collection.error
          ? [this.element({ kind: 'problem', dir: element.dir, code: 'unreadable' })]
          : [];
      const problems: TreeElement[] =
        report.state === 'interrupted'
          ? [this.element({ kind: 'problem', dir: element.dir, code: 'journal-present' })]
          : [];
      const types = [...new Set(report.artifacts.map((a) => a.type))].sort(
        (a, b) => rank(a) - rank(b) || a.localeCompare(b),
      );
      return [...problems, ...types.map((type) => this.element({ kind: 'group', dir: element.dir, type }))];
    }
    if (element.kind === 'group') {
      return (collection.report?.artifacts ?? [])
        .filter((a) => a.type === element.type)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((a) => this.element({ kind: 'artifact', dir: element.dir, type: a.type, artifact: a.id }));
    }
    if (element.kind === 'artifact') return this.fileChildren(element, collection);
    return [];
  }

  /** The artifact's changed files as last computed; `files` redraws the artifact when they change. */
  private fileChildren(
    element: TreeElement & { kind: 'artifact' },
    collection: CollectionModel,
  ): TreeElement[] {
    const report = collection.report?.artifacts.find((a) => a.id === element.artifact);
    if (!report || !hasFileChanges(report)) return [];
    const details = this.files.peek(element.dir, element.artifact);
    return (details?.files ?? []).map((change) =>
      this.element({
        kind: 'file',
        dir: element.dir,
        type: element.type,
        artifact: element.artifact,
        rel: change.rel,
        file: artifactFilePath(element.dir, report, change.rel, details?.isFolder ?? true),
        change: change.kind,
      }),
    );
  }

  getParent(element: TreeElement): TreeElement | undefined {
    switch (element.kind) {
      case 'collection':
        return undefined;
      case 'group':
      case 'problem':
        return this.element({ kind: 'collection', dir: element.dir });
      case 'artifact':
        return this.element({ kind: 'group', dir: element.dir, type: element.type });
      case 'file':
        return this.element({
          kind: 'artifact',
          dir: element.dir,
          type: element.type,
          artifact: element.artifact,
        });
    }
  }

  async resolveTreeItem(item: vscode.TreeItem, element: TreeElement): Promise<vscode.TreeItem> {
    if (element.kind === 'artifact') {
      const tooltip = await this.artifactTooltip(element);
      if (tooltip) item.tooltip = tooltip;
    }
    return item;
  }

  /**
   * An artifact's hover: its source spec, version and short sha, its state in words, and which files
   * changed (up to ten). Never a full hash.
   */
  async artifactTooltip(
    element: TreeElement & { kind: 'artifact' },
  ): Promise<vscode.MarkdownString | undefined> {
    const collection = this.store.find(element.dir);
    const report = collection?.report?.artifacts.find((a) => a.id === element.artifact);
    if (!collection || !report) return undefined;
    const details = await this.files.get(element.dir, element.artifact);
    return artifactTooltip(collection, report, details, this.surfaceOf(collection, report));
  }

  getTreeItem(element: TreeElement): vscode.TreeItem {
    const collection = this.store.find(element.dir);
    switch (element.kind) {
      case 'collection':
        return this.collectionItem(element, collection);
      case 'group': {
        const count = collection?.report?.artifacts.filter((a) => a.type === element.type).length ?? 0;
        const item = new vscode.TreeItem(typeLabel(element.type), vscode.TreeItemCollapsibleState.Expanded);
        item.id = elementId(element);
        item.description = String(count);
        item.iconPath = typeIcon(element.type);
        item.contextValue = 'group';
        return item;
      }
      case 'artifact': {
        const report = collection?.report?.artifacts.find((a) => a.id === element.artifact);
        return this.artifactItem(element, collection, report);
      }
      case 'problem':
        return this.problemItem(element, collection);
      case 'file':
        return this.fileItem(element, collection);
    }
  }

  private fileItem(
    element: TreeElement & { kind: 'file' },
    collection: CollectionModel | undefined,
  ): vscode.TreeItem {
    const item = new vscode.TreeItem(path.posix.basename(element.rel), vscode.TreeItemCollapsibleState.None);
    item.id = elementId(element);
    // The file's own URI: the icon theme picks its icon, our decoration provider its letter and color.
    item.resourceUri = vscode.Uri.file(element.file);
    const folder = path.posix.dirname(element.rel);
    if (folder !== '.') item.description = folder;
    item.tooltip = `${kindLetter(element.change)} ${element.rel} — ${kindLabel(element.change)}`;
    item.contextValue = `artifactFile;${kindLetter(element.change)}`;
    const report = collection?.report?.artifacts.find((a) => a.id === element.artifact);
    if (report) item.command = fileDiffCommand(element, report);
    return item;
  }

  private collectionItem(element: TreeElement, collection: CollectionModel | undefined): vscode.TreeItem {
    const item = new vscode.TreeItem(
      collection?.name ?? path.basename(element.dir),
      vscode.TreeItemCollapsibleState.Expanded,
    );
    item.id = elementId(element);
    item.resourceUri = vscode.Uri.file(element.dir);
    if (!collection) return item;
    item.description = collectionSummary(collection);
    const state = collection.report?.state;
    item.iconPath = collection.operation
      ? new vscode.ThemeIcon('sync~spin')
      : collection.foreignLock
        ? new vscode.ThemeIcon('lock')
        : !collection.report && collection.checked
          ? new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'))
          : state === 'interrupted'
            ? new vscode.ThemeIcon('debug-restart', new vscode.ThemeColor('errorForeground'))
            : state === 'inconsistent'
              ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('editorWarning.foreground'))
              : new vscode.ThemeIcon('library');
    item.contextValue = `collection;${state ?? 'unreadable'}`;
    const tooltip = new vscode.MarkdownString(
      `**${collection.name}**  \n${collection.dir}\n\n${collectionSummary(collection)}`,
    );
    for (const finding of collection.report?.findings.slice(0, 10) ?? [])
      tooltip.appendMarkdown(`\n- ${escape(finding.message)}`);
    item.tooltip = tooltip;
    return item;
  }

  private artifactItem(
    element: TreeElement & { kind: 'artifact' },
    collection: CollectionModel | undefined,
    report: ArtifactReport | undefined,
  ): vscode.TreeItem {
    const item = new vscode.TreeItem(
      report?.name ?? element.artifact,
      report && hasFileChanges(report)
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None,
    );
    item.id = elementId(element);
    if (!collection || !report) return item;
    const check = collection.updates.get(report.id);
    const version = report.version
      ? report.version.startsWith('v')
        ? report.version
        : `v${report.version}`
      : report.resolvedSha?.slice(0, 7);
    let state = stateLabel(report.state);
    if (report.state === 'update-available' && check?.latestVersion)
      state = t('update to {0}', check.latestVersion);
    else if (report.state === 'modified' && check?.available) state = t('modified, update available');
    // A pin with something newer upstream is no update: a hint beside the state, in place of "clean".
    const hint = check && !check.available ? pinnedHint(check.pinned) : undefined;
    if (hint) {
      const pinned = t('pinned ({0})', hint);
      state = report.state === 'clean' ? pinned : `${state} · ${pinned}`;
    }
    const conflicts = collection.conflicts.get(report.id);
    const conflictFiles = conflicts ? [...conflicts.markers, ...conflicts.upstreamCopies] : [];
    if (report.state === 'conflicted')
      state =
        conflictFiles.length === 0
          ? t('conflicted, none left: mark resolved')
          : conflictFiles.length === 1
            ? t('conflicted (1 file)')
            : t('conflicted ({0} files)', conflictFiles.length);
    // A check that failed never reads as "clean, nothing new": it says so, with a warning icon.
    if (check?.error) state = t('{0}, check failed', state);
    // Something that runs (DESIGN §11) is marked: hooks, MCP servers, scripts, executables.
    const runs = this.surfaceOf(collection, report);
    item.description = [version, state, runs.length > 0 ? t('runs code') : undefined]
      .filter(Boolean)
      .join(' · ');
    item.iconPath = check?.error
      ? new vscode.ThemeIcon('cloud-offline', new vscode.ThemeColor('problemsWarningIcon.foreground'))
      : report.state === 'modified' && check?.available
        ? stateIcon('update-available')
        : stateIcon(report.state);
    const hasUpstream = Boolean(report.resolvedSha);
    item.contextValue = `artifact;${report.state};${hasUpstream ? 'upstream' : 'local'}`;
    if (report.path) item.resourceUri = vscode.Uri.file(path.join(collection.dir, report.path));
    if (report.state !== 'missing' && report.state !== 'orphaned') {
      item.command = {
        command: 'artifactKeeper.openArtifact',
        title: t('Open Artifact'),
        arguments: [element],
      };
    }
    // The file list comes from the store of bases: resolveTreeItem adds it when the hover opens.
    item.tooltip = artifactTooltip(collection, report, undefined, runs);
    return item;
  }

  private surfaceOf(collection: CollectionModel, report: ArtifactReport): SurfaceKind[] {
    if (!report.path || report.state === 'missing' || report.state === 'orphaned') return [];
    const key = `${collection.dir}\n${report.path}\n${report.currentHash ?? report.state}`;
    let kinds = this.surfaces.get(key);
    if (!kinds) {
      kinds = executableSurface(path.join(collection.dir, report.path));
      if (report.type === 'hook' && !kinds.includes('hooks')) kinds = ['hooks', ...kinds];
      this.surfaces.set(key, kinds);
    }
    return kinds;
  }

  private problemItem(
    element: TreeElement & { kind: 'problem' },
    collection: CollectionModel | undefined,
  ): vscode.TreeItem {
    if (element.code === 'journal-present') {
      const item = new vscode.TreeItem(t('An update was interrupted — click to recover'));
      item.id = elementId(element);
      item.iconPath = new vscode.ThemeIcon('debug-restart', new vscode.ThemeColor('errorForeground'));
      item.command = {
        command: 'artifactKeeper.recover',
        title: t('Recover'),
        arguments: [this.element({ kind: 'collection', dir: element.dir })],
      };
      item.contextValue = 'problem;interrupted';
      return item;
    }
    const error = collection?.error !== undefined ? toUserError(collection.error) : undefined;
    const item = new vscode.TreeItem(error?.reason ?? t('This collection cannot be read'));
    item.id = elementId(element);
    item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
    item.tooltip = error?.message;
    const open = error?.actions.find((a) => a.kind === 'open');
    if (open?.kind === 'open') {
      item.command = {
        command: 'vscode.open',
        title: t('Open'),
        arguments: [
          vscode.Uri.file(open.file),
          ...(open.line ? [{ selection: new vscode.Range(open.line - 1, 0, open.line - 1, 0) }] : []),
        ],
      };
    }
    item.contextValue = 'problem;unreadable';
    return item;
  }
}

function rank(type: string): number {
  const index = TYPE_ORDER.indexOf(type);
  return index < 0 ? TYPE_ORDER.length : index;
}

export function elementId(element: TreeElement): string {
  switch (element.kind) {
    case 'collection':
      return `collection:${element.dir}`;
    case 'group':
      return `group:${element.dir}:${element.type}`;
    case 'artifact':
      return `artifact:${element.dir}:${element.artifact}`;
    case 'problem':
      return `problem:${element.dir}:${element.code}`;
    case 'file':
      return `file:${element.dir}:${element.artifact}:${element.change}:${element.rel}`;
  }
}

/** `v1.2 (abc1234)`: the tag when the lock knows one, and the short sha. */
export function versionText(report: ArtifactReport): string | undefined {
  const tag = report.version
    ? /^\d/.test(report.version)
      ? `v${report.version}`
      : report.version
    : undefined;
  const sha = report.resolvedSha?.slice(0, 7);
  if (tag && sha) return `${tag} (\`${sha}\`)`;
  return tag ?? (sha ? `\`${sha}\`` : undefined);
}

const TOOLTIP_FILES = 10;

const SURFACE_WORDS: Record<SurfaceKind, string> = {
  hooks: t('hooks (run on tool events)'),
  settings: t('a settings.json (may hold hooks)'),
  mcp: t('an MCP server configuration'),
  scripts: t('scripts Claude can be told to run'),
  executable: t('executable files'),
};

function artifactTooltip(
  collection: CollectionModel,
  report: ArtifactReport,
  details: ArtifactDetails | undefined,
  runs: readonly SurfaceKind[] = [],
): vscode.MarkdownString {
  const check = collection.updates.get(report.id);
  const hint = check && !check.available ? pinnedHint(check.pinned) : undefined;
  const conflicts = collection.conflicts.get(report.id);
  const conflictFiles = conflicts ? [...conflicts.markers, ...conflicts.upstreamCopies] : [];
  const version = versionText(report);
  const source = details?.upstream
    ? details.versionSpec
      ? t('Source: `{0}` ({1})', details.upstream, details.versionSpec)
      : t('Source: `{0}`', details.upstream)
    : report.resolvedSha
      ? undefined
      : t('Source: local artifact (no upstream)');
  const lines = [
    `**${report.id}** — ${stateLabel(report.state)}`,
    '',
    source,
    version ? t('Version: {0}', version) : undefined,
    report.path ? t('Path: `{0}`', report.path) : undefined,
    stateSentence(report.state),
    check?.available
      ? t('Update available: {0}', check.latestVersion ?? check.latestSha?.slice(0, 7) ?? '?')
      : undefined,
    check?.pinned && hint ? t('Pinned at {0}; upstream has {1}', pinnedAt(check.pinned), hint) : undefined,
    check?.error ? t('Last check failed: {0}', check.error) : undefined,
    runs.length > 0 ? t('Runs code: {0}', runs.map((kind) => SURFACE_WORDS[kind]).join(', ')) : undefined,
    ...(details ? [] : conflictFiles.map((rel) => t('Conflict: `{0}`', rel))),
  ].filter((line) => line !== undefined);
  const markdown = new vscode.MarkdownString(lines.join('  \n'));
  if (details && details.files.length > 0) {
    markdown.appendMarkdown(
      `\n\n${details.files.length === 1 ? t('1 file changed:') : t('{0} files changed:', details.files.length)}\n`,
    );
    for (const file of details.files.slice(0, TOOLTIP_FILES))
      markdown.appendMarkdown(`\n- ${kindLetter(file.kind)} \`${file.rel}\``);
    if (details.files.length > TOOLTIP_FILES)
      markdown.appendMarkdown(`\n\n${t('and {0} more', details.files.length - TOOLTIP_FILES)}`);
  } else if (details && !details.hasBase && report.state !== 'clean') {
    markdown.appendMarkdown(
      `\n\n${t('The locked content is not in the store: changed files cannot be listed.')}`,
    );
  }
  return markdown;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
