/**
 * The one translation table from failures to sentences: every core `Failure['code']` and every glue
 * problem becomes { message, reason, severity, actions }. `reason` is the clause a flow embeds in its own
 * sentence ("Updating pdf failed: <reason>. …"); `message` stands alone and says what to do next.
 * Nothing else in the extension words an error.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CoreError } from '../core/index.js';
import type { Failure, LockHolder } from '../core/index.js';
import { ExtensionError } from './extensionError.js';
import type { GlueProblem } from './extensionError.js';

export type Severity = 'error' | 'warning' | 'info' | 'none';

export type ErrorAction =
  | { kind: 'showLog' }
  | { kind: 'retry' }
  | { kind: 'recover' }
  | { kind: 'refresh' }
  | { kind: 'restore' }
  | { kind: 'open'; file: string; line?: number };

export interface UserError {
  message: string;
  reason: string;
  severity: Severity;
  actions: ErrorAction[];
}

const t = vscode.l10n.t;

export function actionTitle(action: ErrorAction): string {
  switch (action.kind) {
    case 'showLog':
      return t('Show Log');
    case 'retry':
      return t('Retry');
    case 'recover':
      return t('Recover');
    case 'refresh':
      return t('Refresh');
    case 'restore':
      return t('Restore Snapshot…');
    case 'open':
      return t('Open {0}', path.basename(action.file));
  }
}

/** Who holds the writer lock, in words: "the artifact-keeper CLI (pid 4242, update) since 10:42". */
export function describeHolder(holder: LockHolder): string {
  const who =
    holder.tool === 'artifact-keeper-vscode'
      ? t('another VS Code window')
      : holder.tool === 'artifact-keeper-cli'
        ? t('the artifact-keeper CLI')
        : holder.tool === 'unknown'
          ? t('another process')
          : holder.tool;
  const details = [holder.pid > 0 ? t('pid {0}', holder.pid) : undefined, holder.operation]
    .filter(Boolean)
    .join(', ');
  const started = new Date(holder.started);
  const since = Number.isNaN(started.getTime()) ? '' : ` ${t('since {0}', started.toLocaleTimeString())}`;
  return `${who}${details ? ` (${details})` : ''}${since}`;
}

export function toUserError(err: unknown): UserError {
  if (err instanceof CoreError) return fromFailure(err.failure);
  if (err instanceof ExtensionError) return fromGlue(err.problem);
  const first = (err instanceof Error ? err.message : String(err)).split('\n', 1)[0] ?? '';
  return {
    reason: first,
    message: t('Artifact Keeper failed: {0}', first),
    severity: 'error',
    actions: [{ kind: 'showLog' }],
  };
}

export function isCancellation(err: unknown): boolean {
  return toUserError(err).severity === 'none';
}

function make(reason: string, message: string, severity: Severity, actions: ErrorAction[]): UserError {
  return { reason, message, severity, actions };
}

