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
import { STATE_DIR } from '../base/changes.js';
import { loadCollection } from '../model/collection.js';
import { openParseCache } from '../model/parseCache.js';
import { nodeFs, writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { ensureStateDir } from '../txn/writerLock.js';
import type { Collection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';
import { contentFiles, hashFile, hashFolderFiles } from '../model/hash.js';
import { isNoisePath } from '../base/noise.js';
import { hasJournal } from '../txn/journal.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { walkSync } from '../ports/walk.js';

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
  /** Write the cache back to `.artifact-keeper/status-cache.json` (best effort). Default true. */
  persist?: boolean;
  /** Where the caches are written (default: node's file system). */
  fs?: Fs;
  /**
   * Time source for the racy-stat rule (tests). It compares with file stamps, which come from the file
   * system's clock: the machine's, never an operation's (possibly pinned) `Clock`.
   */
  now?: () => number;
}

const CACHE_FILE = 'status-cache.json';
/** 2: `hash` leaves noise out, `skillMeatHash` added. */
const CACHE_VERSION = 2;
/** A stat seen within this window of the cache write can hide an edit in the same mtime tick. */
const RACY_MS = 2000;

/**
 * [rel, size, mtimeMs, ctimeMs, ino] for files; [rel, mtimeMs, ino] for folders (mtime moves when entries
 * do). A rel that is not UTF-8 keeps its escaped bytes through JSON (see fileNames.ts).
 */
type FileStamp = [string, number, number, number, number];
type DirStamp = [string, number, number];

interface CachedArtifact {
  path: string;
  /** The content hash, noise left out: what a lock we write holds. */
  hash: string;
  /** SkillMeat's hash of every file, noise included; only for a folder with noise whose lock needed it. */
  skillMeatHash?: string;
  /** Every file walked, noise included. */
  files: FileStamp[];
  dirs: DirStamp[];
  racy: boolean;
}

export interface StatCache {
  version: number;
  artifacts: Record<string, CachedArtifact>;
}

export function emptyStatCache(): StatCache {
  return { version: CACHE_VERSION, artifacts: {} };
}

export function loadStatCache(dir: string): StatCache {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, STATE_DIR, CACHE_FILE), 'utf8')) as StatCache;
    if (parsed.version === CACHE_VERSION && typeof parsed.artifacts === 'object') return parsed;
  } catch {
    // A missing or torn cache only costs a re-hash.
  }
  return emptyStatCache();
}

/** Writes the stat cache atomically through `fsPort`, creating `.artifact-keeper/` if needed. Never rejects. */
export async function saveStatCache(fsPort: Fs, dir: string, cache: StatCache): Promise<void> {
  try {
    const stateDir = await ensureStateDir(fsPort, dir);
    await writeFileAtomic(fsPort, path.join(stateDir, CACHE_FILE), JSON.stringify(cache));
  } catch {
    // Best effort: a read-only collection is still checked, just never warm.
  }
}

/**
 * Loads the collection and checks it, and writes both caches back before it returns. Throws what
 * `loadCollection` throws, except while a transaction is interrupted: see loadForCheck.
 */
