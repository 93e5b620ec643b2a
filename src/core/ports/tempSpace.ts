/**
 * Temp workspaces for fetches: `.artifact-keeper/tmp/<pid>/` (same file system as the collection). Each
 * process works only in its own folder, so a `check` in one window never removes the files an `update`
 * in another is using; folders of processes that are gone (killed) are swept by the next operation.
 * Invariant: a workspace leaves no trace once removed, not even the parent folders it had to create.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { ioFailure } from '../base/errors.js';
import { atomicTempOwner } from './fs.js';

export function tmpRoot(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, 'tmp');
}

/** This process's temp folder (created on demand by the fetch). */
export function tmpDir(collectionDir: string): string {
  return path.join(tmpRoot(collectionDir), String(process.pid));
}

/** Removes this process's temp folder if nothing in it is still in use (best effort). */
export function releaseTmpDir(collectionDir: string): void {
  try {
    fs.rmdirSync(tmpDir(collectionDir));
    fs.rmdirSync(tmpRoot(collectionDir));
  } catch {
    // Still in use by another operation of this process or another process, or already gone.
  }
}

/**
 * Removes the temp folders of processes that no longer run (a killed CLI, a crashed window), the temp
 * files left beside our state files (writeFileAtomic's `.<file>.<pid>.<hex>.ak-tmp` when abandoned, see
 * isAbandonedTemp; `<file>.<pid>-<random>.tmp` of dead processes) and the snapshot store's work folders
 * (`import-<pid>-<hex>`, `tmp-hash-<pid>-<hex>`, `snapshots.git.init-…`).
 */
export function sweepStaleTemp(collectionDir: string): void {
  sweepStaleStateFiles(collectionDir);
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot(collectionDir));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) continue;
    if (pid === process.pid) continue;
    try {
      removeTreeSync(path.join(tmpRoot(collectionDir), name));
    } catch {
      // Best effort: the next operation tries again.
    }
  }
}

/**
 * A folder for one operation's spilled files (large blobs read from a store to a file rather than into
 * memory), made in `parent` on first use. The caller disposes of it when the operation ends.
 */
export interface SpillSpace {
  /** A new path in the folder (made on the first call) for a file named after `name`; nothing is created. */
  file(name: string): string;
  /** Removes the folder with what is in it (idempotent). */
  dispose(): void;
}

