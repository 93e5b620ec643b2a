/**
 * The one interface through which every question to the user goes: quick picks, confirmations, text,
 * the Apply/Cancel of an update preview, the per-file choice of the `prompt` strategy, the wait for a
 * merge to be completed, and notifications with buttons. `VsCodePrompter` asks through VS Code's own
 * UI; the integration tests install their own answers through the extension's API (`SwitchablePrompter`),
 * so every flow runs for real while a script plays the person.
 */
import * as vscode from 'vscode';
import { STATUS_WORDS } from '../core/index.js';
import type { FileStatus, PromptChoice } from '../core/index.js';
import { raceAbort } from './events.js';
import { isMergeTabFor, mergeTabOpen } from './mergeCompletion.js';
import type { MergeCompletions } from './mergeCompletion.js';

/** Every question has a stable id, so a test script can answer it by name. */
export type QuestionId =
  | 'pickCollection'
  | 'pickArtifact'
  | 'pickStrategy'
  | 'pickSnapshot'
  | 'pickHistory'
  | 'pickHistoryAction'
  | 'pickFix'
  | 'pickArtifactType'
  | 'pickFolder'
  | 'sourceText'
  | 'snapshotMessage'
  | 'collectionName'
  | 'confirmRestore'
  | 'confirmProjectCollection'
  | 'confirmRollback'
  | 'confirmDiscard'
  | 'confirmRemove'
  | 'pickFileSnapshot'
  | 'pickConflictSide'
  | 'pickDeployTarget'
  | 'pickProfile'
  | 'deployOverEdits'
  | 'confirmUndeploy'
  | 'confirmBaseResult';

export interface PickItem<T> {
  label: string;
  description?: string;
  detail?: string;
  value: T;
  /** Renders as a separator line titled `label` (no value is picked from it). */
  separator?: boolean;
}

export interface PickQuestion<T> {
  id: QuestionId;
  title: string;
  placeholder?: string;
  items: PickItem<T>[];
}

export interface ConfirmQuestion {
  id: QuestionId;
  message: string;
  detail?: string;
  /** The button that means yes. */
  confirm: string;
  /** A modal warning (VS Code adds its one Cancel): for destructive fixes, where nothing else is on screen to keep usable. */
  modal?: boolean;
}

export interface InputQuestion {
  id: QuestionId;
  title: string;
  prompt?: string;
  placeholder?: string;
  value?: string;
  validate?: (value: string) => string | undefined;
}

export interface FolderQuestion {
  id: QuestionId;
  title: string;
  openLabel: string;
  defaultUri?: vscode.Uri;
}

export interface ReviewQuestion {
  /** e.g. "Update pdf from v1.0 to v1.1: 3 files change, 1 local edit is replaced". */
  message: string;
  artifacts: string[];
  files: number;
  /** Files whose local edits upstream's version replaces: the button then names that. */
  replacedEdits: number;
  signal: AbortSignal;
}

/** Executable changes (DESIGN §11) waiting for a yes before an update or add applies them. */
export interface ExecQuestion {
  /** e.g. "pdf: 2 executable changes". */
  message: string;
  /** One line per finding: file, line, why. */
  findings: string[];
  /** Whether "Show Changes" can open their diffs. */
  canShow: boolean;
}

export interface FileQuestion {
  artifact: string;
  rel: string;
  /** The core's FileStatus of the file. */
  status: string;
  index: number;
  total: number;
  /** The choices that make sense for this file (binary files cannot be merged). */
  choices: PromptChoice[];
  signal: AbortSignal;
}

export interface MergeQuestion {
  artifact: string;
  rel: string;
  /** The merge result: the real file's path under `artifact-keeper-merge:` (its writes a draft in memory). */
  output: vscode.Uri;
  /** Where the person resolves: VS Code's merge editor, or (its fallback) the file with conflict markers. */
  editor: 'merge' | 'text';
  conflicts: number;
  signal: AbortSignal;
}

