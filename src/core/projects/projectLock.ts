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
import { sweepAgedTemps } from '../ports/tempSpace.js';
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
  sweepAgedTemps(path.dirname(file));
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => undefined);
  }
}
