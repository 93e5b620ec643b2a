/**
 * What the flows and commands are built from, assembled once in `main.ts` and passed in explicitly.
 */
import type * as vscode from 'vscode';
import type { OpenMerge } from './conflictFlow.js';
import type { Config } from './config.js';
import type { MergeCompletions } from './mergeCompletion.js';
import type { MergeResults } from './mergeResult.js';
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
  /** The merge editor's results (`artifact-keeper-merge:`): drafts in memory until Complete Merge. */
  results: MergeResults;
  /** Conflict walks running (by collection folder and artifact id), so a second request reveals the first. */
  merges: Map<string, OpenMerge>;
}
