/**
 * The project lock (DESIGN §10): a deploy, undeploy or pull holds the collection's writer lock and this
 * one, so two collections (or two windows) never change one profile root at once. It lives outside the
 * project — `<tmp>/artifact-keeper-locks/<sha256 of the profile root's real path>.lock` — because our
 * state stays out of the project except the tracking file. Same rules as the writer lock: created with
 * its holder in one step, a dead holder's lock reclaimed at once.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ioFailure } from '../base/errors.js';
import { STRAY_TEMP_AGE_MS } from '../ports/tempSpace.js';
import { acquireLockFile } from '../txn/writerLock.js';
import type { AcquireOptions } from '../txn/writerLock.js';

export function projectLockPath(profileRootDir: string): string {
  let real = path.resolve(profileRootDir);
  try {
    real = fs.realpathSync(real);
  } catch {
    // Not there yet (a first deploy creates it): its parent's real path names it as well.
    try {
      real = path.join(fs.realpathSync(path.dirname(real)), path.basename(real));
    } catch {
      // Neither: the resolved path is all there is.
    }
  }
  const key = createHash('sha256').update(real).digest('hex').slice(0, 32);
  return path.join(os.tmpdir(), 'artifact-keeper-locks', `${key}.lock`);
}

/** Runs `fn` holding the project lock of `profileRootDir`; releases it whatever happens. */
export async function withProjectLock<T>(
  profileRootDir: string,
  options: AcquireOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const file = projectLockPath(profileRootDir);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o777 });
  } catch (err) {
    throw ioFailure('mkdir', path.dirname(file), err);
  }
  const lock = await acquireLockFile(file, options);
  sweepLockTemps(path.dirname(file));
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * Removes the temp files that lock creators killed between writing and removing them left in the shared
 * lock folder (`.<key>.lock[.reclaim].<pid>.<…>.ak-tmp`, a few bytes each): nothing else would, since
 * the folder belongs to no collection. Judged by age alone (`STRAY_TEMP_AGE_MS`; a create takes
 * milliseconds), never by pid: the folder is shared by every user and container of the machine, and a
 * pid that looks dead here may be a live creator in another pid namespace, whose temp must stay until it
 * has linked it. Never throws: a temp that cannot go is only a few bytes.
 */
export function sweepLockTemps(dir: string, now = Date.now()): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.ak-tmp')) continue;
    const temp = path.join(dir, name);
    try {
      // File times come from the file system's clock: compared with the machine's, never a pinned one.
      if (now - fs.lstatSync(temp).mtimeMs > STRAY_TEMP_AGE_MS) fs.rmSync(temp, { force: true });
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
