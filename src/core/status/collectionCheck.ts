/**
 * One check of a collection a window shows, as the extension refreshes it: the stat cache kept across
 * checks, the collection loaded, the last check for updates following the pins read now, the consistency
 * report and what keeps each conflicted artifact conflicted. Request and outcome are plain data (they
 * cross a worker thread's boundary); the work is a sequence of steps with a pause after each artifact, so
 * it runs in a worker (`checker.ts`) or, as a fallback, in-process with the thread given back between steps.
 */
import type { CheckResult } from '../sources/check.js';
import type { Collection } from '../model/collection.js';
import { remainingConflicts } from '../transfer/conflicts.js';
import type { RemainingConflicts } from '../transfer/conflicts.js';
import { checkSteps, loadForCheck } from './consistency.js';
import type { ConsistencyReport } from './consistency.js';
import { loadStatCache } from './statCache.js';
import type { StatCache } from './statCache.js';

export interface CollectionCheckRequest {
  dir: string;
  /** The last check for updates, one result per artifact id. */
  updates: CheckResult[];
  /** The ids whose result a check found: their availability follows the pins (see `followPins`). */
  found: string[];
  /** Artifacts with an unresolved merge in progress. */
  conflicted: string[];
  /** Write the stat cache back (off in an untrusted workspace, and while a transaction is interrupted). */
  persist: boolean;
}

export type CollectionCheckOutcome =
  | {
      kind: 'checked';
      /** The manifest's collection name ('' when it has none). */
      name: string;
      report: ConsistencyReport;
      /** The request's `updates`, availability following the pins. */
      updates: CheckResult[];
      /** What keeps each conflicted artifact conflicted: marker files, upstream copies. */
      conflicts: [string, RemainingConflicts][];
    }
  /** The collection cannot be read while a transaction is interrupted: shown with Recover. */
  | { kind: 'interrupted'; report: ConsistencyReport; cause: string }
  /** What loading or checking threw: the same error the in-process check throws. */
  | { kind: 'failed'; error: unknown }
  /** A newer check of the same collection replaced this one before it ended. */
  | { kind: 'superseded' };

export interface CollectionCheckRun {
  outcome: Exclude<CollectionCheckOutcome, { kind: 'superseded' }>;
  /** The caches' writes, begun in the background; never rejects. */
  saved: Promise<void>;
}

/**
 * The check as steps (see `checkSteps`). `caches` holds each collection's stat cache between checks; a
 * collection seen for the first time reads it from `.artifact-keeper/status-cache.json`.
 */
export function* collectionCheckSteps(
  request: CollectionCheckRequest,
  caches: Map<string, StatCache>,
  /** See CheckOptions.parallelStat: on in the check worker, off on the extension host's own thread. */
  parallelStat = false,
): Generator<void, CollectionCheckRun> {
  try {
    let cache = caches.get(request.dir);
    if (!cache) {
      cache = loadStatCache(request.dir);
      caches.set(request.dir, cache);
    }
    const loaded = loadForCheck(request.dir);
    if ('report' in loaded) {
      return {
        outcome: { kind: 'interrupted', report: loaded.report, cause: loaded.cause.message },
        saved: loaded.cacheSaved,
      };
    }
    yield;
    const { collection } = loaded;
    const updates = followPins(request, collection);
    const checked = yield* checkSteps(collection, {
      cache,
      updatesAvailable: new Set(updates.filter((r) => r.available).map((r) => r.id)),
      conflicted: new Set(request.conflicted),
      persist: request.persist && !loaded.interrupted,
      parallelStat,
    });
    return {
      outcome: {
        kind: 'checked',
        name: collection.manifest.name,
        report: checked.report,
        updates,
        conflicts: conflictsOf(collection, checked.report),
      },
      saved: Promise.all([loaded.cacheSaved, checked.cacheSaved]).then(() => undefined),
    };
  } catch (err) {
    return { outcome: { kind: 'failed', error: err }, saved: Promise.resolve() };
  }
}

/**
 * A check's finding follows the pin: over once the artifact is pinned to the commit it found (an update),
 * and known again when the pin moves back (undo, roll back, restore).
 */
function followPins(request: CollectionCheckRequest, collection: Collection): CheckResult[] {
  const found = new Set(request.found);
  const pinned = new Map(collection.manifest.artifacts.map((a) => [`${a.type}/${a.name}`, a.resolvedSha]));
  return request.updates.map((result) => {
    if (!found.has(result.id) || !result.latestSha || !pinned.has(result.id)) return result;
    const available = pinned.get(result.id) !== result.latestSha;
    return available === result.available ? result : { ...result, available };
  });
}

/** The files still conflicted in each artifact the report calls `conflicted` (a read; a failure counts as none). */
function conflictsOf(collection: Collection, report: ConsistencyReport): [string, RemainingConflicts][] {
  const conflicts: [string, RemainingConflicts][] = [];
  for (const artifact of report.artifacts) {
    if (artifact.state !== 'conflicted') continue;
    const entry = collection.manifest.artifacts.find((a) => `${a.type}/${a.name}` === artifact.id);
    try {
      conflicts.push([
        artifact.id,
        entry ? remainingConflicts(collection.dir, entry) : { markers: [], upstreamCopies: [] },
      ]);
    } catch {
      conflicts.push([artifact.id, { markers: [], upstreamCopies: [] }]);
    }
  }
  return conflicts;
}
