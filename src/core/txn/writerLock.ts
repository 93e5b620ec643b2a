/**
 * The writer lock of a collection: `.artifact-keeper/writer.lock`, created exclusively, naming its holder.
 * At most one process mutates a collection at a time; a lock whose holder is provably gone is reclaimed
 * (race-safe between several reclaimers), and readers only ever peek at it, never wait on it.
 */
import * as fsp from 'node:fs/promises';
import * as fsSync from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import type { LockHolder } from '../base/errors.js';
import { isErrno, nodeFs, writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { isProcessAlive, readPidStart, stopOrphansOf } from '../ports/processes.js';

export const WRITER_LOCK_FILE = 'writer.lock';

/** The reclaim critical section takes milliseconds; a reclaim file this old belongs to a reclaimer that died. */
const RECLAIM_STALE_MS = 10_000;
const POLL_MIN_MS = 50;
const POLL_JITTER_MS = 50;

export interface AcquireOptions {
  /** Who takes the lock (e.g. `artifact-keeper-cli 0.1.0`, `vscode`). */
  tool: string;
  /** What for (e.g. `update`, `restore`); shown to whoever is kept waiting. */
  operation?: string;
  /** How long to wait for a live holder before failing with `locked`. Default 3000 ms. */
  waitMs?: number;
  fs?: Fs;
}

export interface WriterLock {
  holder: LockHolder;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

export interface WriterLockStatus {
  holder: LockHolder;
  /** False when the holder is provably gone (the next writer will reclaim the lock). */
  alive: boolean;
}

/**
 * Lock files this process holds right now, by path, with the `started` stamp written into them. A lock
 * file naming our own pid that is not in here was left by a release that failed; without this the
 * long-lived extension host would lock itself out until it restarts.
 */
const heldByThisProcess = new Map<string, string>();

export function writerLockPath(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, WRITER_LOCK_FILE);
}

/** Creates `.artifact-keeper/` with a `.gitignore` of `*`, so our state never lands in the user's git. */
export async function ensureStateDir(fs: Fs, collectionDir: string): Promise<string> {
  const stateDir = path.join(collectionDir, STATE_DIR);
  const gitignore = path.join(stateDir, '.gitignore');
  if (fsSync.existsSync(gitignore)) return stateDir;
  // mkdir is recursive: without this check a mistyped collection path would be created.
  if (!fsSync.statSync(collectionDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new CoreError({ code: 'not-a-collection', dir: collectionDir, reason: 'no such folder' });
  }
  try {
    await fs.mkdir(stateDir);
    await writeFileAtomic(fs, gitignore, '*\n');
  } catch (err) {
    throw ioFailure('create', stateDir, err);
  }
  return stateDir;
}

/**
 * Takes the writer lock, waiting up to `waitMs` for a live holder. Throws CoreError `locked` (with the
 * holder) when the wait runs out, `io-failed` when the state folder cannot be written, `not-a-collection`
 * when the folder does not exist.
 */
export async function acquireWriterLock(collectionDir: string, options: AcquireOptions): Promise<WriterLock> {
  await ensureStateDir(options.fs ?? nodeFs, collectionDir);
  return acquireLockFile(writerLockPath(collectionDir), options);
}

/**
 * Takes the lock `lockFile` (its folder must exist), with the writer lock's rules: created with its
 * holder in one step, a provably dead holder's lock reclaimed, a live one waited for up to `waitMs`.
 */
export async function acquireLockFile(lockFile: string, options: AcquireOptions): Promise<WriterLock> {
  const fs = options.fs ?? nodeFs;
  const waitMs = options.waitMs ?? 3_000;
  const deadline = Date.now() + waitMs;

  for (;;) {
    const holder = newHolder(options);
    if (await tryCreate(lockFile, holder)) {
      heldByThisProcess.set(lockFile, holder.started);
      return { holder, release: releaser(fs, lockFile, holder) };
    }
    const seen = readLockFileSync(lockFile);
    if (!seen) continue; // released between our create and our read: try again at once
    // After removing a stale lock ourselves we retry at once, even with no wait left: the lock is free.
    if (isStale(seen, lockFile) && (await reclaimStale(fs, lockFile, seen))) continue;
    if (Date.now() >= deadline) {
      throw new CoreError({ code: 'locked', holder: seen.holder ?? unknownHolder(seen), lockFile });
    }
    await sleep(
      Math.min(POLL_MIN_MS + Math.random() * POLL_JITTER_MS, Math.max(0, deadline - Date.now()) + 1),
    );
  }
}

/**
 * For readers (status, the status bar): who holds the lock and whether they are alive. Never waits. A
 * lock file without a holder's name (an older version's, mid-create or killed) reads as pid 0 on host
 * `unknown`, alive: only `unlock --force` removes it.
 */
export function readWriterLock(collectionDir: string): WriterLockStatus | undefined {
  const lockFile = writerLockPath(collectionDir);
  const seen = readLockFileSync(lockFile);
  if (!seen) return undefined;
  return { holder: seen.holder ?? unknownHolder(seen), alive: !isStale(seen, lockFile) };
}

interface SeenLock {
  /** Undefined when the file is empty or not our JSON (its writer died between create and write). */
  holder: LockHolder | undefined;
  raw: string;
  ino: number;
  mtimeMs: number;
}

function newHolder(options: AcquireOptions): LockHolder {
  const pidStart = readPidStart(process.pid);
  return {
    pid: process.pid,
    host: os.hostname(),
    tool: options.tool,
    started: new Date().toISOString(),
    ...(pidStart !== undefined ? { pidStart } : {}),
    ...(options.operation !== undefined ? { operation: options.operation } : {}),
  };
}

/** Creates the lock file naming `holder`, whole (`createWhole`); false when a lock exists. */
function tryCreate(lockFile: string, holder: LockHolder): Promise<boolean> {
  return createWhole(lockFile, serializeHolder(holder));
}

/**
 * Creates `lockFile` (a lock, or a reclaim file) with its content in one atomic step: the content is
 * written to a temp file, which is then hard-linked to `lockFile` (link fails with EEXIST when the file
 * exists: false). So such a file is never seen empty: a writer paused or killed while creating it
 * (SIGSTOP, `kill -9`, a laptop asleep) leaves either no file or a whole one, never an empty file that
 * nobody can judge, which would hold every other writer off. Where the file system has no hard links,
 * an O_EXCL create then write is the fallback. Lock files are not part of the collection (nothing to
 * undo), so this goes to node:fs directly; no fsync: after a power loss their writer is dead anyway.
 */
async function createWhole(lockFile: string, content: string): Promise<boolean> {
  // `.<name>.<pid>.<time+random>.ak-tmp`: the stray sweep's pattern, so a killed creator's temp goes.
  const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const temp = path.join(
    path.dirname(lockFile),
    `.${path.basename(lockFile)}.${process.pid}.${unique}.ak-tmp`,
  );
  try {
    await fsp.writeFile(temp, content, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    // A full disk can leave the temp created but empty: it goes with the failure.
    await fsp.unlink(temp).catch(() => undefined);
    throw ioFailure('write', temp, err);
  }
  try {
    await fsp.link(temp, lockFile);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    if (isErrno(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'))
      return createExclusive(lockFile, content);
    throw ioFailure('create', lockFile, err);
  } finally {
    await fsp.unlink(temp).catch(() => undefined);
  }
}

/** The fallback where hard links are not supported: O_EXCL create, then write. */
async function createExclusive(lockFile: string, content: string): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(lockFile, 'wx', 0o644);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw ioFailure('create', lockFile, err);
  }
  try {
    await handle.writeFile(content);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.unlink(lockFile).catch(() => undefined);
    throw ioFailure('write', lockFile, err);
  }
  await handle.close();
  return true;
}

/**
 * Breaks the writer lock whoever holds it: `artifact-keeper unlock --force`, for a lock no check can judge
 * (held by another host that stopped refreshing it, or an empty lock left by an older version). Changes
 * nothing but the lock; the caller has made sure no writer runs. Returns the holder it removed, if any.
 */
export async function breakWriterLock(
  collectionDir: string,
  fs: Fs = nodeFs,
): Promise<WriterLockStatus | undefined> {
  const lockFile = writerLockPath(collectionDir);
  const seen = readLockFileSync(lockFile);
  if (!seen) return undefined;
  try {
    await fs.unlink(lockFile);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw ioFailure('unlink', lockFile, err);
  }
  await fs.unlink(`${lockFile}.reclaim`).catch(() => undefined);
  return { holder: seen.holder ?? unknownHolder(seen), alive: !isStale(seen, lockFile) };
}

function serializeHolder(holder: LockHolder): string {
  // Fixed key order so a byte comparison of two reads means "the same holder".
  const { pid, host, tool, started, pidStart, operation } = holder;
  return `${JSON.stringify({ pid, host, tool, started, pidStart, operation })}\n`;
}

function readLockFileSync(lockFile: string): SeenLock | undefined {
  let raw: string;
  let stat: fsSync.Stats;
  try {
    // Read and stat through one descriptor, so content, inode and mtime describe the same file.
    const fd = fsSync.openSync(lockFile, 'r');
    try {
      stat = fsSync.fstatSync(fd);
      raw = fsSync.readFileSync(fd, 'utf8');
    } finally {
      fsSync.closeSync(fd);
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw ioFailure('read', lockFile, err);
  }
  return { holder: parseHolder(raw), raw, ino: stat.ino, mtimeMs: stat.mtimeMs };
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder> | null;
    if (!value || typeof value.pid !== 'number' || typeof value.host !== 'string') return undefined;
    return {
      pid: value.pid,
      host: value.host,
      tool: typeof value.tool === 'string' ? value.tool : 'unknown',
      started: typeof value.started === 'string' ? value.started : '?',
      ...(typeof value.pidStart === 'string' ? { pidStart: value.pidStart } : {}),
      ...(typeof value.operation === 'string' ? { operation: value.operation } : {}),
    };
  } catch {
    return undefined;
  }
}

/** What we can say about a holder that never got to write its name: only when it created the file. */
function unknownHolder(seen: SeenLock): LockHolder {
  return { pid: 0, host: 'unknown', tool: 'unknown', started: new Date(seen.mtimeMs).toISOString() };
}

/**
 * A holder is gone when it ran on this host and its pid no longer exists, is a zombie, or now belongs
 * to a process started at another time (pid reuse). A holder on another host (a shared network folder)
 * cannot be checked and counts as alive: waiting is safer than two writers.
 */
function isStale(seen: SeenLock, lockFile: string): boolean {
  // A lock without a holder's name is never judged by its age: its writer may be paused right now (an
  // older version wrote the name after creating the file). `unlock --force` breaks it.
  if (!seen.holder) return false;
  const holder = seen.holder;
  if (holder.host !== os.hostname()) return false;
  if (holder.pid === process.pid) {
    // Our own pid: alive by definition, so only our own bookkeeping can tell a leftover from a live hold.
    return heldByThisProcess.get(lockFile) !== holder.started;
  }
  return !isProcessAlive(holder.pid, holder.pidStart);
}

/**
 * Removes a stale lock so the caller can retry its exclusive create. Several processes may find the
 * same stale lock at once; a `writer.lock.reclaim` file taken with O_EXCL admits one of them, which
 * re-reads the lock and removes it only if it is still the very file judged stale (same inode, bytes and
 * mtime). Everyone else just retries: whoever then wins the create owns the lock, so exactly one wins.
 */
async function reclaimStale(fs: Fs, lockFile: string, stale: SeenLock): Promise<boolean> {
  const reclaimFile = `${lockFile}.reclaim`;
  // Whole, like the lock: a reclaimer killed between an O_EXCL create and its write used to leave an
  // empty reclaim file, which names no one and so held every writer off for RECLAIM_STALE_MS (the
  // torture campaign's `locked by` a dead pull, once in 300 kills).
  if (!(await createWhole(reclaimFile, reclaimerText()))) {
    await removeStaleReclaimFile(fs, reclaimFile);
    await sleep(5); // someone else is reclaiming right now: give them the moment it takes
    return false;
  }
  try {
    const again = readLockFileSync(lockFile);
    const same =
      again !== undefined &&
      again.ino === stale.ino &&
      again.raw === stale.raw &&
      again.mtimeMs === stale.mtimeMs &&
      isStale(again, lockFile);
    if (!same) return false;
    // A writer killed with `kill -9` leaves its git children running (a gc, a fetch): they must be gone
    // before its lock passes on, or they would go on writing beside the next writer.
    const dead = stale.holder;
    if (dead && dead.host === os.hostname() && dead.pid !== process.pid) await stopOrphansOf(dead);
    try {
      await fs.unlink(lockFile);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw ioFailure('unlink', lockFile, err);
    }
    return true;
  } finally {
    await fs.unlink(reclaimFile).catch(() => undefined);
  }
}

/**
 * A reclaimer that died inside its critical section leaves the reclaim file behind. Between our stat and
 * our unlink another reclaimer could replace it; that window needs a reclaimer to have died 10 s earlier
 * and another to start within microseconds, and even then the worst case is two reclaimers comparing the
 * same stale lock, which the inode/bytes check still keeps from removing a live one.
 */
/**
 * Removes the reclaim file of a reclaimer that died: one older than RECLAIM_STALE_MS, or sooner, one whose
 * writer is known dead (a writer killed while reclaiming a stale lock would otherwise hold every other
 * writer off for those 10 s, longer than the 3 s they wait).
 */
async function removeStaleReclaimFile(fs: Fs, reclaimFile: string): Promise<void> {
  let mtimeMs: number;
  try {
    mtimeMs = fsSync.statSync(reclaimFile).mtimeMs;
  } catch {
    return;
  }
  if (Date.now() - mtimeMs > RECLAIM_STALE_MS || reclaimerGone(reclaimFile))
    await fs.unlink(reclaimFile).catch(() => undefined);
}

/** What a reclaimer writes into the reclaim file: who it is, as a lock holder says it. */
function reclaimerText(): string {
  const pidStart = readPidStart(process.pid);
  return `${JSON.stringify({ pid: process.pid, host: os.hostname(), ...(pidStart !== undefined ? { pidStart } : {}) })}\n`;
}

/**
 * Whether the reclaim file's writer, on this host, is no longer running. False when that cannot be told:
 * an empty file or a bare pid (left by an older version), another host.
 */
function reclaimerGone(reclaimFile: string): boolean {
  let who: unknown;
  try {
    who = JSON.parse(fsSync.readFileSync(reclaimFile, 'utf8'));
  } catch {
    return false;
  }
  if (typeof who !== 'object' || who === null) return false;
  const { pid, host, pidStart } = who as { pid?: unknown; host?: unknown; pidStart?: unknown };
  if (typeof pid !== 'number' || host !== os.hostname() || pid === process.pid) return false;
  return !isProcessAlive(pid, typeof pidStart === 'string' ? pidStart : undefined);
}

function releaser(fs: Fs, lockFile: string, holder: LockHolder): () => Promise<void> {
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    heldByThisProcess.delete(lockFile);
    const seen = readLockFileSync(lockFile);
    // Never remove someone else's lock: only possible if ours was wrongly judged stale, but cheap to check.
    if (!seen || seen.raw !== serializeHolder(holder)) return;
    try {
      await fs.unlink(lockFile);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw ioFailure('unlink', lockFile, err);
    }
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
