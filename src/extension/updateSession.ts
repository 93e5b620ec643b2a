/**
 * One update's window-side state, as the core's `Resolver` (DESIGN §3, §8): the plan's sides served
 * read-only under `artifact-snapshot:`, a diff editor and a choice per file for `prompt`, the merge editor
 * (completed only through our Complete Merge) or a choice per conflict, the multi-file preview before an
 * `overwrite`. It answers questions; the core's `resolveUpdate` decides.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { hasLocalEdit } from '../core/index.js';
import type {
  ArtifactUpdatePlan,
  Conflict,
  ConflictAnswer,
  Decision,
  FilePlan,
  PromptChoice,
  QuestionAt,
  ResolvedUpdate,
  Resolver,
  UpdatePlan,
} from '../core/index.js';
import { raceAbort } from './events.js';
import { isMergeTabFor, mergeTabOpen } from './mergeCompletion.js';
import { hasConflictMarkers } from './prompter.js';
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
 * One update's UI state: the plan's sides served under `artifact-snapshot:`, the decisions made so far
 * (the preview's "result" side), and the temp files the merge editor writes its results to.
 */
export class UpdateSession {
  readonly key = randomBytes(6).toString('hex');
  readonly collectionDir: string;
  /** What the resolve step decided, once it reaches the review (the preview's "result" side). */
  private resolved: ResolvedUpdate | undefined;
  private readonly registration: vscode.Disposable;
  private tempDir: string | undefined;
  private readonly merges = new Map<
    string,
    { artifact: ArtifactUpdatePlan; file: FilePlan; output: vscode.Uri }
  >();
  private readonly outputs: vscode.Uri[] = [];
  /** Set while a merge waits to be reopened after its editor closed without Complete Merge. */
  private reopenWaiter: (() => void) | undefined;

