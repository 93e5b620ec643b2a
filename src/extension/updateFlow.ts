/**
 * "Update artifact" as one background task (DESIGN §8): prepare the plan (fetch, classify; nothing
 * written), resolve it through the core's decide loop with this window as the resolver
 * (`updateSession.ts`: a multi-file diff preview for `overwrite`, a diff and a choice per file for
 * `prompt`), then apply it atomically (the core snapshots first). Conflicts are committed as git leaves
 * them and opened afterwards in the merge editor (`conflictFlow.ts`). "Update all" goes on past an
 * artifact that conflicts or fails and ends with one summary. Cancelling anywhere before the apply leaves
 * every byte as it was; a failure is undone and reported with [Show log] [Retry] (and [Roll back] when
 * the undo needs a hand).
 */
import * as vscode from 'vscode';
import {
  applyUpdate,
  CoreError,
  leaveConflicts,
  listSnapshots,
  outcomesOf,
  prepareUpdate,
  resolveUpdate,
} from '../core/index.js';
import type { ArtifactOutcome, ConflictFile, Strategy, UpdateResult } from '../core/index.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import { execPolicy } from './execApproval.js';
import { rollbackCommand, rollbackFlow } from './snapshotFlows.js';
import type { CollectionModel, RunContext } from './store.js';
import { firstNames, shortName, versionText } from './ui.js';
import { isCancellation, toUserError } from './userErrors.js';
import { UpdateSession } from './updateSession.js';

const t = vscode.l10n.t;

export type UpdateOutcome =
  /** `conflicted`: artifacts committed with conflicts; `outcomes`: one line per artifact selected. */
  | {
      kind: 'updated';
      result: UpdateResult;
      message: string;
      conflicted: { id: string; files: ConflictFile[] }[];
      outcomes: ArtifactOutcome[];
    }
  /** Update all that changed nothing, with artifacts that failed or were still conflicted. */
  | { kind: 'summary'; message: string; outcomes: ArtifactOutcome[] }
  | { kind: 'up-to-date'; message: string }
  | { kind: 'skipped' }
  | { kind: 'cancelled' }
  | { kind: 'failed'; error: unknown; message: string; undone: boolean; preSnapshot?: string };

/** Runs the update of `refs` (artifact ids, or every artifact with an upstream) with a strategy. */
export async function updateFlow(
  services: Services,
  collection: CollectionModel,
  refs: readonly string[] | 'all',
  strategy: Strategy = services.config.get('defaultStrategy', collection.uri),
): Promise<UpdateOutcome> {
  const { store, prompter, log } = services;
  const label = refs === 'all' ? t('all artifacts of {0}', collection.name) : refs.map(shortName).join(', ');
  const started = Date.now();
  log.info(`[Update] ${label} with strategy ${strategy}`);
  const retry = (): void =>
    void (refs === 'all'
      ? vscode.commands.executeCommand('artifactKeeper.updateAll', collection.dir)
      : vscode.commands.executeCommand('artifactKeeper.updateArtifact', {
          collection: collection.dir,
          artifact: [...refs],
        }));
  try {
    const outcome = await store.run(
      collection,
      {
        activity: { kind: 'updating', artifacts: refs === 'all' ? [] : [...refs] },
        mutates: true,
        progress: 'notification',
        title: t('Updating {0}', label),
      },
      (ctx) => updateWork(services, collection, refs, strategy, ctx),
    );
    if (refs === 'all' && (outcome.kind === 'updated' || outcome.kind === 'summary')) {
      notifySummary(services, collection, outcome, label);
    } else if (outcome.kind === 'updated' && outcome.conflicted.length > 0) {
      notifyConflicts(services, collection, outcome.conflicted, outcome.message);
    } else if (outcome.kind === 'updated') {
      const pre = outcome.result.preSnapshot;
      const txId = outcome.result.txId;
      void prompter
        .notify({
          id: 'update-succeeded',
          severity: 'info',
          message: outcome.message,
          actions: [
            { id: 'undo', title: t('Undo Update') },
            { id: 'changes', title: t('Show Changes') },
          ],
        })
        .then((action) => {
          // The core's undo, as the palette's "Undo Last Change": only while this update is the last change.
          if (action === 'undo')
            void vscode.commands.executeCommand('artifactKeeper.undo', collection.dir, txId);
          if (action === 'changes')
            void vscode.commands.executeCommand('artifactKeeper.showChanges', collection.dir, pre);
        });
    } else if (outcome.kind === 'up-to-date') {
      void prompter.notify({
        id: 'update-up-to-date',
        severity: 'info',
        message: outcome.message,
        actions: [],
      });
    }
    return outcome;
  } catch (err) {
    // Refusals before anything started (busy, untrusted) are not failed updates: the command wrapper words them.
    if (err instanceof ExtensionError) throw err;
    if (isCancellation(err)) {
      log.info(`[Update] ${label}: cancelled, nothing was changed`);
      return { kind: 'cancelled' };
    }
    return reportFailure(services, collection, label, err, started, retry);
  }
}

