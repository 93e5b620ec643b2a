/**
 * Child process for the writer-lock tests. `hold DIR`: take the lock, print the holder as JSON, wait to be
 * killed. `churn DIR`: take and release the lock in a loop until killed. `reclaim DIR`: the same, each time over a dead writer's lock it reclaims. `orphan DIR`: take the lock, start a git of the snapshot store that waits on its input (as a
 * long `git gc` would run on), print its pid, wait to be killed. `race DIR START_AT WAIT_MS HOLD_MS`: at wall-clock START_AT try to take the lock, print
 * `acquired` or `locked`, hold it HOLD_MS, release. Run without arguments it does nothing.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isCoreError } from '../../../src/core/base/errors.js';
import { OWNER_ENV, ownerMark } from '../../../src/core/ports/processes.js';
import { acquireWriterLock, writerLockPath } from '../../../src/core/txn/writerLock.js';

const storeGitDir = (dir: string): string => path.join(dir, '.artifact-keeper', 'snapshots.git');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const [mode, dir, startAt, waitMs, holdMs] = process.argv.slice(2);
  if (!mode || !dir) return;
  if (mode === 'orphan') {
    await acquireWriterLock(dir, { tool: 'lock-test', operation: 'orphan', waitMs: 0 });
    // A real git child with the store's environment; `cat-file --batch` lives as long as its stdin is open,
    // and a detached `sleep` holds the other end, so it outlives this process like a gc would.
    const git = spawn(
      'sh',
      ['-c', `sleep 60 | git --git-dir="$1" cat-file --batch`, 'orphan', storeGitDir(dir)],
      { detached: true, stdio: 'ignore', env: { ...process.env, [OWNER_ENV]: ownerMark() } },
    );
    process.stdout.write(`${git.pid}\n`);
    setInterval(() => undefined, 60_000);
    return;
  }
  if (mode === 'churn') {
    // Takes and releases the lock as fast as it can, until killed: the parent stops it at random moments.
    process.stdout.write('churning\n');
    for (;;) {
      const lock = await acquireWriterLock(dir, { tool: 'lock-test', operation: 'churn', waitMs: 60_000 });
      await lock.release();
    }
  }
  if (mode === 'reclaim') {
    // Leaves a dead writer's lock and takes it over, as fast as it can, until killed: the parent stops it
    // at random moments, reclaim file included.
    const stale = `${JSON.stringify({ pid: 999_999_999, host: os.hostname(), tool: 'dead', started: '2020-01-01T00:00:00.000Z' })}\n`;
    process.stdout.write('reclaiming\n');
    for (;;) {
      fs.writeFileSync(writerLockPath(dir), stale);
      const lock = await acquireWriterLock(dir, { tool: 'lock-test', operation: 'reclaim', waitMs: 60_000 });
      await lock.release();
    }
  }
  if (mode === 'hold') {
    const lock = await acquireWriterLock(dir, { tool: 'lock-test', operation: 'hold', waitMs: 0 });
    process.stdout.write(`${JSON.stringify(lock.holder)}\n`);
    setInterval(() => undefined, 60_000);
    return;
  }
  // Sleep to just before the start, then spin, so every racer looks at the stale lock in the same instant.
  const start = Number(startAt);
  await sleep(Math.max(0, start - Date.now() - 20));
  while (Date.now() < start) {
    /* spin */
  }
  try {
    const lock = await acquireWriterLock(dir, {
      tool: 'lock-test',
      operation: 'race',
      waitMs: Number(waitMs),
    });
    process.stdout.write('acquired\n');
    await sleep(Number(holdMs));
    await lock.release();
  } catch (err) {
    if (!isCoreError(err, 'locked')) throw err;
    process.stdout.write('locked\n');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
