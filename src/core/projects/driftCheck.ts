/**
 * One drift check of a project a window shows, as the Deployed view refreshes it: request and outcome are
 * plain data, so it runs in the check worker (`status/checker.ts`) beside the collection checks, off the
 * extension host's event loop; the in-process fallback runs the same steps. It reads the collection and
 * the project and writes only the drift caches (derived data, and not at all when `persist` is off).
 */
import { loadCollection } from '../model/collection.js';
import { nodeFs } from '../ports/fs.js';
import { checkDrift, loadDriftCaches, saveDriftCaches } from './drift.js';
import type { DriftReport } from './drift.js';
import type { ProfileRoot } from './profiles.js';

export interface DriftCheckRequest {
  /** The collection the project's copies are compared with. */
  collectionDir: string;
  root: ProfileRoot;
  /** Write the drift caches back (off in an untrusted workspace). */
  persist: boolean;
}

export type DriftCheckOutcome =
  | { kind: 'drifted'; report: DriftReport }
  /** What loading or checking threw: the same error an in-process `checkDrift` throws. */
  | { kind: 'failed'; error: unknown }
  /** A newer check of the same profile root replaced this one before it ended. */
  | { kind: 'superseded' };

export interface DriftCheckRun {
  outcome: Exclude<DriftCheckOutcome, { kind: 'superseded' }>;
  /** The caches' write, begun in the background; never rejects. */
  saved: Promise<void>;
}

/** The key a drift check is superseded by: one per profile root, apart from any collection's. */
export function driftCheckKey(request: DriftCheckRequest): string {
  return `drift\0${request.root.dir}`;
}

/**
 * The check as steps: one pause before it starts (a check superseded while it waited never reads
 * anything), then the whole check, which is one `stat` per file and folder of every deployed copy.
 */
export function* driftCheckSteps(request: DriftCheckRequest): Generator<void, DriftCheckRun> {
  yield;
  try {
    const caches = loadDriftCaches(request.collectionDir, request.root);
    const report = checkDrift(request.root, loadCollection(request.collectionDir), { caches });
    const saved = request.persist
      ? saveDriftCaches(nodeFs, request.collectionDir, request.root, caches)
      : Promise.resolve();
    return { outcome: { kind: 'drifted', report }, saved };
  } catch (err) {
    return { outcome: { kind: 'failed', error: err }, saved: Promise.resolve() };
  }
}
