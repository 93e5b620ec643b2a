/**
 * The status bar item (left): the collections' consistency in one glance, derived from the store by
 * `statusOf` (which state is most urgent) and `render` (how it looks). Click → the findings quick pick.
 */
import * as vscode from 'vscode';
import { isDrift } from '../core/index.js';
import type { LockHolder } from '../core/index.js';
import { Disposable } from './disposable.js';
import type { DeployedView } from './deployedView.js';
import type { CollectionModel, Store } from './store.js';
import { firstNames } from './ui.js';
import { describeHolder } from './userErrors.js';

export type StatusView =
  | { kind: 'hidden' }
  | { kind: 'checking' }
  | { kind: 'busy'; collection: string; title: string; step?: string; background: boolean }
  /** An update left conflicts in the files (markers, upstream copies): the one thing to finish now. */
  | { kind: 'conflicted'; collection: string; artifacts: string[] }
  | { kind: 'locked'; collection: string; holder: LockHolder }
  | { kind: 'interrupted'; collection: string }
  | { kind: 'unreadable'; collection: string }
  | { kind: 'inconsistent'; collection: string; findings: string[] }
  | { kind: 'modified'; count: number; updates: number; collections: number }
  | { kind: 'clean'; artifacts: number; updates: number; collections: number };

export interface RenderedStatus {
  text: string;
  /** What a click runs (undefined: the findings quick pick). */
  command?: string;
  tooltip: string;
  background: 'warning' | 'error' | undefined;
  visible: boolean;
}

const t = vscode.l10n.t;

/** The most urgent state over all collections: an operation, then a foreign lock, then damage, then edits. */
export function statusOf(collections: readonly CollectionModel[], discovered: boolean): StatusView {
  if (collections.length === 0 || !discovered) return { kind: 'hidden' };
  const busy = collections.find((c) => c.operation);
  if (busy?.operation) {
    return {
      kind: 'busy',
      collection: busy.name,
      title: busy.operation.title,
      ...(busy.step ? { step: busy.step } : {}),
      background: busy.operation.progress === 'background',
    };
  }
  const locked = collections.find((c) => c.foreignLock);
  if (locked?.foreignLock) return { kind: 'locked', collection: locked.name, holder: locked.foreignLock };
  if (collections.some((c) => !c.checked)) return { kind: 'checking' };
  const interrupted = collections.find((c) => c.report?.state === 'interrupted');
  if (interrupted) return { kind: 'interrupted', collection: interrupted.name };
  const unreadable = collections.find((c) => !c.report);
  if (unreadable) return { kind: 'unreadable', collection: unreadable.name };
  const conflicted = collections.find((c) => c.report?.artifacts.some((a) => a.state === 'conflicted'));
  if (conflicted?.report) {
    const ids = conflicted.report.artifacts.filter((a) => a.state === 'conflicted').map((a) => a.id);
    return { kind: 'conflicted', collection: conflicted.name, artifacts: ids };
  }
  const inconsistent = collections.find((c) => c.report?.state === 'inconsistent');
  if (inconsistent?.report) {
    return {
      kind: 'inconsistent',
      collection: inconsistent.name,
      findings: inconsistent.report.findings.map((f) => f.message),
    };
  }
  const artifacts = collections.flatMap((c) => c.report?.artifacts ?? []);
  const modified = artifacts.filter((a) => a.state === 'modified' || a.state === 'conflicted').length;
  const updates = collections.reduce(
    (sum, c) => sum + [...c.updates.values()].filter((u) => u.available).length,
    0,
  );
  if (modified > 0) return { kind: 'modified', count: modified, updates, collections: collections.length };
  return { kind: 'clean', artifacts: artifacts.length, updates, collections: collections.length };
}

const link = (title: string, command: string): string => `[${title}](command:${command})`;

