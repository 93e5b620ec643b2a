/**
 * The high-level operations shared by the CLI and the extension. Each mutating one takes the writer
 * lock, recovers an interrupted transaction first, snapshots, and applies through the transaction
 * engine. This file holds the shared types; the operations live in update.ts, add.ts, check.ts, restore.ts.
 */
import type { Fs } from '../ports/fs.js';
import type { FaultPlan } from '../ports/faults.js';
import type { SnapshotStoreOptions } from '../store/snapshots.js';
import type { Logger } from '../base/changes.js';
import type { Decision, FilePlan, Strategy } from './plan.js';

export interface OperationOptions {
  fs: Fs;
  logger: Logger;
  /** `artifact-keeper-cli` or `artifact-keeper-vscode`: written into the writer lock and history. */
  tool: string;
  signal?: AbortSignal;
  /** How long a second writer waits for the lock before `locked` (default 3000 ms). */
  lockWaitMs?: number;
  /** Fault injection for the operation's git processes, the snapshot store's and the upstream fetches' (tests and campaigns only). */
  faults?: FaultPlan;
}

/** The snapshot store's options for an operation: its fs, logger, and git fault plan if any. */
export function storeOptions(opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults'>): SnapshotStoreOptions {
  return { fs: opts.fs, logger: opts.logger, ...(opts.faults ? { git: { fault: opts.faults } } : {}) };
}

export interface ArtifactUpdatePlan {
  id: string;
  name: string;
  type: string;
  /** Folder artifact (skill) or single file (command, agent). */
  isFolder: boolean;
  from: { sha?: string; version?: string };
  to: { sha?: string; version?: string };
  upToDate: boolean;
  /** False when no stored or fetchable base existed: every difference is then a both-sides change. */
  baseKnown: boolean;
  files: FilePlan[];
  /** Absolute path of the fetched upstream content (folder or file), valid until the plan is disposed. */
  upstreamRoot: string;
  /** Absolute path of the artifact in the collection. */
  localRoot: string;
}

export interface UpdatePlan {
  collectionDir: string;
  strategy: Strategy;
  artifacts: ArtifactUpdatePlan[];
  /** Hash of every input (lock entry, local content, base, upstream); apply refuses a stale plan. */
  fingerprint: string;
  dispose(): Promise<void>;
}

export type ArtifactDecisions = Map<string, Decision> | 'skip';

export interface UpdateResult {
  txId: string;
  preSnapshot: string;
  updated: { id: string; sha?: string; version?: string }[];
  skipped: string[];
}