async function updateWork(
  services: Services,
  collection: CollectionModel,
  refs: readonly string[] | 'all',
  strategy: Strategy,
  ctx: RunContext,
): Promise<Exclude<UpdateOutcome, { kind: 'failed' | 'cancelled' }>> {
  ctx.report(t('Fetching upstream…'));
  // Update all goes on past an artifact that cannot be fetched, is still conflicted or fails validation.
  const keepGoing = refs === 'all';
  const plan = await prepareUpdate(
    collection.dir,
    refs === 'all' ? 'all' : [...refs],
    strategy,
    ctx.options,
    undefined,
    { keepGoing },
  );
  const session = new UpdateSession(services, collection, plan);
  try {
    const pending = plan.artifacts.filter((a) => !a.upToDate);
    if (pending.length === 0 && plan.failed.length > 0) {
      const outcomes = outcomesOf(plan);
      return { kind: 'summary', outcomes, message: summaryMessage(outcomes) };
    }
    if (pending.length === 0) {
      const versions = firstNames(
        plan.artifacts.map((a) => `${shortName(a.id)} ${versionText(a.to.version, a.to.sha)}`),
      );
      return {
        kind: 'up-to-date',
        message:
          plan.artifacts.length === 1
            ? t('{0} is up to date.', versions)
            : t('Everything is up to date ({0}).', versions),
      };
    }
    // The core's one decide loop; this window only answers its questions through its editors.
    const resolved = await resolveUpdate(plan, session.resolver(ctx));
    if (resolved === 'cancelled' || ctx.signal.aborted) throw new CoreError({ code: 'cancelled' });
    // Conflicts no one resolved are committed as git leaves them (markers, upstream copies).
    leaveConflicts(plan, resolved);
    ctx.report(t('Applying…'));
    // Anything that runs needs its yes (DESIGN §11): a modal per artifact, its diffs one click away.
    const exec = execPolicy(services, (findings) => session.showFindings(findings, resolved));
    const result = await applyUpdate(plan, resolved.decisions, { ...ctx.options, exec }, { keepGoing });
    const outcomes = outcomesOf(plan, result);
    if (result.updated.length === 0) {
      return keepGoing && outcomes.some((o) => o.outcome === 'failed' || o.outcome === 'conflicted')
        ? { kind: 'summary', outcomes, message: summaryMessage(outcomes) }
        : { kind: 'skipped' };
    }
    // Retention ran in the core, after the commit (the store passes the collection's settings).
    const conflicts = new Map(result.conflicted.map((c) => [c.id, c.files]));
    const parts = result.updated.map((u) => {
      const to = t('{0} to {1}', shortName(u.id), versionText(u.version, u.sha));
      const files = conflicts.get(u.id);
      if (!files) return to;
      return t(
        '{0} with {1} in {2}',
        to,
        files.length === 1 ? t('1 conflict') : t('{0} conflicts', files.length),
        files.map((f) => f.path).join(', '),
      );
    });
    return {
      kind: 'updated',
      result,
      conflicted: result.conflicted,
      outcomes,
      message: keepGoing ? summaryMessage(outcomes) : t('Updated {0}', parts.join(', ')),
    };
  } finally {
    session.dispose();
    await plan.dispose();
  }
}

/** "Update all: 3 updated, 1 conflicted (pdf), 1 failed (helper)". */
export function summaryMessage(outcomes: readonly ArtifactOutcome[]): string {
  const named = (kind: ArtifactOutcome['outcome']): string =>
    firstNames(outcomes.filter((o) => o.outcome === kind).map((o) => shortName(o.id)));
  const count = (kind: ArtifactOutcome['outcome']): number =>
    outcomes.filter((o) => o.outcome === kind).length;
  const parts = [
    count('updated') > 0 ? t('{0} updated', count('updated')) : undefined,
    count('conflicted') > 0 ? t('{0} conflicted ({1})', count('conflicted'), named('conflicted')) : undefined,
    count('failed') > 0 ? t('{0} failed ({1})', count('failed'), named('failed')) : undefined,
    count('kept') > 0 ? t('{0} kept', count('kept')) : undefined,
    count('skipped') > 0 ? t('{0} skipped', count('skipped')) : undefined,
    count('up-to-date') > 0 ? t('{0} up to date', count('up-to-date')) : undefined,
  ].filter(Boolean);
  return t('Update all: {0}', parts.join(', '));
}

/**
 * After an update that committed conflicts: "Updated pdf to v2 with 2 conflicts in SKILL.md, logo.png"
 * with [Resolve in Merge Editor] [Abort Update], and the merge editor opens on the first file at once.
 */
function notifyConflicts(
  services: Services,
  collection: CollectionModel,
  conflicted: readonly { id: string }[],
  message: string,
): void {
  const target = { collection: collection.dir, artifact: conflicted.map((c) => c.id) };
  void services.prompter
    .notify({
      id: 'update-conflicted',
      severity: 'warning',
      message,
      actions: [
        { id: 'resolve', title: t('Resolve in Merge Editor') },
        { id: 'abort', title: t('Abort Update') },
      ],
    })
    .then((action) => {
      if (action === 'resolve')
        void vscode.commands.executeCommand('artifactKeeper.resolveConflicts', target);
      if (action === 'abort') void vscode.commands.executeCommand('artifactKeeper.abortUpdate', target);
    });
  void vscode.commands.executeCommand('artifactKeeper.resolveConflicts', target);
}

