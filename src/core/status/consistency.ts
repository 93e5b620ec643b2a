/**
 * The consistency report of DESIGN §6: do manifest, lock and files agree? Re-checks are incremental:
 * a stat cache (size, mtime, ctime, inode of every file and folder) lets an unchanged artifact skip
 * re-hashing, and an edit re-hashes only its own artifact. Reading never blocks on the writer lock.
 * The stat and parse caches are derived data, written atomically through the Fs port, best effort.
 *
 * Noise (base/noise.ts) is never an edit: a folder is `clean` when its files without noise hash to the
 * lock's `content_hash` (what we write), or all its files do (what SkillMeat wrote, had it hashed a
 * `.DS_Store`). Noise coming or going re-hashes nothing while the other files' stamps stay.
 */
import * as path from 'node:path';
import { isArtifactType, lockKey, parseLockKey } from '../model/artifact.js';
import { loadCollection } from '../model/collection.js';
import { openParseCache } from '../model/parseCache.js';
import { nodeFs } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { warmStatHelper } from '../ports/parallelStat.js';
import type { Collection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import { hasJournal } from '../txn/journal.js';
import { traced, tracedSync } from '../base/trace.js';
import { StampPrefetch, loadStatCache, measureArtifact, saveStatCache } from './statCache.js';
import type { Measured, StatCache } from './statCache.js';
import { isFilelessMcp, judgeArtifact, stateOf } from './verdict.js';
import { answerFromRecord, recordCheck } from './checkRecord.js';
import type { JudgedEntry } from './verdict.js';

export type CollectionState = 'clean' | 'modified' | 'conflicted' | 'inconsistent' | 'interrupted';
export type ArtifactState =
  'clean' | 'modified' | 'update-available' | 'conflicted' | 'missing' | 'unlocked' | 'orphaned';

export type FindingCode =
  | 'content-modified'
  | 'files-missing'
  | 'lock-entry-missing'
  | 'manifest-entry-missing'
  | 'skill-md-missing'
  | 'wrong-shape'
  | 'lock-mismatch'
  | 'journal-present'
  | 'conflicted';

export interface Finding {
  code: FindingCode;
  /** `type/name`, when the finding is about one artifact. */
  artifact?: string;
  message: string;
}

export interface ArtifactReport {
  id: string;
  name: string;
  type: string;
  path: string;
  state: ArtifactState;
  version?: string;
  resolvedSha?: string;
  lockedHash?: string;
  currentHash?: string;
}

export interface ConsistencyReport {
  state: CollectionState;
  artifacts: ArtifactReport[];
  findings: Finding[];
  /** How many artifacts had to be re-hashed (0 on a warm, unchanged collection). */
  rehashed: number;
}

export interface CheckOptions {
  /** Artifacts known (from a check) to have an update; they report `update-available` when otherwise clean. */
  updatesAvailable?: ReadonlySet<string>;
  /** Artifacts with an unresolved merge in progress. */
  conflicted?: ReadonlySet<string>;
  /** In-memory cache reused across checks (the extension keeps one); loaded from disk when absent. */
  cache?: StatCache;
  /**
   * The collections the last checks loaded, by folder, kept by a process that checks again and again
   * (the status daemon): one whose manifest and lock hold the same bytes is not parsed again
   * (`LoadOptions.previous`). `checkCollection` records what it loads here.
   */
  loaded?: Map<string, Collection>;
  /** Write the cache back to `.artifact-keeper/status-cache.json` (best effort). Default true. */
  persist?: boolean;
  /** Where the caches are written (default: node's file system). */
  fs?: Fs;
  /**
   * Time source for the racy-stat rule (tests). It compares with file stamps, which come from the file
   * system's clock: the machine's, never an operation's (possibly pinned) `Clock`.
   */
  now?: () => number;
  /**
   * Take the stamps of every artifact the cache vouches for at once, on this thread and a helper thread
   * (`StampPrefetch`), before measuring them: a warm check of 15,104 paths went from 112 to 55 ms. For
   * a process that checks again and again (the extension's check worker), not a one-off command: in a
   * new process the helper's start takes the core that V8's compiler and collector threads were using,
   * and the CLI's `status` was 40 ms slower with it. It also holds the thread for all the stats at
   * once, so it stays off where a check must pause between artifacts on a thread that serves a UI.
   */
  parallelStat?: boolean;
  /**
   * Keep the report with every stamp it rested on (`checkRecord.ts`), under this key (which build of the
   * caller judged): a one-off process (the CLI's `status`) answers the next check from it when manifest and
   * lock hold the same bytes, measuring only the artifacts whose stamps moved. Not with `cache`,
   * `updatesAvailable` or `conflicted`, which the record does not hold.
   */
  record?: string;
  /** Filled by the check with each verdict in report order (manifest entries, then orphans). */
  judged?: JudgedEntry[];
}

/**
 * Loads the collection and checks it, and writes both caches back before it returns. Throws what
 * `loadCollection` throws, except while a transaction is interrupted: see loadForCheck.
 */
export async function checkCollection(dir: string, options: CheckOptions = {}): Promise<ConsistencyReport> {
  // The record holds verdicts judged without a kept cache, known updates or open merges: not for those.
  const record =
    options.cache || options.updatesAvailable?.size || options.conflicted?.size ? undefined : options.record;
  if (record !== undefined) {
    const answered = tracedSync('answer from the check record', () =>
      answerFromRecord(dir, record, options.fs ?? nodeFs, options.now ?? Date.now),
    );
    if (answered) {
      await traced('save the check record', () => answered.saved);
      return answered.report;
    }
  }
  // The helper thread of the stamps starts while manifest, lock and stat cache are read.
  if (options.parallelStat) warmStatHelper();
  const previous = options.loaded?.get(dir);
  const loaded = tracedSync('load manifest and lock', () => loadForCheck(dir, options.fs, previous));
  await traced('save the parse cache', () => loaded.cacheSaved);
  if ('report' in loaded) return loaded.report;
  options.loaded?.set(dir, loaded.collection);
  const checkOptions = loaded.interrupted ? { ...options, persist: false } : options;
  const cache = checkOptions.cache ?? tracedSync('load the stat cache', () => loadStatCache(dir));
  const judged: JudgedEntry[] | undefined = record !== undefined ? [] : undefined;
  const checked = tracedSync('check every artifact', () =>
    checkAndPersist(loaded.collection, { ...checkOptions, cache, ...(judged ? { judged } : {}) }),
  );
  await traced('save the stat cache', () => checked.cacheSaved);
  if (
    record !== undefined &&
    judged &&
    checkOptions.persist !== false &&
    checked.report.state !== 'interrupted'
  )
    await traced('save the check record', () =>
      recordCheck(options.fs ?? nodeFs, loaded.collection, record, judged, cache),
    );
  return checked.report;
}

/**
 * Loads the collection for a check (the CLI's `status`, the extension's refresh). While a transaction is
 * interrupted, manifest and lock may be missing or mid-rename: a load that fails then gives the
 * `interrupted` report instead (the next writer recovers first), and `interrupted` tells the caller to
 * write no cache, so reading changes nothing. Throws what `loadCollection` throws otherwise.
 */
export function loadForCheck(
  dir: string,
  fsPort: Fs = nodeFs,
  /** See LoadOptions.previous. */
  previous?: Collection,
): ({ collection: Collection; interrupted: boolean } | { report: ConsistencyReport; cause: CoreError }) & {
  /** The parse cache's write, begun in the background (never rejects): `checkCollection` awaits it. */
  cacheSaved: Promise<void>;
} {
  for (let attempt = 1; ; attempt++) {
    const interrupted = hasJournal(dir);
    const parseCache = openParseCache(path.resolve(dir));
    try {
      const collection = loadCollection(dir, { parseCache, ...(previous ? { previous } : {}) });
      return {
        collection,
        interrupted,
        cacheSaved: interrupted ? Promise.resolve() : parseCache.save(fsPort),
      };
    } catch (err) {
      // Looked for again after a failure: a writer may have begun between our look and our read.
      if (err instanceof CoreError && (interrupted || hasJournal(dir)))
        return { report: interruptedReport(err), cause: err, cacheSaved: Promise.resolve() };
      // Or ended between our read and that look (its journal goes once manifest and lock are back in
      // place, holdsCollection in model/collection.ts): read once more.
      if (!(err instanceof CoreError) || attempt === 2) throw err;
    }
  }
}

/** The report of a collection that cannot be read while a transaction is interrupted. */
export function interruptedReport(cause: CoreError): ConsistencyReport {
  const message = `an interrupted transaction was found; run recover (until then: ${cause.message})`;
  return {
    state: 'interrupted',
    artifacts: [],
    findings: [{ code: 'journal-present', message }],
    rehashed: 0,
  };
}

/**
 * Checks a loaded collection. When the stat cache changed and `persist` is on, its write begins in the
 * background (the extension keeps the cache in memory anyway); `checkCollection` awaits it instead.
 */
export function checkConsistency(collection: Collection, options: CheckOptions = {}): ConsistencyReport {
  return checkAndPersist(collection, options).report;
}

interface Checked {
  report: ConsistencyReport;
  /** The stat cache's write when it changed and `persist` is on (never rejects). */
  cacheSaved: Promise<void>;
}

function checkAndPersist(collection: Collection, options: CheckOptions): Checked {
  return runSteps(checkSteps(collection, options));
}

/** Runs the steps of a check to their end, without a pause. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The check as steps: it pauses after each artifact, so a caller that must not hold its thread for the
 * whole collection (the extension's in-process fallback) can yield between them, and a superseded check
 * can be dropped at any pause. The cache is left consistent at every pause: each artifact's entry is
 * written whole. Run to the end it is `checkConsistency`, to the same report.
 */
export function* checkSteps(collection: Collection, options: CheckOptions = {}): Generator<void, Checked> {
  const now = options.now ?? Date.now;
  const cache = options.cache ?? loadStatCache(collection.dir);
  const startedAt = now();
  const prefetched = options.parallelStat
    ? new StampPrefetch(collection.dir, collection.manifest.artifacts, cache)
    : undefined;
  const findings: Finding[] = [];
  const artifacts: ArtifactReport[] = [];
  let rehashed = 0;
  let dirty = false;
  const seenKeys = new Set<string>();

  for (const entry of collection.manifest.artifacts) {
    const key = lockKey(entry);
    seenKeys.add(key);
    const locked = collection.lock.entries.get(key);
    let measured: Measured | undefined;
    if (!isFilelessMcp(collection.dir, entry)) {
      yield;
      measured = measureArtifact(collection.dir, entry, cache, startedAt, locked?.contentHash, prefetched);
      if (measured.rehashed) rehashed++;
      if (measured.cacheGained) dirty = true;
    }
    const judged = judgeArtifact(collection.dir, entry, locked, measured, options);
    artifacts.push(judged.report);
    findings.push(...judged.findings);
    options.judged?.push({ entry, locked, measured, ...judged });
  }

  for (const [key, locked] of collection.lock.entries) {
    if (seenKeys.has(key)) continue;
    const parts = parseLockKey(key);
    const id = parts && isArtifactType(parts.type) ? `${parts.type}/${parts.name}` : key;
    const report: ArtifactReport = {
      id,
      name: locked.name,
      type: locked.type,
      path: '',
      state: 'orphaned',
      lockedHash: locked.contentHash,
    };
    const finding: Finding = {
      code: 'manifest-entry-missing',
      artifact: id,
      message: `${id} is in collection.lock but not in collection.toml`,
    };
    artifacts.push(report);
    findings.push(finding);
    options.judged?.push({ report, findings: [finding] });
  }

  // Forget artifacts that left the manifest so the cache does not grow forever.
  for (const key of Object.keys(cache.artifacts)) {
    if (!seenKeys.has(key)) {
      delete cache.artifacts[key];
      dirty = true;
    }
  }

  if (hasJournal(collection.dir)) {
    findings.unshift({
      code: 'journal-present',
      message: 'an interrupted transaction was found; run recover',
    });
  }
  const cacheSaved =
    dirty && options.persist !== false
      ? saveStatCache(options.fs ?? nodeFs, collection.dir, cache)
      : Promise.resolve();
  return { report: { state: stateOf(findings), artifacts, findings, rehashed }, cacheSaved };
}
