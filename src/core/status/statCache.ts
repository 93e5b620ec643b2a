/**
 * The status check's stat cache: the size, mtime, ctime and inode of every file and folder of each
 * artifact, so an unchanged artifact skips re-hashing and an edit re-hashes only its own artifact.
 * Derived data, written through the Fs port, best effort; a torn or missing cache only
 * costs a re-hash. Noise (base/noise.ts) coming or going re-hashes nothing while the other files'
 * stamps stay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lockKey } from '../model/artifact.js';
import { STATE_DIR } from '../base/changes.js';
import { replaceDerivedFile } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { ensureStateDir } from '../txn/writerLock.js';
import { fsPath } from '../base/fileNames.js';
import { contentFiles, hashFile, hashFolderFiles } from '../model/hash.js';
import { isNoisePath } from '../base/noise.js';
import type { ArtifactEntry } from '../model/manifest.js';
import { walkSync } from '../ports/walk.js';
import { STAMP_DIR, STAMP_FIELDS, STAMP_FILE, statMany } from '../ports/parallelStat.js';

const CACHE_FILE = 'status-cache.json';
/** 2: `hash` leaves noise out, `skillMeatHash` added. */
const CACHE_VERSION = 2;
/** A stat seen within this window of the cache write can hide an edit in the same mtime tick. */
const RACY_MS = 2000;

/**
 * [rel, size, mtimeMs, ctimeMs, ino] for files; [rel, mtimeMs, ino] for folders (mtime moves when entries
 * do). A rel that is not UTF-8 keeps its escaped bytes through JSON (see fileNames.ts).
 */
export type FileStamp = [string, number, number, number, number];
export type DirStamp = [string, number, number];

export interface CachedArtifact {
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

export function loadStatCache(dir: string, file = CACHE_FILE): StatCache {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, STATE_DIR, file), 'utf8')) as StatCache;
    if (parsed.version === CACHE_VERSION && typeof parsed.artifacts === 'object') return parsed;
  } catch {
    // A missing or torn cache only costs a re-hash.
  }
  return emptyStatCache();
}

/**
 * Writes the stat cache through `fsPort` (temp then rename, no fsync: `replaceDerivedFile`), creating
 * `.artifact-keeper/` if needed. Never rejects.
 */
export async function saveStatCache(
  fsPort: Fs,
  dir: string,
  cache: StatCache,
  file = CACHE_FILE,
): Promise<void> {
  try {
    const stateDir = await ensureStateDir(fsPort, dir);
    await replaceDerivedFile(fsPort, path.join(stateDir, file), JSON.stringify(cache));
  } catch {
    // Best effort: a read-only collection is still checked, just never warm.
  }
}

export interface Measured {
  kind: 'file' | 'dir' | 'missing';
  /** The content hash, noise left out. */
  hash?: string;
  /** SkillMeat's hash with noise, when the folder has noise and `hash` is not the lock's. */
  skillMeatHash?: string;
  /** File contents were read (the report's `rehashed` count). */
  rehashed: boolean;
  /**
   * The cache now holds a new entry for the artifact that the next check will trust: worth a write. A
   * racy entry (stamped within `RACY_MS` of the check) is measured again next time whatever the file
   * says, so it alone is no reason to rewrite the whole cache: an edit checked at once costs its
   * re-hash, not a write of every artifact's stamps.
   */
  cacheGained: boolean;
  /**
   * A folder whose stamps list `SKILL.md` or `skill.md` at its top: the file is there without asking
   * the disk again (a folder without it is still asked, as a case-insensitive disk may find it).
   */
  listsSkillMd?: boolean;
}

function listsSkillMd(files: readonly FileStamp[]): boolean {
  return files.some(([rel]) => rel === 'SKILL.md' || rel === 'skill.md');
}

/** The cache entry of `entry` that its stamps may vouch for: same path, and not racy. */
function trustedEntry(
  cache: StatCache,
  entry: Pick<ArtifactEntry, 'name' | 'type' | 'path'>,
): CachedArtifact | undefined {
  const cached = cache.artifacts[lockKey(entry)];
  // Stamps seen within the racy window of their check may hide a later edit: never trusted.
  return cached && cached.path === entry.path && !cached.racy ? cached : undefined;
}

/**
 * The stamps of every file and folder that the cache vouches for, of one artifact or of a whole check's
 * (`statMany`: a long list goes to two threads, a warm check being those stats), compared with the cache
 * in one place. A stamp is what `walkSync` stamped: what a symlink points at.
 */
export class StampPrefetch {
  private readonly first = new Map<string, number>();
  private readonly table: Float64Array;