export function render(view: StatusView): RenderedStatus {
  const common = [
    link(t('Show status'), 'artifactKeeper.showStatus'),
    link(t('Show log'), 'artifactKeeper.showLog'),
  ];
  const tooltip = (lines: string[], links: string[]): string =>
    [...lines, '', [...links, ...common].join(' · ')].join('\n\n');
  switch (view.kind) {
    case 'hidden':
      return { text: '', tooltip: '', background: undefined, visible: false };
    case 'checking':
      return {
        text: `$(sync~spin) ${t('Artifacts')}`,
        tooltip: t('Checking the collection…'),
        background: undefined,
        visible: true,
      };
    case 'busy': {
      const label = view.step ? `${view.title}: ${view.step}` : `${view.title}…`;
      return {
        text: `$(sync~spin) ${view.background ? t('Artifacts') : view.title}…`,
        tooltip: tooltip([`**${view.collection}**`, label], []),
        background: undefined,
        visible: true,
      };
    }
    case 'conflicted': {
      const names = firstNames(view.artifacts.map((id) => id.slice(id.indexOf('/') + 1)));
      return {
        text: `$(git-merge) ${t('Merge conflicts: {0}', names)}`,
        command: 'artifactKeeper.resolveConflicts',
        tooltip: tooltip(
          [
            `**${view.collection}**`,
            t(
              'The update of {0} left conflicts in its files (conflict markers, or upstream copies beside them). Resolve them in the merge editor, or abort the update.',
              names,
            ),
          ],
          [
            link(t('Resolve conflicts'), 'artifactKeeper.resolveConflicts'),
            link(t('Abort update'), 'artifactKeeper.abortUpdate'),
          ],
        ),
        background: 'warning',
        visible: true,
      };
    }
    case 'locked':
      return {
        text: `$(lock) ${t('Artifacts locked')}`,
        tooltip: tooltip(
          [
            `**${view.collection}**`,
            t('Locked by {0}. Updates wait until it has finished.', describeHolder(view.holder)),
          ],
          [link(t('Refresh'), 'artifactKeeper.refresh')],
        ),
        background: 'warning',
        visible: true,
      };
    case 'interrupted':
      return {
        text: `$(debug-restart) ${t('Artifacts interrupted: recover')}`,
        tooltip: tooltip(
          [
            `**${view.collection}**`,
            t(
              'An update was interrupted and has not been undone yet. Recover to return to the state before it.',
            ),
          ],
          [link(t('Recover'), 'artifactKeeper.recover')],
        ),
        background: 'error',
        visible: true,
      };
    case 'unreadable':
      return {
        text: `$(error) ${t('Artifacts unreadable')}`,
        tooltip: tooltip(
          [`**${view.collection}**`, t('The manifest or the lock file cannot be read.')],
          [link(t('Open manifest'), 'artifactKeeper.openManifest')],
        ),
        background: 'error',
        visible: true,
      };
    case 'inconsistent':
      return {
        text: `$(warning) ${t('Artifacts inconsistent')}`,
        tooltip: tooltip(
          [
            `**${view.collection}**`,
            t('Manifest, lock and files disagree:'),
            view.findings
              .slice(0, 8)
              .map((f) => `- ${f}`)
              .join('\n'),
          ],
          [link(t('Restore snapshot'), 'artifactKeeper.restoreSnapshot')],
        ),
        background: 'warning',
        visible: true,
      };
    case 'modified': {
      const updates = view.updates > 0 ? ` $(cloud-download) ${view.updates}` : '';
      return {
        text: `$(edit) ${t('{0} modified', view.count)}${updates}`,
        tooltip: tooltip(
          [
            t('{0} artifact(s) have local edits that differ from collection.lock.', view.count),
            updatesLine(view.updates),
          ],
          [
            link(t('Show diff'), 'artifactKeeper.showDiff'),
            link(t('Check for updates'), 'artifactKeeper.checkForUpdates'),
          ],
        ),
        background: undefined,
        visible: true,
      };
    }
    case 'clean': {
      const updates = view.updates > 0 ? ` $(cloud-download) ${view.updates}` : '';
      return {
        text: `$(check) ${t('Artifacts')}${updates}`,
        tooltip: tooltip(
          [t('{0} artifact(s): manifest, lock and files agree.', view.artifacts), updatesLine(view.updates)],
          [
            link(t('Check for updates'), 'artifactKeeper.checkForUpdates'),
            ...(view.updates > 0 ? [link(t('Update all'), 'artifactKeeper.updateAll')] : []),
            link(t('Restore snapshot'), 'artifactKeeper.restoreSnapshot'),
          ],
        ),
        background: undefined,
        visible: true,
      };
    }
  }
}