export type MergeAnswer = 'completed' | 'closed' | 'cancel';

/** A modal warning with named choices (VS Code adds its one Cancel); resolves with the choice's id. */
export interface WarnQuestion {
  id: QuestionId;
  message: string;
  detail?: string;
  choices: NoticeAction[];
}

export interface NoticeAction {
  id: string;
  title: string;
}

export interface Notice {
  /** Stable id of the kind of notice (`update-succeeded`, `update-failed`, `error`…). */
  id: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
  actions: NoticeAction[];
}

export interface Prompter {
  pick<T>(question: PickQuestion<T>): Promise<T | undefined>;
  confirm(question: ConfirmQuestion): Promise<boolean>;
  input(question: InputQuestion): Promise<string | undefined>;
  pickFolder(question: FolderQuestion): Promise<vscode.Uri | undefined>;
  reviewUpdate(question: ReviewQuestion): Promise<'apply' | 'cancel'>;
  /** A modal before executable changes apply: `apply`, `show` (their diffs, then ask again) or `cancel`. */
  approveExec(question: ExecQuestion): Promise<'apply' | 'show' | 'cancel'>;
  chooseFile(question: FileQuestion): Promise<PromptChoice | 'cancel'>;
  /**
   * Waits for the person to finish a merge: `completed` (Complete Merge in the merge editor, or the
   * fallback file saved without markers), `closed` (the merge editor closed without Complete Merge:
   * nothing of its result may be used), or `cancel` (the update was cancelled).
   */
  awaitMerge(question: MergeQuestion): Promise<MergeAnswer>;
  /** Shows a notification; resolves with the id of the button pressed, or undefined when dismissed. */
  notify(notice: Notice): Promise<string | undefined>;
  /** A modal warning with choices; undefined when cancelled. */
  warn(question: WarnQuestion): Promise<string | undefined>;
}

const t = vscode.l10n.t;

/** Conflict markers as the core writes them (labels mine/base/upstream) or as git does. */
export function hasConflictMarkers(text: string): boolean {
  return /^<{7}( |$)/m.test(text) && /^>{7}( |$)/m.test(text);
}

export class VsCodePrompter implements Prompter {
  constructor(private readonly completions: MergeCompletions) {}

  async pick<T>(question: PickQuestion<T>): Promise<T | undefined> {
    type Item = vscode.QuickPickItem & { value?: T };
    const items: Item[] = question.items.map((item) =>
      item.separator
        ? { label: item.label, kind: vscode.QuickPickItemKind.Separator }
        : { label: item.label, description: item.description, detail: item.detail, value: item.value },
    );
    const picked = await vscode.window.showQuickPick(items, {
      title: question.title,
      placeHolder: question.placeholder,
      matchOnDescription: true,
      matchOnDetail: true,
      ignoreFocusOut: true,
    });
    return picked?.value;
  }

  /**
   * A confirmation as a notification with the confirm button, not a modal dialog: the diff preview it
   * follows stays usable while the person decides (and VS Code's test driver refuses modal dialogs).
   */
  async warn(question: WarnQuestion): Promise<string | undefined> {
    const answer = await vscode.window.showWarningMessage(
      question.message,
      { modal: true, ...(question.detail ? { detail: question.detail } : {}) },
      ...question.choices.map((c) => c.title),
    );
    return question.choices.find((c) => c.title === answer)?.id;
  }

  async confirm(question: ConfirmQuestion): Promise<boolean> {
    if (question.modal) {
      const answer = await vscode.window.showWarningMessage(
        question.message,
        { modal: true, ...(question.detail ? { detail: question.detail } : {}) },
        question.confirm,
      );
      return answer === question.confirm;
    }
    const text = question.detail ? `${question.message} ${question.detail}` : question.message;
    const answer = await vscode.window.showWarningMessage(text, question.confirm, t('Cancel'));
    return answer === question.confirm;
  }

