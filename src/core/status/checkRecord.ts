/**
 * The check record (`.artifact-keeper/status-record.bin`): the last report of a one-off check (the CLI's
 * `status`), with the SHA-256 of the manifest and lock bytes it judged and every stamp it rested on. The
 * next check of the same bytes stats the recorded paths and re-judges only the artifacts whose stamps
 * moved (or were racy): it reads neither manifest nor lock as TOML, nor the stat cache, and builds no
 * collection model. Any other bytes, a journal, a record of another key or format: the full check runs
 * and writes a new record.
 *
 * A verdict is a function of the bytes, the artifact's files and folders (their stamps vouch for them as
 * in the stat cache: size, mtime, ctime and inode of each file, mtime and inode of each folder, a path's
 * absence) and the code that judged them (the key: which build of the caller judged, for the CLI its
 * bundle's size and time; and `RECORD_VERSION` here, to be raised when the judgement changes). Derived
 * data, written through the Fs port without fsync: a torn or foreign record is only a full check.
 *
 * On disk: a 4-byte little-endian length, the header (JSON), padding to 8 bytes, then 5 numbers per path
 * (kind, size, mtimeMs, ctimeMs, ino; a folder's size and ctime are not compared) as float64 in the
 * machine's byte order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { fsPath } from '../base/fileNames.js';
import { traceCount } from '../base/trace.js';
import { lockKey } from '../model/artifact.js';
import type { Collection } from '../model/collection.js';
import { lockPath, manifestPath } from '../model/collection.js';
import { replaceDerivedFile } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { STAMP_DIR, STAMP_FIELDS, STAMP_FILE, STAMP_MISSING, statMany } from '../ports/parallelStat.js';
import { hasJournal } from '../txn/journal.js';
import { ensureStateDir } from '../txn/writerLock.js';
import type { ArtifactReport, ConsistencyReport, Finding } from './consistency.js';
import { isFilelessMcp, judgeArtifact, stateOf } from './verdict.js';
import type { JudgedEntry, JudgedFields, JudgedLockFields } from './verdict.js';
import { measureArtifact } from './statCache.js';
import type { CachedArtifact, DirStamp, FileStamp, StatCache } from './statCache.js';

export const RECORD_FILE = 'status-record.bin';
/** Raise when the judgement (verdict.ts) or this layout changes: older records are then ignored. */
const RECORD_VERSION = 1;
const NUMBERS = 5;

/**
 * One verdict as recorded. What it judged is in its report line (name, type, path, version, resolved sha,
 * locked hash), but for two fields of the lock entry.
 */
interface RecordedVerdict {
  /** A lock entry without a manifest entry: judged by the bytes alone, no stamps. */
  orphan?: true;
  /** The lock entry's other fields the judgement reads; absent: the artifact has no lock entry. */
  locked?: Pick<JudgedLockFields, 'resolvedSha' | 'conflicted'>;
  report: ArtifactReport;
  findings: Finding[];
  /** What the stamps vouch for (absent: the path was missing, or a fileless MCP server). */
  cached?: {
    kind: 'file' | 'dir';
    hash: string;
    skillMeatHash?: string;
    racy: boolean;
    /** Below the artifact's folder, in the stat cache's order: folders, then files. */
    dirs: string[];
    files: string[];
  };
}

interface RecordHeader {
  version: number;
  key: string;
  manifest: string;
  lock: string;
  verdicts: RecordedVerdict[];
}

/** The SHA-256 a record keys on: of the bytes, or `none` for a missing lock. */
function bytesId(bytes: Buffer | undefined): string {
  return bytes === undefined ? 'none' : createHash('sha256').update(bytes).digest('hex');
}

/**
 * The report of a check answered from the record, and the record's rewrite when the answer gained a
 * trusted verdict (never rejects); undefined when the record cannot answer (then run the full check).
 */