export function fromFailure(f: Failure): UserError {
  switch (f.code) {
    case 'toml-invalid': {
      const reason = t('{0} line {1} cannot be read: {2}', path.basename(f.file), f.line, f.reason);
      return make(reason, t('{0}. Fix the file, then refresh.', reason), 'error', [
        { kind: 'open', file: f.file, line: f.line },
      ]);
    }
    case 'manifest-invalid':
    case 'lock-invalid':
    case 'tracking-invalid': {
      const where =
        f.line !== undefined ? t('{0} line {1}', path.basename(f.file), f.line) : path.basename(f.file);
      const reason = f.artifact
        ? t('{0} (artifact {1}): {2}', where, f.artifact, f.reason)
        : t('{0}: {1}', where, f.reason);
      return make(reason, t('{0}. Fix the file, then refresh.', reason), 'error', [
        { kind: 'open', file: f.file, ...(f.line !== undefined ? { line: f.line } : {}) },
      ]);
    }
    case 'lock-version-unsupported': {
      const reason = t(
        '{0} has lock version {1}, which this version cannot read',
        path.basename(f.file),
        f.version,
      );
      return make(reason, t('{0}. Update Artifact Keeper, or restore an older lock file.', reason), 'error', [
        { kind: 'open', file: f.file },
      ]);
    }
    case 'artifact-name-invalid': {
      const reason = t('"{0}" is not a valid artifact name ({1})', f.name, f.reason);
      return make(reason, t('{0}. Choose another name.', reason), 'warning', []);
    }
    case 'artifact-path-invalid': {
      const reason = t('the path "{0}" of {1} {2}', f.path, f.artifact, f.reason);
      return make(reason, t('Nothing was changed: {0}.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'artifact-not-found': {
      const reason = t('there is no artifact {0} in this collection', f.artifact);
      return make(
        reason,
        t('There is no artifact {0} in this collection. Refresh the view and try again.', f.artifact),
        'warning',
        [{ kind: 'refresh' }],
      );
    }
    case 'artifact-exists': {
      const reason = t('{0} is already in this collection', f.artifact);
      return make(
        reason,
        t('{0} is already in this collection. Update it instead, or add it under another name.', f.artifact),
        'warning',
        [],
      );
    }
    case 'artifact-ambiguous': {
      const reason = t('"{0}" matches several artifacts ({1})', f.artifact, f.candidates.join(', '));
      return make(reason, t('{0}. Name the artifact as type/name.', reason), 'warning', []);
    }
    case 'not-a-collection': {
      const reason = t('{0} is not a collection ({1})', f.dir, f.reason);
      return make(
        reason,
        t('{0}. Open a folder with a collection.toml, or create a collection there.', reason),
        'warning',
        [],
      );
    }
    case 'collection-exists': {
      const reason =
        f.nestedIn === undefined
          ? t('{0} already holds a collection', f.dir)
          : t('{0} is inside the collection {1}', f.dir, f.nestedIn);
      return make(reason, t('{0}. Open it instead.', reason), 'info', []);
    }
    case 'locked': {
      const reason = t('the collection is locked by {0}', describeHolder(f.holder));
      return make(
        reason,
        t('The collection is locked by {0}. Try again when it has finished.', describeHolder(f.holder)),
        'warning',
        [{ kind: 'retry' }],
      );
    }
    case 'git-missing': {
      const reason = t('git was not found ({0})', f.reason);
      return make(
        reason,
        t('Artifact Keeper needs git 2.30 or newer, and git was not found. Install git, then try again.'),
        'error',
        [{ kind: 'showLog' }],
      );
    }
    case 'git-too-old': {
      const reason = t('git {0} is too old', f.version);
      return make(
        reason,
        t('git {0} is too old: Artifact Keeper needs git 2.30 or newer.', f.version),
        'error',
        [],
      );
    }
    case 'git-failed': {
      const reason = t('git {0} failed: {1}', f.command, f.reason);
      return make(reason, t('{0}. See the log for details.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'snapshot-not-found': {
      const reason = t('there is no snapshot {0}', f.snapshotId);
      return make(
        reason,
        t('There is no snapshot {0} (it may have been pruned). Pick another one.', f.snapshotId),
        'warning',
        [{ kind: 'restore' }],
      );
    }
    case 'snapshot-invalid': {
      const reason = t('the snapshot store is damaged ({0}: {1})', path.basename(f.file), f.reason);
      return make(reason, t('{0}. See the log for details.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'io-failed': {
      const reason = t('could not {0} {1} ({2})', f.op, path.basename(f.path), f.errno);
      return make(
        reason,
        t('Could not {0} {1}: {2}. See the log for details.', f.op, f.path, f.reason),
        'error',
        [{ kind: 'showLog' }, { kind: 'retry' }],
      );
    }
    case 'source-invalid': {
      const reason = t('"{0}" cannot be used as a source ({1})', f.source, f.reason);
      return make(
        reason,
        t('{0}. Use a git URL, a local repository, owner/repo/path@ref or a folder.', reason),
        'warning',
        [],
      );
    }
    case 'upstream-unreachable': {
      const reason = t('the upstream {0} cannot be reached ({1})', f.source, f.reason);
      return make(reason, t('{0}. Check the network or the path, then try again.', reason), 'warning', [
        { kind: 'retry' },
        { kind: 'showLog' },
      ]);
    }
    case 'upstream-invalid': {
      const reason = t('the upstream content of {0} was rejected ({1})', f.artifact, f.reason);
      return make(reason, t('{0}. Nothing was changed.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'plan-stale': {
      const reason = f.artifact
        ? t('{0} changed while the update was being prepared ({1})', f.artifact, f.reason)
        : t('the collection changed while the update was being prepared ({0})', f.reason);
      return make(reason, t('Nothing was changed: {0}. Try again.', reason), 'warning', [{ kind: 'retry' }]);
    }
    case 'conflicts': {
      const reason = t('{0} conflict(s) are unresolved', f.conflicts.length);
      return make(reason, t('Nothing was changed: {0}.', reason), 'warning', []);
    }
    case 'conflicted': {
      const reason = t('{0} has unresolved conflicts', f.artifact);
      return make(
        reason,
        t('{0}: resolve them in the merge editor, or abort the merge, first.', reason),
        'warning',
        [],
      );
    }
    case 'repair-impossible': {
      const reason = t('the collection cannot be repaired ({0})', f.reason);
      return make(reason, t('{0}. Nothing was changed.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'locked-content-unavailable': {
      const reason = t('{0} cannot be put back to its locked content ({1})', f.artifact, f.reason);
      return make(reason, t('{0}. Nothing was changed.', reason), 'warning', [{ kind: 'showLog' }]);
    }
    case 'not-conflicted': {
      const reason = t('{0} has no conflicts to resolve', f.artifact);
      return make(reason, t('{0}.', reason), 'info', []);
    }
    case 'conflicts-remain': {
      const reason = t('{0} still has conflicts in {1}', f.artifact, f.files.join(', '));
      return make(reason, t('{0}. Resolve them, then mark the artifact resolved.', reason), 'warning', []);
    }
    case 'project-edits': {
      const reason = t('project edits would be lost: {0}', f.artifacts.join('; '));
      return make(
        reason,
        t(
          'Nothing was changed: {0}. Merge them, keep them, or overwrite them (Undo brings them back).',
          reason,
        ),
        'warning',
        [],
      );
    }
    case 'validation-failed': {
      const reason = t('the result for {0} would be invalid ({1})', f.artifact, f.reason);
      return make(reason, t('Nothing was changed: {0}.', reason), 'error', [{ kind: 'showLog' }]);
    }
    case 'exec-not-approved': {
      const reason = t(
        '{0} executable change(s) in {1} were not approved',
        f.findings.length,
        f.artifacts.join(', '),
      );
      return make(reason, t('Nothing was changed: {0}.', reason), 'warning', [{ kind: 'showLog' }]);
    }
    case 'interrupted': {
      const reason = t('an interrupted update has to be recovered first');
      return make(
        reason,
        t('An interrupted update was found. Recover the collection before changing it.'),
        'error',
        [{ kind: 'recover' }],
      );
    }
    case 'undo-unavailable': {
      const change = f.change ?? t('the last change');
      const reason =
        f.reason === 'no-history'
          ? t('there is nothing to undo')
          : f.reason === 'no-snapshot'
            ? t('{0} cannot be undone: no snapshot was taken before it', change)
            : f.reason === 'snapshot-pruned'
              ? t('{0} cannot be undone: its snapshot {1} was pruned', change, f.snapshotId ?? '')
              : t('{0} is no longer the last change', change);
      const message =
        f.reason === 'no-history'
          ? t('There is nothing to undo: no change has been recorded yet.')
          : f.reason === 'not-last'
            ? t(
                '{0} is no longer the last change, so Undo would revert a later one. Restore a snapshot instead.',
                change,
              )
            : t('{0}. Restore another snapshot instead.', reason.charAt(0).toUpperCase() + reason.slice(1));
      return make(reason, message, f.reason === 'no-history' ? 'info' : 'warning', [
        ...(f.reason === 'no-history' ? [] : [{ kind: 'restore' as const }]),
      ]);
    }
    case 'cancelled':
      return make(t('cancelled'), t('Cancelled. Nothing was changed.'), 'none', []);
  }
}

function fromGlue(p: GlueProblem): UserError {
  switch (p.code) {
    case 'busy': {
      const reason = t('{0} is busy ({1})', p.collection, p.activity);
      return make(
        reason,
        t('{0} is busy ({1}). Try again when it has finished.', p.collection, p.activity),
        'info',
        [],
      );
    }
    case 'untrusted': {
      const reason = t('this workspace is not trusted');
      return make(
        reason,
        t('This workspace is not trusted, so collections are read-only. Trust the workspace to change them.'),
        'warning',
        [],
      );
    }
    case 'no-collection': {
      const reason = t('no collection is open');
      return make(reason, t('No collection is open. Open or create one first.'), 'info', []);
    }
    case 'collection-unreadable': {
      const reason = t('{0} cannot be read', p.collection);
      return make(
        reason,
        t('{0} cannot be read. Fix its collection.toml or collection.lock, then refresh.', p.collection),
        'error',
        [{ kind: 'refresh' }],
      );
    }
    case 'no-upstream': {
      const reason = t('{0} has no upstream', p.artifact);
      return make(reason, t('{0} has no upstream to update from.', p.artifact), 'info', []);
    }
    case 'nothing-to-roll-back': {
      const reason = t('{0} has no update to roll back', p.collection);
      return make(reason, t('{0} has no recorded update to roll back.', p.collection), 'info', [
        { kind: 'restore' },
      ]);
    }
    case 'merge-unresolved': {
      const reason = t('{0} still has conflict markers', `${p.artifact}/${p.path}`);
      return make(
        reason,
        t('{0} still has conflict markers. Resolve them, then save.', `${p.artifact}/${p.path}`),
        'warning',
        [],
      );
    }
  }
}