  input(question: InputQuestion): Promise<string | undefined> {
    return Promise.resolve(
      vscode.window.showInputBox({
        title: question.title,
        prompt: question.prompt,
        placeHolder: question.placeholder,
        value: question.value,
        ignoreFocusOut: true,
        validateInput: question.validate ? (value) => question.validate?.(value) : undefined,
      }),
    );
  }

  async pickFolder(question: FolderQuestion): Promise<vscode.Uri | undefined> {
    const picked = await vscode.window.showOpenDialog({
      title: question.title,
      openLabel: question.openLabel,
      canSelectFiles: false,
      canSelectFolders: true,
      canSelectMany: false,
      ...(question.defaultUri ? { defaultUri: question.defaultUri } : {}),
    });
    return picked?.[0];
  }

  /**
   * One button in a notification beside the multi-file diff, which stays usable while the person looks
   * (a modal would block it; the progress notification holds the one Cancel, and dismissing cancels).
   * When local edits would be replaced it is a warning whose button says so: "Replace 1 Local Edit".
   */
  async reviewUpdate(question: ReviewQuestion): Promise<'apply' | 'cancel'> {
    const destructive = question.replacedEdits > 0;
    const button = destructive ? t('Replace {0} Local Edit(s)', question.replacedEdits) : t('Apply');
    const show = destructive ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const answer = await raceAbort(
      Promise.resolve(show(question.message, button)),
      question.signal,
      () => undefined,
    );
    return answer === button ? 'apply' : 'cancel';
  }

  async approveExec(question: ExecQuestion): Promise<'apply' | 'show' | 'cancel'> {
    const apply = t('Apply Executable Changes');
    const show = t('Show Changes');
    const shown = question.findings.slice(0, 12);
    const more = question.findings.length - shown.length;
    const detail = [
      ...shown.map((line) => `• ${line}`),
      ...(more > 0 ? [t('…and {0} more (in the log)', more)] : []),
      '',
      t('These run code on this machine. Nothing is written unless you apply them.'),
    ].join('\n');
    const answer = await vscode.window.showWarningMessage(
      question.message,
      { modal: true, detail },
      // Show Changes first: the default button (Enter) never applies code unseen.
      ...(question.canShow ? [show, apply] : [apply]),
    );
    return answer === apply ? 'apply' : answer === show ? 'show' : 'cancel';
  }

  async chooseFile(question: FileQuestion): Promise<PromptChoice | 'cancel'> {
    const labels: Record<PromptChoice, { label: string; detail: string }> = {
      upstream: {
        label: t('$(cloud-download) Take upstream'),
        detail: t('Replace the file with the upstream version.'),
      },
      mine: { label: t('$(account) Keep mine'), detail: t('Keep the file as it is in the collection.') },
      merge: {
        label: t('$(git-merge) Merge'),
        detail: t('Three-way merge; conflicts open in the merge editor.'),
      },
      'skip-artifact': {
        label: t('$(debug-step-over) Skip artifact'),
        detail: t('Leave {0} as it is; update the others.', question.artifact),
      },
    };
    const items = question.choices.map((choice) => ({ ...labels[choice], value: choice }));
    const picked = await raceAbort(
      Promise.resolve(
        vscode.window.showQuickPick(items, {
          title: t(
            '{0}: {1} ({2} of {3}, {4})',
            question.artifact,
            question.rel,
            question.index,
            question.total,
            STATUS_WORDS[question.status as FileStatus] ?? question.status,
          ),
          placeHolder: t('What should happen to this file? (Escape cancels the whole update)'),
          ignoreFocusOut: true,
        }),
      ),
      question.signal,
      () => undefined,
    );
    return picked?.value ?? 'cancel';
  }