export function answerFromRecord(
  dir: string,
  key: string,
  fsPort: Fs,
  now: () => number,
): { report: ConsistencyReport; saved: Promise<void> } | undefined {
  const root = path.resolve(dir);
  if (hasJournal(root)) return undefined;
  const header = readRecord(root, key);
  if (!header) return undefined;
  const startedAt = now();
  // The stamps of every recorded path at once, on this thread (a new process: see parallelStat).
  const paths: (string | Buffer)[] = [];
  for (const verdict of header.record.verdicts) {
    if (verdict.orphan) continue;
    // The manifest's paths are normal already (validated), so no path.join: 2,000 of them cost 2.6 ms.
    const target = `${root}${path.sep}${verdict.report.path}`;
    paths.push(fsPath(target));
    const base = `${target}/`;
    for (const rel of verdict.cached?.kind === 'dir' ? verdict.cached.dirs : [])
      paths.push(fsPath(base + rel));
    for (const rel of verdict.cached?.kind === 'dir' ? verdict.cached.files : [])
      paths.push(fsPath(base + rel));
  }
  if (paths.length !== header.stamps.length / NUMBERS) return undefined;
  const seen = statMany(paths, { oneThread: true });

  const verdicts: RecordedVerdict[] = [];
  const sources: StampSource[] = [];
  let next = 0;
  let gained = false;
  let rehashed = 0;
  for (const verdict of header.record.verdicts) {
    if (verdict.orphan) {
      verdicts.push(verdict);
      continue;
    }
    const entry = entryOf(verdict.report);
    const locked = lockedOf(verdict);
    const first = next;
    next +=
      1 + (verdict.cached?.kind === 'dir' ? verdict.cached.dirs.length + verdict.cached.files.length : 0);
    if (!verdict.cached?.racy && sameStamps(header.stamps, seen, first, next)) {
      verdicts.push(verdict);
      sources.push({ kind: 'kept', from: header.stamps, first, count: next - first });
      continue;
    }
    // Moved, or stamped too close to its check to vouch: measured again, from what the record knew.
    const cache: StatCache = { version: 0, artifacts: {} };
    if (verdict.cached)
      cache.artifacts[lockKey(entry)] = cachedOf(entry.path, verdict.cached, header.stamps, first);
    const measured = isFilelessMcp(root, entry)
      ? undefined
      : measureArtifact(root, entry, cache, startedAt, locked?.contentHash);
    if (measured?.rehashed) rehashed++;
    // Worth a rewrite only when the record can now vouch for it: not racy, and not missing.
    if (measured?.cacheGained) gained = true;
    const judged = judgeArtifact(root, entry, locked, measured);
    const recorded = recordVerdict({ entry, ...(locked ? { locked } : {}), measured, ...judged }, cache);
    if (!recorded) return undefined;
    verdicts.push(recorded.verdict);
    sources.push(recorded.source);
  }
  // A writer may have begun while we looked: its journal makes the answer `interrupted`.
  if (hasJournal(root)) return undefined;
  const report = reportOf(verdicts, rehashed);
  traceCount('answered from the check record');
  const record = { ...header.record, verdicts };
  return { report, saved: gained ? writeRecord(fsPort, root, record, sources) : Promise.resolve() };
}

/**
 * Writes the record of a full check: its collection's bytes, its verdicts (`CheckOptions.judged`) and the
 * stat cache it left. Writes nothing when a verdict's stamps are not in the cache as judged. Never rejects.
 */
export function recordCheck(
  fsPort: Fs,
  collection: Collection,
  key: string,
  judged: readonly JudgedEntry[],
  cache: StatCache,
): Promise<void> {
  const verdicts: RecordedVerdict[] = [];
  const sources: StampSource[] = [];
  for (const one of judged) {
    if (!one.entry) {
      verdicts.push({ orphan: true, report: one.report, findings: one.findings });
      continue;
    }
    const recorded = recordVerdict(one, cache);
    if (!recorded) return Promise.resolve();
    verdicts.push(recorded.verdict);
    sources.push(recorded.source);
  }
  const record: RecordHeader = {
    version: RECORD_VERSION,
    key,
    manifest: bytesId(collection.manifestBytes),
    lock: bytesId(collection.lockBytes),
    verdicts,
  };
  return writeRecord(fsPort, collection.dir, record, sources);
}

/** Where a verdict's stamps come from when the record is written. */
type StampSource =
  | { kind: 'missing' }
  | { kind: 'file' | 'dir'; cached: CachedArtifact }
  | { kind: 'kept'; from: Float64Array; first: number; count: number };