  constructor(
    root: string,
    entries: readonly Pick<ArtifactEntry, 'name' | 'type' | 'path'>[],
    cache: StatCache,
  ) {
    const paths: (string | Buffer)[] = [];
    for (const entry of entries) {
      const trusted = trustedEntry(cache, entry);
      if (!trusted || this.first.has(lockKey(entry))) continue;
      this.first.set(lockKey(entry), paths.length);
      const target = path.join(root, entry.path);
      paths.push(fsPath(target));
      if (trusted.dirs.length === 0) continue; // a file artifact: its one stamp is the root's
      const base = `${target}/`;
      for (const [dirRel] of trusted.dirs) if (dirRel !== '') paths.push(fsPath(base + dirRel));
      for (const [rel] of trusted.files) paths.push(fsPath(base + rel));
    }
    this.table = statMany(paths);
  }

  /** Whether the stamps taken of `key` were those of `trusted` (false when none were taken). */
  matches(key: string, trusted: CachedArtifact): boolean {
    const first = this.first.get(key);
    if (first === undefined) return false;
    const t = this.table;
    const at = (i: number): number => i * STAMP_FIELDS;
    const root = at(first);
    if (trusted.dirs.length === 0) {
      const stamp = trusted.files[0];
      return !!stamp && t[root] === STAMP_FILE && sameFileAt(stamp, t, root);
    }
    if (t[root] !== STAMP_DIR) return false;
    let next = first + 1;
    for (const [dirRel, mtimeMs, ino] of trusted.dirs) {
      const o = dirRel === '' ? root : at(next++);
      if (t[o] !== STAMP_DIR || t[o + 2] !== mtimeMs || t[o + 4] !== ino) return false;
    }
    for (const stamp of trusted.files) {
      const o = at(next++);
      if (t[o] !== STAMP_FILE || !sameFileAt(stamp, t, o)) return false;
    }
    return true;
  }

  /** Whether stamps were taken for `key` (then a mismatch is a fact, not to be asked again). */
  covers(key: string): boolean {
    return this.first.has(key);
  }
}

function sameFileAt(stamp: FileStamp, t: Float64Array, o: number): boolean {
  return stamp[1] === t[o + 1] && stamp[2] === t[o + 2] && stamp[3] === t[o + 3] && stamp[4] === t[o + 4];
}

/** What an artifact whose stamps all match its trusted entry measures, unless a noisy folder must be measured. */
function unchanged(
  kind: 'file' | 'dir',
  trusted: CachedArtifact,
  lockedHash: string | undefined,
): Measured | undefined {
  const settled =
    kind === 'file' ||
    lockedHash === undefined ||
    lockedHash === trusted.hash ||
    trusted.skillMeatHash !== undefined ||
    !trusted.files.some(([rel]) => isNoisePath(rel));
  // Unchanged, but a noisy folder whose lock may be SkillMeat's hash with the noise: measured.
  if (!settled) return undefined;
  const skillMeat = trusted.skillMeatHash !== undefined ? { skillMeatHash: trusted.skillMeatHash } : {};
  return {
    kind,
    hash: trusted.hash,
    ...skillMeat,
    rehashed: false,
    cacheGained: false,
    listsSkillMd: kind === 'dir' && listsSkillMd(trusted.files),
  };
}

/**
 * Measures one artifact: its cached hash when its stamps (from `prefetched` when that took them) match
 * the trusted cache entry, else a walk that re-hashes what changed, recorded in the cache.
 */
export function measureArtifact(
  root: string,
  entry: Pick<ArtifactEntry, 'name' | 'type' | 'path'>,
  cache: StatCache,
  startedAt: number,
  lockedHash: string | undefined,
  prefetched?: StampPrefetch,
): Measured {
  const key = lockKey(entry);
  const trusted = trustedEntry(cache, entry);
  // The stamps of a check that took them all at once, else this artifact's own, taken now.
  const stamps = trusted && (prefetched?.covers(key) ? prefetched : new StampPrefetch(root, [entry], cache));
  if (trusted && stamps?.matches(key, trusted)) {
    const same = unchanged(trusted.dirs.length === 0 ? 'file' : 'dir', trusted, lockedHash);
    if (same) return same;
  }
  const target = path.join(root, entry.path);
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    delete cache.artifacts[key];
    return { kind: 'missing', rehashed: false, cacheGained: false };
  }
  const kind = st.isDirectory() ? 'dir' : 'file';
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
  return {
    kind,
    hash: measured.hash,
    ...skillMeat,
    rehashed,
    cacheGained: !racy,
    listsSkillMd: kind === 'dir' && listsSkillMd(measured.files),
  };
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