function updatesLine(updates: number): string {
  return updates > 0 ? t('{0} update(s) available.', updates) : t('No updates known (last check).');
}

/** Deployed artifacts drifting in the window's projects, e.g. `app: pdf (edited in the project)`. */
export interface DeployedDrift {
  project: string;
  artifacts: string[];
}

/** The status with the drifting deployed artifacts added (" · 2 deployed drifting"); unchanged when none drift. */
export function withDrift(status: RenderedStatus, drift: readonly DeployedDrift[]): RenderedStatus {
  const count = drift.reduce((n, d) => n + d.artifacts.length, 0);
  if (count === 0) return status;
  const word = t('{0} deployed drifting', count);
  const lines = drift.map((d) => `${d.project}: ${d.artifacts.join(', ')}`).join('; ');
  const line = t('Deployed artifacts drifting from the collection: {0}.', lines);
  return {
    ...status,
    text: status.visible ? `${status.text} · ${word}` : `$(warning) ${word}`,
    tooltip: status.visible ? `${status.tooltip}\n\n${line}` : line,
    visible: true,
  };
}

export class StatusIndicator extends Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: RenderedStatus = render({ kind: 'hidden' });

  constructor(
    private readonly store: Store,
    private readonly deployed?: DeployedView,
  ) {
    super();
    this.item = this.register(
      vscode.window.createStatusBarItem('artifactKeeper.status', vscode.StatusBarAlignment.Left, 50),
    );
    this.item.name = t('Artifact Keeper');
    this.item.command = 'artifactKeeper.showStatus';
    this.register(store.onDidChangeCollection(() => this.update()));
    this.register(store.onDidChangeCollections(() => this.update()));
    this.register(store.onDidChangeOperation(() => this.update()));
    if (deployed) this.register(deployed.onDidChangeProjects(() => this.update()));
    this.update();
  }

  /** What the item shows now (for the API and tests). */
  get rendered(): RenderedStatus {
    return this.current;
  }

  private update(): void {
    const drift = (this.deployed?.projects ?? [])
      .map((p) => ({
        project: p.folder.split(/[\\/]/).pop() ?? p.folder,
        artifacts: p.entries.filter((e) => isDrift(e.state)).map((e) => `${e.name} (${e.state})`),
      }))
      .filter((d) => d.artifacts.length > 0);
    const next = withDrift(render(statusOf(this.store.collections, this.store.isDiscovered)), drift);
    this.current = next;
    this.item.text = next.text;
    this.item.command = next.command ?? 'artifactKeeper.showStatus';
    const driftLine = drift.length > 0 ? next.tooltip.split('\n\n').pop() : undefined;
    const label = accessibleLabel(next);
    this.item.accessibilityInformation = {
      label: driftLine && !label.includes(driftLine) ? `${label} ${driftLine}` : label,
    };
    const tooltip = new vscode.MarkdownString(next.tooltip, true);
    tooltip.isTrusted = { enabledCommands: [...COMMAND_LINKS] };
    this.item.tooltip = tooltip;
    this.item.backgroundColor = next.background
      ? new vscode.ThemeColor(`statusBarItem.${next.background}Background`)
      : undefined;
    if (next.visible) this.item.show();
    else this.item.hide();
  }
}

/** The status as a screen reader says it: the item's text without codicons, then the tooltip's first line. */
function accessibleLabel(status: RenderedStatus): string {
  const text = status.text.replace(/\$\([^)]*\)\s*/g, '').trim();
  const detail = status.tooltip
    .split('\n\n')
    .map((line) =>
      line
        .replace(/\*\*/g, '')
        .replace(/\[([^\]]*)\]\(command:[^)]*\)/g, '$1')
        .trim(),
    )
    .find((line) => line && line !== text);
  return detail ? `${text}. ${detail}` : text;
}

const COMMAND_LINKS = [
  'artifactKeeper.resolveConflicts',
  'artifactKeeper.abortUpdate',
  'artifactKeeper.showStatus',
  'artifactKeeper.showLog',
  'artifactKeeper.refresh',
  'artifactKeeper.recover',
  'artifactKeeper.openManifest',
  'artifactKeeper.restoreSnapshot',
  'artifactKeeper.showDiff',
  'artifactKeeper.checkForUpdates',
  'artifactKeeper.updateAll',
];