/** Update all's one notification: what happened to each artifact, with what to do next. */
function notifySummary(
  services: Services,
  collection: CollectionModel,
  outcome: Extract<UpdateOutcome, { kind: 'updated' | 'summary' }>,
  label: string,
): void {
  const conflicted = outcome.outcomes.filter((o) => o.outcome === 'conflicted').map((o) => o.id);
  const failed = outcome.outcomes.some((o) => o.outcome === 'failed');
  const pre = outcome.kind === 'updated' ? outcome.result.preSnapshot : undefined;
  const notice = {
    id: 'update-all-summary',
    severity: conflicted.length > 0 || failed ? ('warning' as const) : ('info' as const),
    message: outcome.message,
    actions: [
      ...(conflicted.length > 0 ? [{ id: 'resolve', title: t('Resolve Conflicts') }] : []),
      ...(failed ? [{ id: 'showLog', title: t('Show Log') }] : []),
      ...(pre ? [{ id: 'undo', title: t('Undo Update') }] : []),
    ],
  };
  for (const o of outcome.outcomes.filter((x) => x.outcome === 'failed'))
    services.log.warn(`[Update] ${o.id} failed: ${o.reason ?? 'unknown reason'}`);
  const ask = (): void =>
    void services.prompter.notify(notice).then((action) => {
      if (action === 'resolve')
        void vscode.commands.executeCommand('artifactKeeper.resolveConflicts', {
          collection: collection.dir,
          artifact: conflicted,
        });
      if (action === 'showLog') {
        services.log.show(true);
        ask();
      }
      if (action === 'undo') void rollbackCommand(collection, pre, label);
    });
  ask();
}

/**
 * The notification after a failed update. The core's transaction undoes a failure before its commit
 * point by itself; only when that undo could not finish (the collection reads `interrupted`) is there
 * something left to do: with auto-undo on, recovery runs at once; otherwise, or if it fails too, the
 * notification offers [Roll back].
 */
async function reportFailure(
  services: Services,
  collection: CollectionModel,
  label: string,
  err: unknown,
  started: number,
  retry: () => void,
): Promise<UpdateOutcome> {
  const { store, log, config, prompter } = services;
  const error = toUserError(err);
  log.error(
    `[Update] updating ${label} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  const preSnapshot = await findPreSnapshot(services, collection.dir, started);
  const autoUndo = config.get('autoUndo', collection.uri);
  let undone =
    !(err instanceof CoreError && err.failure.code === 'interrupted') &&
    store.find(collection.dir)?.report?.state !== 'interrupted';
  if (!undone && autoUndo) {
    try {
      await rollbackFlow(services, collection, undefined, label, { quiet: true });
      undone = true;
    } catch (undoErr) {
      log.error(`[Update] finishing the undo of ${label} failed: ${String(undoErr)}`);
    }
  }
  let message: string;
  if (!undone) {
    message = t(
      'Updating {0} failed: {1}. The undo did not complete; roll back to return to the state before the update.',
      label,
      error.reason,
    );
  } else if (preSnapshot) {
    message = t('Updating {0} failed: {1}. Rolled back to snapshot {2}.', label, error.reason, preSnapshot);
  } else {
    message = t('Updating {0} failed: {1}. Nothing was changed.', label, error.reason);
  }
  // [Roll Back] only while there is something to roll back: never after "Rolled back" or "Nothing was
  // changed". [Show Log] keeps the notification (with its Retry) on screen: it shows it again.
  const actions = [
    { id: 'showLog', title: t('Show Log') },
    { id: 'retry', title: t('Retry') },
    ...(!undone ? [{ id: 'rollback', title: t('Roll Back') }] : []),
  ];
  const notice = {
    id: 'update-failed',
    severity: error.severity === 'warning' ? ('warning' as const) : ('error' as const),
    message,
    actions,
  };
  const ask = (): void =>
    void prompter.notify(notice).then((action) => {
      if (action === 'showLog') {
        log.show(true);
        ask();
      }
      if (action === 'retry') retry();
      if (action === 'rollback') void rollbackCommand(collection, preSnapshot, label);
    });
  ask();
  return { kind: 'failed', error: err, message, undone, ...(preSnapshot ? { preSnapshot } : {}) };
}

/** The snapshot the failed update took before writing, if it got that far. */
async function findPreSnapshot(
  services: Services,
  dir: string,
  started: number,
): Promise<string | undefined> {
  try {
    const snapshots = await listSnapshots(dir, services.store.readOptions());
    const pre = snapshots.find((s) => s.trigger === 'update' && new Date(s.time).getTime() >= started - 2000);
    return pre?.id;
  } catch (err) {
    services.log.warn(`[Update] cannot list snapshots: ${String(err)}`);
    return undefined;
  }
}
