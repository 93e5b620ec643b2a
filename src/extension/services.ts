/**
 * What the flows and commands are built from, assembled once in `main.ts` and passed in explicitly.
 */
import type * as vscode from 'vscode';
import type { Config } from './config.js';
import type { MergeCompletions } from './mergeCompletion.js';
import type { Prompter } from './prompter.js';
import type { SnapshotContentProvider } from './snapshotContent.js';
import type { Store } from './store.js';

export interface Services {
  store: Store;
  prompter: Prompter;
  config: Config;
  log: vscode.LogOutputChannel;
  content: SnapshotContentProvider;
  /** Our Complete Merge: the only way a merge editor's result counts as resolved. */
  completions: MergeCompletions;
  /** Update sessions waiting on the user (merge editors open), so a closed merge editor can be reopened. */
  sessions: Set<{ collectionDir: string; reopen(): Promise<void> }>;
}
