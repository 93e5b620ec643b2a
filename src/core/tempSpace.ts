/**
 * Temp workspaces for fetches: `.artifact-keeper/tmp/<pid>/` (same file system as the collection). Each
 * process works only in its own folder, so a `check` in one window never removes the files an `update`
 * in another is using; folders of processes that are gone (killed) are swept by the next operation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from './changes.js';

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
 * files they left beside our state files (`<file>.<pid>-<random>.tmp`, `<file>.<pid>.ak-tmp`) and the
 * snapshot store's work folders (`import-<pid>-<hex>`, `tmp-hash-<pid>-<hex>`, `snapshots.git.init-…`).
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
    fs.rmSync(path.join(tmpRoot(collectionDir), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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
    const match = STATE_TEMP.exec(name) ?? STATE_TEMP_DIR.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    fs.rmSync(path.join(stateDir, name), { recursive: true, force: true });
  }
}

/**
 * Removes `*.lock` files a killed git left in the snapshot repository (`packed-refs.lock`,
 * `refs/snapshots/<id>.lock`, …), which would make every later ref update fail. Only safe, and only
 * called, while holding the writer lock: every git process that writes that repository runs under it.
 */
export function sweepGitLocks(collectionDir: string): void {
  const repo = path.join(collectionDir, STATE_DIR, 'snapshots.git');
  const visit = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      if (entry.isDirectory() && depth > 0 && entry.name !== 'objects') visit(abs, depth - 1);
      else if (entry.isFile() && entry.name.endsWith('.lock')) fs.rmSync(abs, { force: true });
    }
  };
  visit(repo, 0);
  visit(path.join(repo, 'refs'), 8);
}