  constructor(
    private readonly services: Services,
    private readonly collection: CollectionModel,
    private readonly plan: UpdatePlan,
  ) {
    this.collectionDir = collection.dir;
    this.registration = services.content.registerPlan(this.key, (artifact, rel, side) =>
      this.read(artifact, rel, side),
    );
    services.sessions.add(this);
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
   * editor and a choice per file for `prompt`, the merge editor (or a choice, for binary files and files
   * deleted on one side) per conflict, the multi-file preview before an `overwrite`.
   */
  resolver(ctx: RunContext): Resolver {
    return {
      chooseFile: (artifact, file, at) => this.chooseFile(artifact, file, at, ctx),
      beginConflicts: (artifact) => ctx.setConflicted([artifact.id]),
      resolveConflict: (artifact, conflict, file, at) =>
        this.resolveConflict(artifact, conflict, file, at, ctx),
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

  /** A conflict: a text one in the merge editor, the rest (binary, deleted on one side) as a choice. */
  private async resolveConflict(
    artifact: ArtifactUpdatePlan,
    conflict: Conflict,
    file: FilePlan,
    at: QuestionAt,
    ctx: RunContext,
  ): Promise<ConflictAnswer> {
    const name = `${shortName(artifact.id)}/${conflict.rel}`;
    if (conflict.binary || !conflict.proposal) {
      ctx.report(t('Choose a version of {0} ({1} of {2} conflicts)', name, at.index, at.total));
      const choice = await this.askFile(artifact, file, at, false, ctx);
      if (choice === 'cancel' || choice === 'merge') return 'cancel';
      if (choice === 'skip-artifact') return 'skip-artifact';
      return { kind: 'take', side: choice };
    }
    let output = this.writeProposal(artifact, conflict, 0);
    this.merges.set(`${artifact.id}\n${conflict.rel}`, { artifact, file, output });
    ctx.report(
      t(
        'Resolve the conflicts in {0}, then Complete Merge (✓ in the editor title) ({1} of {2})',
        name,
        at.index,
        at.total,
      ),
    );
    for (let attempt = 1; ; attempt++) {
      const editor = await this.openMerge(artifact, file, output);
      const answer = await cancellable(
        ctx,
        this.services.prompter.awaitMerge({
          artifact: artifact.id,
          rel: conflict.rel,
          output,
          editor,
          conflicts: conflict.conflicts,
          signal: ctx.signal,
        }),
      );
      if (answer === 'cancel' || ctx.signal.aborted) return 'cancel';
      if (answer === 'closed') {
        // Whatever the editor saved is not used (it holds the base text where conflicts were not
        // handled): the artifact stays conflicted, nothing is applied, until a Complete Merge.
        this.services.log.info(`[Update] the merge of ${name} was closed without Complete Merge`);
        if ((await this.untilReopened(name, ctx)) === 'cancel') return 'cancel';
        // The reopened editor starts from the conflict again, its conflicts unhandled, not from
        // whatever the closed one left in its result (a new file: no editor holds a stale copy).
        output = this.writeProposal(artifact, conflict, attempt);
        this.merges.set(`${artifact.id}\n${conflict.rel}`, { artifact, file, output });
        continue;
      }
      const data = fs.readFileSync(output.fsPath);
      if (hasConflictMarkers(data.toString('utf8'))) {
        void this.services.prompter.notify({
          id: 'merge-unresolved',
          severity: 'warning',
          message: t('{0} still has conflict markers. Resolve them, then complete the merge.', name),
          actions: [],
        });
        continue;
      }
      this.merges.delete(`${artifact.id}\n${conflict.rel}`);
      return { kind: 'content', data };
    }
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
    const title = t(
      '{0}: mine ↔ upstream {1}',
      `${shortName(artifact.id)}/${file.rel}`,
      versionText(artifact.to.version, artifact.to.sha),
    );
    await vscode.commands.executeCommand(
      'vscode.diff',
      this.uri(artifact, file, left),
      this.uri(artifact, file, right),
      title,
      { preview: true },
    );
  }

  /** The conflict-marker proposal as a merge result file; each attempt gets its own (same file name). */
  private writeProposal(artifact: ArtifactUpdatePlan, conflict: Conflict, attempt: number): vscode.Uri {
    this.tempDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'artifact-keeper-merge-'));
    const folder = attempt === 0 ? this.tempDir : path.join(this.tempDir, `attempt-${attempt}`);
    const file = path.join(folder, shortName(artifact.id), ...conflict.rel.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, conflict.proposal ?? Buffer.alloc(0));
    const uri = vscode.Uri.file(file);
    this.outputs.push(uri);
    return uri;
  }

  /** VS Code's merge editor (base / mine / upstream / result); the result file with markers where it is missing. */
  private async openMerge(
    artifact: ArtifactUpdatePlan,
    file: FilePlan,
    output: vscode.Uri,
  ): Promise<'merge' | 'text'> {
    const version = versionText(artifact.to.version, artifact.to.sha);
    try {
      await vscode.commands.executeCommand('_open.mergeEditor', {
        base: this.uri(artifact, file, 'base'),
        input1: {
          uri: this.uri(artifact, file, 'mine'),
          title: t('Mine'),
          description: t('in the collection'),
        },
        input2: { uri: this.uri(artifact, file, 'upstream'), title: t('Upstream'), description: version },
        output,
      });
      return 'merge';
    } catch (err) {
      this.services.log.warn(
        `[Update] the merge editor could not open (${String(err)}); opening the file with conflict markers`,
      );
      await vscode.commands.executeCommand('vscode.open', output);
      return 'text';
    }
  }

  /**
   * After a merge editor closed without Complete Merge: waits until the person reopens it (the
   * notification, the tree, the status bar) or cancels the update. A dismissed notification keeps waiting:
   * the tree and the status bar still offer the reopen, the progress notification the cancel.
   */
  private async untilReopened(name: string, ctx: RunContext): Promise<'reopen' | 'cancel'> {
    const reopened = new Promise<'reopen'>((resolve) => (this.reopenWaiter = () => resolve('reopen')));
    const asked = this.services.prompter
      .notify({
        id: 'merge-closed',
        severity: 'warning',
        message: t(
          'The merge of {0} was closed without Complete Merge. Nothing was applied; the update waits until the merge is completed.',
          name,
        ),
        actions: [
          { id: 'reopen', title: t('Reopen Merge Editor') },
          { id: 'cancel', title: t('Cancel Update') },
        ],
      })
      .then((action) =>
        action === 'cancel' ? ('cancel' as const) : action === 'reopen' ? 'reopen' : reopened,
      );
    try {
      return await cancellable(ctx, Promise.race([reopened, asked]));
    } finally {
      this.reopenWaiter = undefined;
    }
  }

  /**
   * "Reopen Merge Editor" (tree, status bar, palette): wakes a merge waiting after a close, or brings the
   * open merge editors of this update to the front.
   */
  async reopen(): Promise<void> {
    if (this.reopenWaiter) {
      this.reopenWaiter();
      return;
    }
    for (const { artifact, file, output } of this.merges.values()) {
      if (mergeTabOpen(output)) await this.openMerge(artifact, file, output);
    }
  }

  async dispose(): Promise<void> {
    this.services.sessions.delete(this);
    this.registration.dispose();
    const dir = this.tempDir;
    if (!dir) return;
    // Merge results that are still open: save (so closing asks nothing), close, then remove the files.
    const inTemp = (uri: vscode.Uri | undefined): boolean =>
      uri?.scheme === 'file' && uri.fsPath.startsWith(dir + path.sep);
    for (const document of vscode.workspace.textDocuments) {
      if (inTemp(document.uri) && document.isDirty) await document.save().then(undefined, () => false);
    }
    const tabs = vscode.window.tabGroups.all
      .flatMap((group) => group.tabs)
      .filter((tab) =>
        tab.input instanceof vscode.TabInputText
          ? inTemp(tab.input.uri)
          : this.outputs.some((output) => isMergeTabFor(tab, output)),
      );
    if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true).then(undefined, () => false);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