function recordVerdict(
  one: JudgedEntry,
  cache: StatCache,
): { verdict: RecordedVerdict; source: StampSource } | undefined {
  const entry = one.entry as JudgedFields;
  const verdict: RecordedVerdict = {
    ...(one.locked ? { locked: pick(one.locked, ['resolvedSha', 'conflicted']) } : {}),
    report: one.report,
    findings: one.findings,
  };
  // What a later answer reads back as the judged entry must be what was judged.
  const back = entryOf(one.report);
  if (back.name !== entry.name || back.type !== entry.type || back.path !== entry.path) return undefined;
  if (back.resolvedVersion !== (entry.resolvedVersion || undefined)) return undefined;
  if (back.resolvedSha !== (entry.resolvedSha || undefined)) return undefined;
  if (one.locked && one.report.lockedHash !== one.locked.contentHash) return undefined;
  if (!one.measured || one.measured.kind === 'missing') return { verdict, source: { kind: 'missing' } };
  const cached = cache.artifacts[lockKey(entry)];
  if (!cached || cached.path !== entry.path || cached.hash !== one.measured.hash) return undefined;
  const kind = one.measured.kind;
  // A file artifact is one file stamp; a folder lists its own stamp first (the cache's '' entry).
  if (kind === 'file' ? cached.files.length !== 1 || cached.dirs.length !== 0 : cached.dirs[0]?.[0] !== '')
    return undefined;
  const dirs: string[] = [];
  const files: string[] = [];
  if (kind === 'dir') {
    for (let i = 1; i < cached.dirs.length; i++) dirs.push((cached.dirs[i] as DirStamp)[0]);
    for (let i = 0; i < cached.files.length; i++) files.push((cached.files[i] as FileStamp)[0]);
  }
  verdict.cached = {
    kind,
    hash: cached.hash,
    ...(cached.skillMeatHash !== undefined ? { skillMeatHash: cached.skillMeatHash } : {}),
    racy: cached.racy,
    dirs,
    files,
  };
  return { verdict, source: { kind, cached } };
}

function stampCount(source: StampSource): number {
  if (source.kind === 'kept') return source.count;
  if (source.kind === 'dir') return source.cached.dirs.length + source.cached.files.length;
  return 1;
}

/** Writes a verdict's stamps at path index `at` of `out`; returns the next index. Plain loops: cold code. */
function putStamps(out: Float64Array, at: number, source: StampSource): number {
  let o = at * NUMBERS;
  if (source.kind === 'kept') {
    out.set(source.from.subarray(source.first * NUMBERS, (source.first + source.count) * NUMBERS), o);
    return at + source.count;
  }
  if (source.kind === 'missing') {
    out[o] = STAMP_MISSING;
    return at + 1;
  }
  const { dirs, files } = source.cached;
  if (source.kind === 'dir') {
    for (let i = 0; i < dirs.length; i++, o += NUMBERS) {
      const d = dirs[i] as DirStamp;
      out[o] = STAMP_DIR;
      out[o + 2] = d[1];
      out[o + 4] = d[2];
    }
  }
  for (let i = 0; i < files.length; i++, o += NUMBERS) {
    const f = files[i] as FileStamp;
    out[o] = STAMP_FILE;
    out[o + 1] = f[1];
    out[o + 2] = f[2];
    out[o + 3] = f[3];
    out[o + 4] = f[4];
  }
  return o / NUMBERS;
}

/** The stat cache's entry the record knew for an artifact, with the stamps it recorded. */
function cachedOf(
  artifactPath: string,
  cached: NonNullable<RecordedVerdict['cached']>,
  stamps: Float64Array,
  first: number,
): CachedArtifact {
  const at = (i: number, field: number): number => stamps[(first + i) * NUMBERS + field] as number;
  const skillMeat = cached.skillMeatHash !== undefined ? { skillMeatHash: cached.skillMeatHash } : {};
  if (cached.kind === 'file')
    return {
      path: artifactPath,
      hash: cached.hash,
      ...skillMeat,
      files: [['', at(0, 1), at(0, 2), at(0, 3), at(0, 4)]],
      dirs: [],
      racy: cached.racy,
    };
  const dirs: CachedArtifact['dirs'] = [['', at(0, 2), at(0, 4)]];
  cached.dirs.forEach((rel, i) => dirs.push([rel, at(1 + i, 2), at(1 + i, 4)]));
  const offset = 1 + cached.dirs.length;
  const files: CachedArtifact['files'] = cached.files.map((rel, i) => [
    rel,
    at(offset + i, 1),
    at(offset + i, 2),
    at(offset + i, 3),
    at(offset + i, 4),
  ]);
  return { path: artifactPath, hash: cached.hash, ...skillMeat, files, dirs, racy: cached.racy };
}