export async function checkCollection(dir: string, options: CheckOptions = {}): Promise<ConsistencyReport> {
  const loaded = loadForCheck(dir, options.fs);
  await loaded.cacheSaved;
  if ('report' in loaded) return loaded.report;
  const checked = checkAndPersist(
    loaded.collection,
    loaded.interrupted ? { ...options, persist: false } : options,
  );
  await checked.cacheSaved;
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
): ({ collection: Collection; interrupted: boolean } | { report: ConsistencyReport; cause: CoreError }) & {
  /** The parse cache's write, begun in the background (never rejects): `checkCollection` awaits it. */
  cacheSaved: Promise<void>;
} {
  const interrupted = hasJournal(dir);
  const parseCache = openParseCache(path.resolve(dir));
  try {
    const collection = loadCollection(dir, { parseCache });
    return { collection, interrupted, cacheSaved: interrupted ? Promise.resolve() : parseCache.save(fsPort) };
  } catch (err) {
    // Looked for again after a failure: a writer may have begun between our look and our read.
    if (err instanceof CoreError && (interrupted || hasJournal(dir)))
      return { report: interruptedReport(err), cause: err, cacheSaved: Promise.resolve() };
    throw err;
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

function checkAndPersist(
  collection: Collection,
  options: CheckOptions,
): { report: ConsistencyReport; cacheSaved: Promise<void> } {
  const now = options.now ?? Date.now;
  const cache = options.cache ?? loadStatCache(collection.dir);
  const startedAt = now();
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
    const measured = measureArtifact(collection.dir, entry, cache, startedAt, locked?.contentHash);
    if (measured.rehashed) rehashed++;
    if (measured.cacheChanged) dirty = true;
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
    if (measured.shapeProblem) findings.push({ ...measured.shapeProblem, artifact: id });
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

interface Measured {
  kind: 'file' | 'dir' | 'missing';
  /** The content hash, noise left out. */
  hash?: string;
  /** SkillMeat's hash with noise, when the folder has noise and `hash` is not the lock's. */
  skillMeatHash?: string;
  /** File contents were read (the report's `rehashed` count). */
  rehashed: boolean;
  /** The artifact's cache entry was rewritten. */
  cacheChanged: boolean;
  shapeProblem?: Omit<Finding, 'artifact'>;
}

function measureArtifact(
  root: string,
  entry: ArtifactEntry,
  cache: StatCache,
  startedAt: number,
  lockedHash: string | undefined,
): Measured {
  const key = lockKey(entry);
  const target = path.join(root, entry.path);
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    delete cache.artifacts[key];
    return { kind: 'missing', rehashed: false, cacheChanged: false };
  }
  const kind = st.isDirectory() ? 'dir' : 'file';
  const shapeProblem = shapeOf(entry, target, kind);
  const shape = shapeProblem ? { shapeProblem } : {};
  const cached = cache.artifacts[key];
  // Stamps seen within the racy window of their check may hide a later edit: never trusted.
  const trusted = cached && cached.path === entry.path && !cached.racy ? cached : undefined;
  if (trusted && stampsMatch(root, entry.path, kind, trusted, st)) {
    const settled =
      kind === 'file' ||
      lockedHash === undefined ||
      lockedHash === trusted.hash ||
      trusted.skillMeatHash !== undefined ||
      !trusted.files.some(([rel]) => isNoisePath(rel));
    if (settled) {
      const skillMeat = trusted.skillMeatHash !== undefined ? { skillMeatHash: trusted.skillMeatHash } : {};
      return { kind, hash: trusted.hash, ...skillMeat, rehashed: false, cacheChanged: false, ...shape };
    }
    // Unchanged, but a noisy folder whose lock may be SkillMeat's hash with the noise: measured below.
  }
  let measured: Omit<CachedArtifact, 'path' | 'racy'>;
  let rehashed: boolean;
  if (kind === 'dir') ({ measured, rehashed } = measureFolder(target, st, trusted, lockedHash));
  else {
    measured = { hash: hashFile(target), files: [['', st.size, st.mtimeMs, st.ctimeMs, st.ino]], dirs: [] };
    rehashed = true;
  }
  const racy =
    measured.files.some(
      ([, , mtime, ctime]) => mtime >= startedAt - RACY_MS || ctime >= startedAt - RACY_MS,
    ) || measured.dirs.some(([, mtime]) => mtime >= startedAt - RACY_MS);
  cache.artifacts[key] = { path: entry.path, ...measured, racy };
  const skillMeat = measured.skillMeatHash !== undefined ? { skillMeatHash: measured.skillMeatHash } : {};
  return { kind, hash: measured.hash, ...skillMeat, rehashed, cacheChanged: true, ...shape };
}

/**
 * Walks a folder and hashes what its stamps do not vouch for: the files without noise unless their
 * stamps are the trusted entry's (noise came or went), and, only when the folder has noise and that
 * hash is not the lock's, every file as SkillMeat does (unless every stamp is the trusted entry's).
 */
function measureFolder(
  target: string,
  st: fs.Stats,
  trusted: CachedArtifact | undefined,
  lockedHash: string | undefined,
): { measured: Omit<CachedArtifact, 'path' | 'racy'>; rehashed: boolean } {
  const walked = walkSync(target);
  const files = walked.files.map((f): FileStamp => [f.rel, f.size, f.mtimeMs, f.ctimeMs, f.ino]);
  const dirs = [
    ['', st.mtimeMs, st.ino] as DirStamp,
    ...walked.dirs.map((d): DirStamp => [d.rel, d.mtimeMs, d.ino]),
  ];
  const content = contentFiles(walked.files);
  let rehashed = false;
  let hash: string;
  if (trusted && sameStamps(contentStamps(trusted.files), contentStamps(files))) hash = trusted.hash;
  else {
    hash = hashFolderFiles(target, content);
    rehashed = true;
  }
  let skillMeatHash: string | undefined;
  if (content.length !== walked.files.length && lockedHash !== undefined && lockedHash !== hash) {
    if (!rehashed && trusted?.skillMeatHash !== undefined && sameStamps(trusted.files, files))
      skillMeatHash = trusted.skillMeatHash;
    else {
      skillMeatHash = hashFolderFiles(target, walked.files);
      rehashed = true;
    }
  }
  return {
    measured: { hash, ...(skillMeatHash !== undefined ? { skillMeatHash } : {}), files, dirs },
    rehashed,
  };
}

/** The stamps of the files `contentHash` hashes (noise left out). */
function contentStamps(stamps: readonly FileStamp[]): FileStamp[] {
  return stamps.filter(([rel]) => !isNoisePath(rel));
}

function sameStamps(a: readonly FileStamp[], b: readonly FileStamp[]): boolean {
  return a.length === b.length && a.every((stamp, i) => stamp.every((value, j) => value === b[i]?.[j]));
}

function stampsMatch(
  root: string,
  rel: string,
  kind: 'file' | 'dir',
  cached: CachedArtifact,
  st: fs.Stats,
): boolean {
  // Plain concatenation (no path.join) and stat without exceptions: this loop runs for every file.
  const base = `${path.join(root, rel)}/`;
  if (kind === 'file') {
    const stamp = cached.files[0];
    return cached.dirs.length === 0 && !!stamp && sameFile(stamp, st);
  }
  if (cached.dirs.length === 0) return false;
  for (const [dirRel, mtimeMs, ino] of cached.dirs) {
    const dst = dirRel === '' ? st : statOrUndefined(base + dirRel);
    if (!dst || !dst.isDirectory() || dst.mtimeMs !== mtimeMs || dst.ino !== ino) return false;
  }
  for (const stamp of cached.files) {
    const fst = statOrUndefined(base + stamp[0]);
    if (!fst || !sameFile(stamp, fst)) return false;
  }
  return true;
}

function sameFile(stamp: FileStamp, st: fs.Stats): boolean {
  return (
    st.isFile() &&
    stamp[1] === st.size &&
    stamp[2] === st.mtimeMs &&
    stamp[3] === st.ctimeMs &&
    stamp[4] === st.ino
  );
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(fsPath(file), { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES: not the file we stamped
  }
}

function shapeOf(
  entry: ArtifactEntry,
  target: string,
  kind: 'file' | 'dir',
): Omit<Finding, 'artifact'> | undefined {
  const id = artifactId(entry);
  if (entry.type === 'skill') {
    if (kind !== 'dir')
      return { code: 'wrong-shape', message: `${id}: a skill must be a folder, ${entry.path} is a file` };
    if (!fs.existsSync(path.join(target, 'SKILL.md')) && !fs.existsSync(path.join(target, 'skill.md'))) {
      return { code: 'skill-md-missing', message: `${id}: ${entry.path}/SKILL.md is missing` };
    }
  }
  return undefined;
}