  /**
   * Waits until the person is done with the merge. In the merge editor only our Complete Merge counts
   * (`mergeCompletion.ts`); the tab closing any other way is `closed`. Saves alone never count: the merge
   * editor writes its own starting result (the base text where conflicts are unhandled), and auto-save
   * may store it before the person has looked at a single conflict. In the fallback text editor, saving
   * the file without conflict markers completes it. Cancelling the update aborts the wait.
   */
  awaitMerge(question: MergeQuestion): Promise<MergeAnswer> {
    return new Promise((resolve) => {
      const key = question.output.toString();
      const subscriptions: vscode.Disposable[] = [];
      const finish = (answer: MergeAnswer): void => {
        subscriptions.forEach((s) => s.dispose());
        question.signal.removeEventListener('abort', abort);
        resolve(answer);
      };
      const abort = (): void => finish('cancel');
      if (question.editor === 'merge') {
        subscriptions.push(
          vscode.window.tabGroups.onDidChangeTabs((e) => {
            if (!e.closed.some((tab) => isMergeTabFor(tab, question.output))) return;
            // Our Complete Merge closes the tab itself; its outcome arrives through onDidFinish.
            if (!this.completions.isCompleting(question.output)) finish('closed');
          }),
          this.completions.onDidFinish(({ result, completed }) => {
            if (result.toString() !== key) return;
            if (completed) finish('completed');
            else if (!mergeTabOpen(question.output)) finish('closed');
          }),
        );
      } else {
        subscriptions.push(
          vscode.workspace.onDidSaveTextDocument((document) => {
            if (document.uri.toString() !== key) return;
            if (!hasConflictMarkers(document.getText())) finish('completed');
            else {
              void vscode.window.showWarningMessage(
                t('{0} still has conflict markers. Resolve them, then save.', question.rel),
              );
            }
          }),
        );
      }
      if (question.signal.aborted) abort();
      else question.signal.addEventListener('abort', abort, { once: true });
    });
  }

  async notify(notice: Notice): Promise<string | undefined> {
    const show =
      notice.severity === 'error'
        ? vscode.window.showErrorMessage
        : notice.severity === 'warning'
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    const titles = notice.actions.map((action) => action.title);
    const picked = await show(notice.message, ...titles);
    return notice.actions.find((action) => action.title === picked)?.id;
  }
}

/**
 * Delegates to the real prompter unless a test has installed its own through the API. The product never
 * fakes an answer: without an installed prompter every question goes to VS Code's UI.
 */
export class SwitchablePrompter implements Prompter {
  private installed: Prompter | undefined;

  constructor(private readonly real: Prompter) {}

  install(prompter: Prompter | undefined): void {
    this.installed = prompter;
  }

  private get current(): Prompter {
    return this.installed ?? this.real;
  }

  pick<T>(question: PickQuestion<T>): Promise<T | undefined> {
    return this.current.pick(question);
  }
  confirm(question: ConfirmQuestion): Promise<boolean> {
    return this.current.confirm(question);
  }
  warn(question: WarnQuestion): Promise<string | undefined> {
    return this.current.warn(question);
  }
  input(question: InputQuestion): Promise<string | undefined> {
    return this.current.input(question);
  }
  pickFolder(question: FolderQuestion): Promise<vscode.Uri | undefined> {
    return this.current.pickFolder(question);
  }
  reviewUpdate(question: ReviewQuestion): Promise<'apply' | 'cancel'> {
    return this.current.reviewUpdate(question);
  }
  approveExec(question: ExecQuestion): Promise<'apply' | 'show' | 'cancel'> {
    return this.current.approveExec(question);
  }
  chooseFile(question: FileQuestion): Promise<PromptChoice | 'cancel'> {
    return this.current.chooseFile(question);
  }
  awaitMerge(question: MergeQuestion): Promise<MergeAnswer> {
    return this.current.awaitMerge(question);
  }
  notify(notice: Notice): Promise<string | undefined> {
    return this.current.notify(notice);
  }
}