export function spillSpace(parent: string, prefix: string): SpillSpace {
  let dir: string | undefined;
  let files = 0;
  return {
    file(name) {
      if (dir === undefined) {
        fs.mkdirSync(parent, { recursive: true });
        dir = fs.mkdtempSync(path.join(parent, prefix));
      }
      return path.join(dir, `${++files}-${name}`);
    },
    dispose() {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/**
 * A spill space in this process's temp folder of the collection (restore, undo, `discard`): disposing of
 * it also removes that temp folder when nothing else of this process still uses it.
 */
export function collectionSpillSpace(collectionDir: string, prefix: string): SpillSpace {
  const dir = path.resolve(collectionDir);
  const space = spillSpace(tmpDir(dir), prefix);
  return {
    file: (name) => space.file(name),
    dispose() {
      space.dispose();
      releaseTmpDir(dir);
    },
  };
}

export interface Workspace {
  /** The new, empty folder. */
  path: string;
  /** Removes the folder with everything in it, then the parents it created if they are empty; idempotent. */
  remove(): Promise<void>;
}

/**
 * Creates a fresh folder `<parent>/<prefix>XXXXXX`. Missing parents are created one level at a time,
 * because a recursive mkdir on a read-only file system reports ENOENT instead of EROFS; the errno of
 * the level that failed is the one reported. Throws CoreError `io-failed` naming that folder.
 */
export async function makeWorkspace(parent: string, prefix: string): Promise<Workspace> {
  const created = await makeParents(path.resolve(parent));
  let workspace: string;
  try {
    workspace = await fsp.mkdtemp(path.join(parent, prefix));
  } catch (err) {
    await removeEmptyFolders(created);
    throw ioFailure('mkdtemp', parent, err);
  }
  let removed: Promise<void> | undefined;
  return {
    path: workspace,
    remove: () =>
      (removed ??= (async () => {
        await removeTree(workspace);
        await removeEmptyFolders(created);
      })()),
  };
}

/** Creates the missing folders of `dir`, outermost first, and returns them innermost first. */
async function makeParents(dir: string): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    const missing: string[] = [];
    for (let at = dir; !fs.existsSync(at); at = path.dirname(at)) {
      if (path.dirname(at) === at) break;
      missing.push(at);
    }
    const created: string[] = [];
    try {
      for (const folder of missing.reverse()) {
        try {
          await fsp.mkdir(folder);
          created.unshift(folder);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw Object.assign(err as Error, { folder });
        }
      }
      return created;
    } catch (err) {
      await removeEmptyFolders(created);
      // Another process removed an empty parent (its own cleanup) between our levels: start again.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3) continue;
      throw ioFailure('mkdir', (err as { folder?: string }).folder ?? dir, err);
    }
  }
}

/** Removes each folder in order while it is empty; one still in use by someone else stays. */
async function removeEmptyFolders(folders: readonly string[]): Promise<void> {
  for (const folder of folders) {
    try {
      await fsp.rmdir(folder);
    } catch {
      return;
    }
  }
}

/**
 * Removes a folder and everything in it, even a tree deeper than PATH_MAX (what a hostile upstream or a
 * source folder could leave), which fs.rm cannot name; see removeDeepTreeSync.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    removeDeepTreeSync(dir);
  }
}

export function removeTreeSync(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    removeDeepTreeSync(dir);
  }
}

/**
 * Node has no openat(), and chdir() is process-wide, so a tree too deep to name by path is flattened
 * instead: before a folder below the top level is listed it is renamed to a short name right under
 * `root`, so no path used here is longer than `root` plus two names. One rename per folder; only used
 * when fs.rm has failed with ENAMETOOLONG.
 */
function removeDeepTreeSync(root: string): void {
  let counter = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      if (!entry.isDirectory()) fs.rmSync(abs, { force: true });
      else if (dir === root) pending.push(abs);
      else {
        let moved: string;
        do {
          moved = path.join(root, `.ak-rm-${counter++}`);
        } while (fs.existsSync(moved));
        fs.renameSync(abs, moved);
        pending.push(moved);
      }
    }
    if (dir !== root) fs.rmdirSync(dir);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A temp of writeFileAtomic older than this is a leftover even if its pid is alive (a reused pid): a write takes milliseconds. */
export const STRAY_TEMP_AGE_MS = 60_000;

/**
 * Whether a temp file of writeFileAtomic (named by `atomicTempName`) is abandoned: its writer is gone,
 * or it is older than any write takes. One still being written by a live process — a reader saving its
 * parse, stat or check cache while a writer recovers — is not: removing it would fail that save. A
 * name that does not carry a pid (an older version's) counts as abandoned only once old. Never throws.
 */
export function isAbandonedTemp(file: string): boolean {
  const age = ageMs(file);
  if (age === undefined) return false; // already gone
  if (age > STRAY_TEMP_AGE_MS) return true;
  const pid = atomicTempOwner(path.basename(file));
  return pid !== undefined && !isAlive(pid);
}

/** How long ago `file` was last written; undefined when it is gone. */
function ageMs(file: string): number | undefined {
  try {
    // File times come from the file system's clock, so they compare with the machine's, never a pinned one.
    return Date.now() - fs.lstatSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * Removes the temps (`.<name>.<pid>.<…>.ak-tmp`) in a folder no collection owns — the project locks'
 * (`<tmp>/artifact-keeper-locks/`), where lock creators killed between writing and removing their temp
 * leave it — once older than any write takes. Judged by age alone, never by pid: every user and
 * container of the machine shares that folder, and a pid that looks dead here may be a live creator in
 * another pid namespace, whose temp must stay until it has linked it. Never throws: a temp that cannot
 * go is only a few bytes.
 */
export function sweepAgedTemps(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.ak-tmp')) continue;
    const temp = path.join(dir, name);
    const age = ageMs(temp);
    if (age === undefined || age <= STRAY_TEMP_AGE_MS) continue;
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // Not ours to remove.
    }
  }
}

const STATE_TEMP = /\.(\d+)(?:[-.][0-9a-z]+)?\.(?:ak-)?tmp$/;
/** Work folders of the snapshot store beside its repository: `<kind>-<pid>-<hex>` (import, hashing, init). */
const STATE_TEMP_DIR = /^(?:import|tmp-hash|snapshots\.git\.init)-(\d+)-[0-9a-f]+$/;

function sweepStaleStateFiles(collectionDir: string): void {
  const stateDir = path.join(collectionDir, STATE_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(stateDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.endsWith('.ak-tmp')) {
      if (isAbandonedTemp(path.join(stateDir, name))) fs.rmSync(path.join(stateDir, name), { force: true });
      continue;
    }
    const match = STATE_TEMP.exec(name) ?? STATE_TEMP_DIR.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    fs.rmSync(path.join(stateDir, name), { recursive: true, force: true });
  }
}

/**
 * Removes what a killed git leaves in the snapshot repository: `*.lock` files anywhere in it
 * (`packed-refs.lock`, `refs/snapshots/<id>.lock`, `objects/info/commit-graph.lock`, …), which would make
 * later ref updates or gcs fail, `gc.pid`, and below `objects/` the temp files of an object write cut
 * short (`pack/tmp_pack_*`, `tmp_idx_*`, `.tmp-*-pack-*`, `incoming-*` quarantines), which are only
 * garbage. Only below `objects/`, because a ref may be named `tmp_…` (an artifact's name). Loose-object
 * folders (`objects/xx/`) are not read: git's own prune removes stray `tmp_obj_*` there. Only safe, and
 * only called, while holding the writer lock: every git process that writes that repository runs under
 * it, and the git children a killed writer left running were stopped before its lock was reclaimed
 * (processes.ts).
 */
export function sweepGitLeftovers(collectionDir: string): void {
  const repo = path.join(collectionDir, STATE_DIR, 'snapshots.git');
  const objects = path.join(repo, 'objects');
  const visit = (dir: string, inObjects: boolean): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      const leftover =
        (entry.isFile() && (entry.name.endsWith('.lock') || entry.name === 'gc.pid')) ||
        (inObjects && /^(tmp_|\.tmp-|incoming-)/.test(entry.name));
      if (leftover) fs.rmSync(abs, { recursive: true, force: true });
      else if (entry.isDirectory() && !(dir === objects && LOOSE_OBJECTS.test(entry.name)))
        visit(abs, inObjects || abs === objects);
    }
  };
  visit(repo, false);
}

/** `objects/xx/`: 256 folders of immutable loose objects. */
const LOOSE_OBJECTS = /^[0-9a-f]{2}$/;