/** Whether the stamps seen now of paths [first, end) are the recorded ones. */
function sameStamps(recorded: Float64Array, seen: Float64Array, first: number, end: number): boolean {
  for (let i = first; i < end; i++) {
    const r = i * NUMBERS;
    const s = i * STAMP_FIELDS;
    const kind = recorded[r];
    if (seen[s] !== kind) return false;
    if (kind === STAMP_FILE) {
      if (seen[s + 1] !== recorded[r + 1] || seen[s + 3] !== recorded[r + 3]) return false;
    } else if (kind !== STAMP_DIR) continue;
    if (seen[s + 2] !== recorded[r + 2] || seen[s + 4] !== recorded[r + 4]) return false;
  }
  return true;
}

/** The manifest entry's fields a report line holds: what the judgement read of it. */
function entryOf(report: ArtifactReport): JudgedFields {
  return {
    name: report.name,
    type: report.type as JudgedFields['type'],
    path: report.path,
    ...(report.version !== undefined ? { resolvedVersion: report.version } : {}),
    ...(report.resolvedSha !== undefined ? { resolvedSha: report.resolvedSha } : {}),
  };
}

function lockedOf(verdict: RecordedVerdict): JudgedLockFields | undefined {
  if (!verdict.locked || verdict.report.lockedHash === undefined) return undefined;
  return { contentHash: verdict.report.lockedHash, ...verdict.locked };
}

function reportOf(verdicts: readonly RecordedVerdict[], rehashed: number): ConsistencyReport {
  const findings = verdicts.flatMap((v) => v.findings);
  return { state: stateOf(findings), artifacts: verdicts.map((v) => v.report), findings, rehashed };
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

/** The record of these exact manifest and lock bytes under `key`, or undefined. */
function readRecord(root: string, key: string): { record: RecordHeader; stamps: Float64Array } | undefined {
  let data: Buffer;
  let manifest: Buffer;
  let lock: Buffer | undefined;
  try {
    data = fs.readFileSync(path.join(root, STATE_DIR, RECORD_FILE));
    manifest = fs.readFileSync(manifestPath(root));
  } catch {
    return undefined;
  }
  try {
    lock = fs.readFileSync(lockPath(root));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  }
  try {
    const length = data.readUInt32LE(0);
    const record = JSON.parse(data.toString('utf8', 4, 4 + length)) as RecordHeader;
    if (record.version !== RECORD_VERSION || record.key !== key || !Array.isArray(record.verdicts))
      return undefined;
    if (record.manifest !== bytesId(manifest) || record.lock !== bytesId(lock)) return undefined;
    const start = padded(4 + length);
    if ((data.length - start) % (NUMBERS * 8) !== 0) return undefined;
    // A copy at an 8-byte boundary: the file's buffer may sit anywhere in Node's pool.
    const stamps = new Float64Array(
      data.buffer.slice(data.byteOffset + start, data.byteOffset + data.length),
    );
    return { record, stamps };
  } catch {
    return undefined;
  }
}

function padded(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}

async function writeRecord(
  fsPort: Fs,
  root: string,
  record: RecordHeader,
  sources: readonly StampSource[],
): Promise<void> {
  try {
    const header = Buffer.from(JSON.stringify(record));
    const start = padded(4 + header.length);
    let count = 0;
    for (const source of sources) count += stampCount(source);
    // A buffer of its own, so the numbers start at an 8-byte boundary.
    const data = Buffer.from(new ArrayBuffer(start + count * NUMBERS * 8));
    data.writeUInt32LE(header.length, 0);
    header.copy(data, 4);
    // In this machine's byte order, as the reader takes them (a record copied to a machine of the other
    // order matches no stamp: every artifact is measured again, as in a first check).
    const numbers = new Float64Array(data.buffer, start, count * NUMBERS);
    let at = 0;
    for (const source of sources) at = putStamps(numbers, at, source);
    const stateDir = await ensureStateDir(fsPort, root);
    await replaceDerivedFile(fsPort, path.join(stateDir, RECORD_FILE), data);
  } catch {
    // Best effort: the next check runs in full.
  }
}
