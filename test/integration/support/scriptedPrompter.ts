/**
 * The test's side of the extension's Prompter interface: a script of answers installed through the
 * API, playing the person. It records every question and notification so tests can assert on the exact
 * words the person would have seen, and it can click a notification's button.
 */
import type * as vscode from 'vscode';
import type {
  ConfirmQuestion,
  FileQuestion,
  FolderQuestion,
  InputQuestion,
  MergeAnswer,
  MergeQuestion,
  Notice,
  PickItem,
  PickQuestion,
  Prompter,
  QuestionId,
  ReviewQuestion,
  ExecQuestion,
  WarnQuestion,
} from '../../../src/extension/prompter.js';
import type { PromptChoice } from '../../../src/core/index.js';

export interface Asked {
  kind: 'pick' | 'warn' | 'confirm' | 'input' | 'folder' | 'review' | 'choose' | 'merge' | 'exec';
  id?: QuestionId;
  text: string;
  detail?: unknown;
  /** A confirmation asked as a modal dialog. */
  modal?: boolean;
}

type PickAnswer = (items: PickItem<unknown>[]) => unknown;

export class ScriptedPrompter implements Prompter {
  readonly asked: Asked[] = [];
  readonly notices: Notice[] = [];
  /** Answers by question id: for picks a function choosing among the items; for inputs a string; for confirms a boolean. */
  readonly answers = new Map<QuestionId, PickAnswer | string | boolean | vscode.Uri | undefined>();
  review: (question: ReviewQuestion) => 'apply' | 'cancel' | Promise<'apply' | 'cancel'> = () => 'apply';
  /**
   * The answer to the executable-changes modal. Default `apply`, as a person who read it would for the
   * fixtures' upstream v2 (it adds scripts/extract.sh); every question is still recorded in `asked`, and
   * the tests of the modal itself answer `cancel` or `show`.
   */
  exec: (question: ExecQuestion) => 'apply' | 'show' | 'cancel' = () => 'apply';
  choose: (question: FileQuestion) => PromptChoice | 'cancel' = () => 'upstream';
  merge: (question: MergeQuestion) => Promise<MergeAnswer> = async () => 'cancel';
  /** Which button of a notification to press (undefined: dismiss). */
  press: (notice: Notice) => string | undefined = () => undefined;
  private readonly waiters: { predicate: (n: Notice) => boolean; resolve: (n: Notice) => void }[] = [];

  async pick<T>(question: PickQuestion<T>): Promise<T | undefined> {
    this.asked.push({
      kind: 'pick',
      id: question.id,
      text: question.title,
      detail: question.items.map((i) => i.label),
    });
    const answer = this.answers.get(question.id);
    if (typeof answer !== 'function') return undefined;
    return answer(question.items.filter((i) => !i.separator) as PickItem<unknown>[]) as T | undefined;
  }

  async warn(question: WarnQuestion): Promise<string | undefined> {
    this.asked.push({
      kind: 'warn',
      id: question.id,
      text: question.message,
      detail: question.choices.map((c) => c.id),
      modal: true,
    });
    const answer = this.answers.get(question.id);
    return typeof answer === 'string' ? answer : undefined;
  }

  async confirm(question: ConfirmQuestion): Promise<boolean> {
    this.asked.push({
      kind: 'confirm',
      id: question.id,
      text: question.message,
      detail: question.detail,
      ...(question.modal ? { modal: true } : {}),
    });
    return this.answers.get(question.id) === true;
  }

  async input(question: InputQuestion): Promise<string | undefined> {
    this.asked.push({ kind: 'input', id: question.id, text: question.title });
    const answer = this.answers.get(question.id);
    return typeof answer === 'string' ? answer : undefined;
  }

  async pickFolder(question: FolderQuestion): Promise<vscode.Uri | undefined> {
    this.asked.push({ kind: 'folder', id: question.id, text: question.title });
    const answer = this.answers.get(question.id);
    return typeof answer === 'object' ? answer : undefined;
  }

  async approveExec(question: ExecQuestion): Promise<'apply' | 'show' | 'cancel'> {
    this.asked.push({ kind: 'exec', text: question.message, detail: question.findings });
    return this.exec(question);
  }

  async reviewUpdate(question: ReviewQuestion): Promise<'apply' | 'cancel'> {
    this.asked.push({ kind: 'review', text: question.message, detail: question.files });
    return this.review(question);
  }

  async chooseFile(question: FileQuestion): Promise<PromptChoice | 'cancel'> {
    this.asked.push({
      kind: 'choose',
      text: `${question.artifact}/${question.rel}`,
      detail: question.choices,
    });
    return this.choose(question);
  }

  awaitMerge(question: MergeQuestion): Promise<MergeAnswer> {
    this.asked.push({
      kind: 'merge',
      text: `${question.artifact}/${question.rel}`,
      detail: question.output.fsPath,
    });
    return this.merge(question);
  }

  async notify(notice: Notice): Promise<string | undefined> {
    this.notices.push(notice);
    for (const waiter of [...this.waiters]) {
      if (!waiter.predicate(notice)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(notice);
    }
    return this.press(notice);
  }

  /** The first notice (already shown or still to come) matching `predicate`. */
  notice(predicate: (n: Notice) => boolean, timeoutMs = 20_000): Promise<Notice> {
    const seen = this.notices.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `no matching notification within ${timeoutMs} ms; seen: ${JSON.stringify(this.notices.map((n) => n.message))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (n) => {
          clearTimeout(timer);
          resolve(n);
        },
      });
    });
  }

  questions(kind?: Asked['kind']): Asked[] {
    return kind ? this.asked.filter((a) => a.kind === kind) : this.asked;
  }
}
