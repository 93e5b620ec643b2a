/**
 * One update's window-side state, as the core's `Resolver` (DESIGN §3, §8): the plan's sides served
 * read-only under `artifact-snapshot:`, a diff editor and a choice per file for `prompt`, the multi-file
 * preview before an `overwrite`. It answers questions; the core's `resolveUpdate` decides. Conflicts are
 * not asked here: the update commits them (markers, upstream copies) and `conflictFlow.ts` takes over.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { hasLocalEdit } from '../core/index.js';
import type {
  ArtifactUpdatePlan,
  Decision,
  ExecFinding,
  FilePlan,
  PromptChoice,
  QuestionAt,
  ResolvedUpdate,
  Resolver,
  UpdatePlan,
} from '../core/index.js';
import { raceAbort } from './events.js';
import type { Services } from './services.js';
import { toSnapshotUri } from './snapshotContent.js';
import type { PlanSide } from './snapshotContent.js';
import type { CollectionModel, RunContext } from './store.js';
import { shortName, showChanges, versionText } from './ui.js';
import type { ChangeEntry } from './ui.js';

const t = vscode.l10n.t;

/**
 * The choices for a file, the safe one first (a quick pick preselects it, so Enter takes it): Merge for
 * a file both sides edited, Keep mine for an edit that cannot be merged; no single keypress discards a
 * local edit. Take upstream leads only where there is no edit of ours to lose.
 */
function choicesFor(file: FilePlan, mergeable: boolean): PromptChoice[] {
  const merge: PromptChoice[] = mergeable ? ['merge'] : [];
  if (!hasLocalEdit(file)) return ['upstream', 'mine', ...merge, 'skip-artifact'];
  return [...merge, 'mine', 'upstream', 'skip-artifact'];
}

