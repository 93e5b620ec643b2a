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
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId, isArtifactType, lockKey, parseLockKey } from '../model/artifact.js';
import { loadCollection } from '../model/collection.js';
import { openParseCache } from '../model/parseCache.js';
import { nodeFs } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { warmStatHelper } from '../ports/parallelStat.js';
import type { Collection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import { hasJournal } from '../txn/journal.js';
import { traced, tracedSync } from '../base/trace.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { StampPrefetch, loadStatCache, measureArtifact, saveStatCache } from './statCache.js';
import type { Measured, StatCache } from './statCache.js';

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
}

/**
 * Loads the collection and checks it, and writes both caches back before it returns. Throws what
 * `loadCollection` throws, except while a transaction is interrupted: see loadForCheck.
 */
export async function checkCollection(dir: string, options: CheckOptions = {}): Promise<ConsistencyReport> {
  // The helper thread of the stamps starts while manifest, lock and stat cache are read.
  if (options.parallelStat) warmStatHelper();
  const previous = options.loaded?.get(dir);
  const loaded = tracedSync('load manifest and lock', () => loadForCheck(dir, options.fs, previous));
  await traced('save the parse cache', () => loaded.cacheSaved);
  if ('report' in loaded) return loaded.report;
  options.loaded?.set(dir, loaded.collection);
  const checkOptions = loaded.interrupted ? { ...options, persist: false } : options;
  const cache = checkOptions.cache ?? tracedSync('load the stat cache', () => loadStatCache(dir));
  const checked = tracedSync('check every artifact', () =>
    checkAndPersist(loaded.collection, { ...checkOptions, cache }),
  );
  await traced('save the stat cache', () => checked.cacheSaved);
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
    const id = artifactId(entry);
    const key = lockKey(entry);
    seenKeys.add(key);
    const locked = collection.lock.entries.get(key);
    const report: ArtifactReport = {
      id,
      name: entry.name,
      type: entry.type,
      path: entry.path,
      state: 'clean',
      ...(entry.resolvedVersion ? { version: entry.resolvedVersion } : {}),
      ...(entry.resolvedSha ? { resolvedSha: entry.resolvedSha } : {}),
      ...(locked ? { lockedHash: locked.contentHash } : {}),
    };
    artifacts.push(report);

    if (entry.type === 'mcp' && !fs.existsSync(path.join(collection.dir, entry.path))) {
      // MCP servers live in the manifest's [[mcp_servers]], not as files; nothing to hash.
      if (!locked)
        flag(report, 'unlocked', {
          code: 'lock-entry-missing',
          artifact: id,
          message: `${id} has no lock entry`,
        });
      continue;
    }
    yield;
    const measured = measureArtifact(
      collection.dir,
      entry,
      cache,
      startedAt,
      locked?.contentHash,
      prefetched,
    );
    if (measured.rehashed) rehashed++;
    if (measured.cacheGained) dirty = true;
    if (measured.kind === 'missing') {
      flag(report, 'missing', {
        code: 'files-missing',
        artifact: id,
        message: `${id}: ${entry.path} does not exist`,
      });
      continue;
    }
    const matchesSkillMeat = !!locked && measured.skillMeatHash === locked.contentHash;
    report.currentHash = matchesSkillMeat ? (measured.skillMeatHash as string) : measured.hash;
    const shapeProblem = shapeOf(entry, collection.dir, measured);
    if (shapeProblem) findings.push({ ...shapeProblem, artifact: id });
    if (!locked) {
      flag(report, 'unlocked', {
        code: 'lock-entry-missing',
        artifact: id,
        message: `${id} has no entry in collection.lock`,
      });
      continue;
    }
    if (locked.resolvedSha && entry.resolvedSha && locked.resolvedSha !== entry.resolvedSha) {
      findings.push({
        code: 'lock-mismatch',
        artifact: id,
        message: `${id}: collection.toml pins ${entry.resolvedSha.slice(0, 12)} but collection.lock ${locked.resolvedSha.slice(0, 12)}`,
      });
    }
    if (locked.conflicted || options.conflicted?.has(id)) {
      flag(report, 'conflicted', {
        code: 'conflicted',
        artifact: id,
        message: locked.conflicted
          ? `${id} has conflicts left by an update; resolve them, then \`resolve ${id}\` (or \`update --abort ${id}\`)`
          : `${id} has an unresolved merge`,
      });
    } else if (measured.hash !== locked.contentHash && !matchesSkillMeat) {
      flag(report, 'modified', { code: 'content-modified', artifact: id, message: `${id} has local edits` });
    } else if (options.updatesAvailable?.has(id)) {
      report.state = 'update-available';
    }
  }

  for (const [key, locked] of collection.lock.entries) {
    if (seenKeys.has(key)) continue;
    const parts = parseLockKey(key);
    const id = parts && isArtifactType(parts.type) ? `${parts.type}/${parts.name}` : key;
    artifacts.push({
      id,
      name: locked.name,
      type: locked.type,
      path: '',
      state: 'orphaned',
      lockedHash: locked.contentHash,
    });
    findings.push({
      code: 'manifest-entry-missing',
      artifact: id,
      message: `${id} is in collection.lock but not in collection.toml`,
    });
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

  function flag(report: ArtifactReport, state: ArtifactState, finding: Finding): void {
    report.state = state;
    findings.push(finding);
  }
}

function stateOf(findings: readonly Finding[]): CollectionState {
  if (findings.some((f) => f.code === 'journal-present')) return 'interrupted';
  const structural = findings.some((f) => f.code !== 'content-modified' && f.code !== 'conflicted');
  if (structural) return 'inconsistent';
  if (findings.some((f) => f.code === 'conflicted')) return 'conflicted';
  return findings.length > 0 ? 'modified' : 'clean';
}

function shapeOf(
  entry: ArtifactEntry,
  root: string,
  measured: Pick<Measured, 'kind' | 'listsSkillMd'>,
): Omit<Finding, 'artifact'> | undefined {
  if (entry.type !== 'skill' || measured.listsSkillMd) return undefined;
  const id = artifactId(entry);
  if (measured.kind !== 'dir')
    return { code: 'wrong-shape', message: `${id}: a skill must be a folder, ${entry.path} is a file` };
  const target = path.join(root, entry.path);
  if (!fs.existsSync(path.join(target, 'SKILL.md')) && !fs.existsSync(path.join(target, 'skill.md'))) {
    return { code: 'skill-md-missing', message: `${id}: ${entry.path}/SKILL.md is missing` };
  }
  return undefined;
}