/** What a file becomes under a decision (undefined: it does not exist afterwards). */
function resultOf(file: FilePlan, decision: Decision | undefined): Uint8Array | undefined {
  switch (decision?.kind) {
    case undefined:
    case 'mine':
      return file.mine?.data;
    case 'upstream':
      return file.upstream?.data;
    case 'content':
      return decision.data;
    case 'delete':
      return undefined;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/** A question's answer, or 'cancel' as soon as the update is cancelled (whatever the prompter does). */
function cancellable<T>(ctx: RunContext, answer: Promise<T>): Promise<T | 'cancel'> {
  return raceAbort<T | 'cancel'>(answer, ctx.signal, () => 'cancel');
}

/**
 * One update's UI state: the plan's sides served under `artifact-snapshot:` and the decisions made so far
 * (the preview's "result" side).
 */
export class UpdateSession {
  readonly key = randomBytes(6).toString('hex');
  readonly collectionDir: string;
  /** What the resolve step decided, once it reaches the review (the preview's "result" side). */
  private resolved: ResolvedUpdate | undefined;
  private readonly registration: vscode.Disposable;

  constructor(
    private readonly services: Services,
    private readonly collection: CollectionModel,
    private readonly plan: UpdatePlan,
  ) {
    this.collectionDir = collection.dir;
    this.registration = services.content.registerPlan(this.key, (artifact, rel, side) =>
      this.read(artifact, rel, side),
    );
  }

  private read(artifactId: string, rel: string, side: PlanSide): Uint8Array | undefined {
    const file = this.plan.artifacts.find((a) => a.id === artifactId)?.files.find((f) => f.rel === rel);
    if (!file) return undefined;
    if (side === 'result') {
      const chosen = this.resolved?.decisions.get(artifactId);
      return resultOf(file, chosen === 'skip' ? undefined : chosen?.get(rel));
    }
    return file[side]?.data;
  }

  uri(artifact: ArtifactUpdatePlan, file: FilePlan, side: PlanSide): vscode.Uri {
    const exists =
      side === 'result' ? this.read(artifact.id, file.rel, side) !== undefined : file[side] !== undefined;
    // Named like the working file, so editors show one file (not a rename) and pick its language.
    const label = this.working(artifact, file).fsPath;
    if (!exists) return toSnapshotUri({ kind: 'empty', rel: file.rel }, label);
    return toSnapshotUri({ kind: 'plan', plan: this.key, artifact: artifact.id, rel: file.rel, side }, label);
  }

  /** The working file of an artifact's file. */
  working(artifact: ArtifactUpdatePlan, file: FilePlan): vscode.Uri {
    return artifact.isFolder
      ? vscode.Uri.file(path.join(artifact.localRoot, ...file.rel.split('/')))
      : vscode.Uri.file(artifact.localRoot);
  }

  /**
   * This window as the core's `Resolver` (`resolveUpdate` in the core decides; this only asks): a diff
   * editor and a choice per file for `prompt`, the multi-file preview before an `overwrite`. It answers no
   * conflict: the update commits them as git does, and `conflictFlow.ts` opens them afterwards.
   */
  resolver(ctx: RunContext): Resolver {
    return {
      chooseFile: (artifact, file, at) => this.chooseFile(artifact, file, at, ctx),
      review: (update) => this.review(update, ctx),
    };
  }

  /** `prompt`: one file upstream touched, in a diff editor, with a choice. */
  private chooseFile(
    artifact: ArtifactUpdatePlan,
    file: FilePlan,
    at: QuestionAt,
    ctx: RunContext,
  ): Promise<PromptChoice | 'cancel'> {
    ctx.report(t('Choose for {0} ({1} of {2})', `${shortName(artifact.id)}/${file.rel}`, at.index, at.total));
    const mergeable = !file.binary && file.mine !== undefined && file.upstream !== undefined;
    return this.askFile(artifact, file, at, mergeable, ctx);
  }

  /** Mine ↔ upstream in a diff editor, and the person's choice for the file. */
  private async askFile(
    artifact: ArtifactUpdatePlan,
    file: FilePlan,
    at: QuestionAt,
    mergeable: boolean,
    ctx: RunContext,
  ): Promise<PromptChoice | 'cancel'> {
    await this.openDiff(artifact, file, 'mine', 'upstream');
    const choice = await cancellable(
      ctx,
      this.services.prompter.chooseFile({
        artifact: artifact.id,
        rel: file.rel,
        status: file.status,
        index: at.index,
        total: at.total,
        choices: choicesFor(file, mergeable),
        signal: ctx.signal,
      }),
    );
    return ctx.signal.aborted ? 'cancel' : choice;
  }

  /**
   * The executable changes the approval modal asks about (DESIGN §11), each file as the collection has it
   * against the update's result, in one multi-file diff.
   */
  async showFindings(findings: readonly ExecFinding[], resolved: ResolvedUpdate): Promise<void> {
    this.resolved ??= resolved;
    const entries: ChangeEntry[] = [];
    for (const finding of findings) {
      const artifact = this.plan.artifacts.find((a) => a.id === finding.artifact);
      if (!artifact) continue;
      const root = path.relative(this.collectionDir, artifact.localRoot).split(path.sep).join('/');
      const rel = artifact.isFolder ? finding.file.slice(root.length + 1) : path.basename(finding.file);
      const file = artifact.files.find((f) => f.rel === rel);
      if (!file || entries.some((e) => e.label.fsPath === this.working(artifact, file).fsPath)) continue;
      entries.push({
        label: this.working(artifact, file),
        original: this.uri(artifact, file, 'mine'),
        modified: this.uri(artifact, file, 'result'),
      });
    }
    await showChanges(
      t('Executable changes: {0}', findings.map((f) => shortName(f.artifact)).join(', ')),
      entries,
      this.services.log,
    );
  }

  /** `overwrite`: every file that changes, in one multi-file diff, then Apply or Cancel. */
  private async review(update: ResolvedUpdate, ctx: RunContext): Promise<'apply' | 'cancel'> {
    if (update.strategy !== 'overwrite') return 'apply';
    this.resolved = update;
    const pending = this.plan.artifacts.filter((a) => update.decisions.has(a.id));
    const entries: ChangeEntry[] = [];
    let replacedEdits = 0;
    for (const artifact of pending) {
      const chosen = update.decisions.get(artifact.id);
      const decisions = chosen === 'skip' ? undefined : chosen;
      for (const file of artifact.files) {
        const after = resultOf(file, decisions?.get(file.rel));
        if (sameBytes(file.mine?.data, after)) continue;
        if (file.mine && !sameBytes(file.mine.data, file.base?.data)) replacedEdits++;
        entries.push({
          label: this.working(artifact, file),
          original: this.uri(artifact, file, 'mine'),
          modified: this.uri(artifact, file, 'result'),
          title: t(
            '{0} (local ↔ {1})',
            `${shortName(artifact.id)}/${file.rel}`,
            versionText(artifact.to.version, artifact.to.sha),
          ),
        });
      }
    }
    if (entries.length === 0) return 'apply';
    const names = pending
      .map((a) =>
        t(
          '{0} {1} → {2}',
          shortName(a.id),
          versionText(a.from.version, a.from.sha),
          versionText(a.to.version, a.to.sha),
        ),
      )
      .join(', ');
    ctx.report(t('Review the changes, then Apply or Cancel'));
    await showChanges(t('Update {0} (overwrite)', names), entries, this.services.log);
    const message =
      replacedEdits > 0
        ? t(
            'Apply the update of {0}? {1} file(s) change; local edits in {2} file(s) are replaced by upstream.',
            names,
            entries.length,
            replacedEdits,
          )
        : t('Apply the update of {0}? {1} file(s) change.', names, entries.length);
    const answer = await cancellable(
      ctx,
      this.services.prompter.reviewUpdate({
        message,
        artifacts: pending.map((a) => a.id),
        files: entries.length,
        replacedEdits,
        signal: ctx.signal,
      }),
    );
    return answer === 'apply' && !ctx.signal.aborted ? 'apply' : 'cancel';
  }

  private async openDiff(
    artifact: ArtifactUpdatePlan,
    file: FilePlan,
    left: PlanSide,
    right: PlanSide,
  ): Promise<void> {
    const side = (which: PlanSide): string =>
      which === 'upstream'
        ? versionText(artifact.to.version, artifact.to.sha)
        : which === 'base'
          ? versionText(artifact.from.version, artifact.from.sha)
          : which === 'mine'
            ? t('local')
            : t('result');
    const title = t('{0} ({1} ↔ {2})', `${shortName(artifact.id)}/${file.rel}`, side(left), side(right));
    await vscode.commands.executeCommand(
      'vscode.diff',
      this.uri(artifact, file, left),
      this.uri(artifact, file, right),
      title,
      { preview: true },
    );
  }

  dispose(): void {
    this.registration.dispose();
  }
}
