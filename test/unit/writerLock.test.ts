/**
 * Tests for src/core/txn/writerLock.ts against real processes: a live holder blocks with a clear `locked`
 * error, a holder killed with SIGKILL is reclaimed at once, several racers reclaim a stale lock with
 * exactly one winner, and readers never wait.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STATE_DIR } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import type { CoreError, Failure } from '../../src/core/base/errors.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { LockHolder } from '../../src/core/base/errors.js';
import { OWNER_ENV, readPidStart } from '../../src/core/ports/processes.js';
import {
  acquireWriterLock,
  breakWriterLock,
  readWriterLock,
  writerLockPath,
} from '../../src/core/txn/writerLock.js';
import { tempDir } from './support/collections.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const LOCK_CHILD = path.join(__dirname, 'support', 'lockChild.js');

function collection(): string {
  const dir = path.join(tempDir('ak-lock-'), 'c');
  fs.mkdirSync(dir);
  return dir;
}

/** Starts a child that holds the lock; resolves with its holder once it has it. */
async function holdInChild(dir: string): Promise<{ child: ChildProcess; holder: LockHolder }> {
  const child = spawn(process.execPath, [LOCK_CHILD, 'hold', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await firstLine(child);
  return { child, holder: JSON.parse(line) as LockHolder };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline >= 0) resolve(text.slice(0, newline));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing`)));
  });
}

/** SIGKILL, then wait until the child is reaped: a zombie would still answer kill(pid, 0). */
async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function output(child: ChildProcess): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

type LockedError = CoreError & { failure: Extract<Failure, { code: 'locked' }> };

/**
 * Waits until the kernel reports every thread of the child stopped (state `T` in each
 * /proc/<pid>/task/<tid>/stat). The main thread alone is not enough: a thread-pool thread inside `link` or
 * `unlink` finishes that call before it stops, so the lock could still appear or go after the main thread
 * reads `T`.
 */
async function stopped(child: ChildProcess): Promise<void> {
  const stateOf = (stat: string): string => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  const allStopped = (): boolean =>
    fs.readdirSync(`/proc/${child.pid}/task`).every((tid) => {
      try {
        const state = stateOf(fs.readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8'));
        return state === 'T' || state === 't';
      } catch {
        return true; // the thread has exited
      }
    });
  for (let i = 0; i < 2000; i++) {
    if (allStopped()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`child ${child.pid} did not stop`);
}

async function expectLocked(dir: string, waitMs: number): Promise<LockedError> {
  const err = await acquireWriterLock(dir, { tool: 'test', waitMs }).then(
    () => assert.fail('acquired a held lock'),
    (e: unknown) => e,
  );
  assert.ok(isCoreError(err, 'locked'), `expected locked, got ${String(err)}`);
  return err;
}

void describe('writer lock', () => {
  void it('writes the holder, creates the state folder with a .gitignore, and releases', async () => {
    const dir = collection();
    const lock = await acquireWriterLock(dir, { tool: 'test 1.0', operation: 'update' });
    const written = JSON.parse(fs.readFileSync(writerLockPath(dir), 'utf8')) as LockHolder;
    assert.deepEqual(written, lock.holder);
    assert.equal(written.pid, process.pid);
    assert.equal(written.host, os.hostname());
    assert.equal(written.tool, 'test 1.0');
    assert.equal(written.operation, 'update');
    assert.ok(!Number.isNaN(Date.parse(written.started)));
    assert.equal(written.pidStart, readPidStart(process.pid));
    assert.equal(fs.readFileSync(path.join(dir, STATE_DIR, '.gitignore'), 'utf8'), '*\n');
    await lock.release();
    await lock.release(); // idempotent
    assert.equal(fs.existsSync(writerLockPath(dir)), false);
    assert.equal(readWriterLock(dir), undefined);
  });

  void it('makes a second writer wait, then fail with "locked by pid P on host H since T"', async () => {
    const dir = collection();
    const lock = await acquireWriterLock(dir, { tool: 'first', operation: 'update' });
    const started = Date.now();
    const err = await expectLocked(dir, 300);
    const waited = Date.now() - started;
    assert.ok(waited >= 280 && waited < 1500, `waited ${waited} ms`);
    assert.deepEqual(err.failure, { code: 'locked', holder: lock.holder, lockFile: writerLockPath(dir) });
    assert.match(
      err.message,
      new RegExp(
        `^locked by pid ${process.pid} on host ${os.hostname()} since ${lock.holder.started} \\(first, update\\)$`,
      ),
    );
    await lock.release();
    const again = await acquireWriterLock(dir, { tool: 'second', waitMs: 0 });
    await again.release();
  });

  void it('gets the lock as soon as the holder releases it within the wait', async () => {
    const dir = collection();
    const lock = await acquireWriterLock(dir, { tool: 'first' });
    setTimeout(() => void lock.release(), 200);
    const second = await acquireWriterLock(dir, { tool: 'second', waitMs: 2000 });
    assert.equal(second.holder.tool, 'second');
    await second.release();
  });

  void it('blocks on a live holder in another process; reclaims at once after kill -9', async () => {
    const dir = collection();
    const { child, holder } = await holdInChild(dir);
    try {
      assert.equal(holder.pid, child.pid);
      assert.equal(holder.pidStart, readPidStart(child.pid ?? 0));
      const err = await expectLocked(dir, 150);
      assert.equal(err.failure.holder.pid, child.pid);
      const peek = readWriterLock(dir);
      assert.deepEqual(peek, { holder, alive: true });
    } finally {
      await killHard(child);
    }
    assert.equal(readWriterLock(dir)?.alive, false, 'a dead holder reads as not alive');
    // No wait allowed: only a lock known to be stale is taken over at once (a live one refuses).
    const lock = await acquireWriterLock(dir, { tool: 'after-crash', waitMs: 0 });
    assert.equal(lock.holder.pid, process.pid);
    await lock.release();
    assert.equal(fs.existsSync(`${writerLockPath(dir)}.reclaim`), false);
  });

  // Regression (found by the CI campaign): a `git gc` of a writer killed with kill -9 went on repacking
  // after the next writer had reclaimed the lock, and left `.tmp-*-pack-*` files behind the next sweep.
  void it("stops a killed writer's orphaned git children before it reclaims the lock", async () => {
    const dir = collection();
    const child = spawn(process.execPath, [LOCK_CHILD, 'orphan', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const orphan = Number(await firstLine(child));
    const mark = `${OWNER_ENV}=${child.pid}:${readPidStart(child.pid ?? 0)}`;
    await killHard(child);
    const marked = (): number[] =>
      fs
        .readdirSync('/proc')
        .filter((name) => /^\d+$/.test(name))
        .filter((name) => {
          try {
            return fs.readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(mark);
          } catch {
            return false;
          }
        })
        .map(Number);
    assert.ok(marked().includes(orphan), 'the git child outlived its killed writer');
    assert.ok(marked().length >= 2, 'with its own children (sleep, git)');
    const lock = await acquireWriterLock(dir, { tool: 'after-crash' });
    try {
      assert.deepEqual(marked(), [], 'no process of the dead writer is left');
    } finally {
      await lock.release();
    }
  });

  void it('lets exactly one of several racing processes reclaim the same stale lock', async () => {
    for (let round = 0; round < 2; round++) {
      const dir = collection();
      const { child } = await holdInChild(dir);
      await killHard(child);
      const startAt = Date.now() + 900;
      const racers = Array.from({ length: 4 }, () =>
        output(
          spawn(process.execPath, [LOCK_CHILD, 'race', dir, String(startAt), '300', '1200'], {
            stdio: ['ignore', 'pipe', 'inherit'],
          }),
        ),
      );
      const results = await Promise.all(racers);
      assert.ok(
        results.every((r) => r.code === 0),
        JSON.stringify(results),
      );
      const verdicts = results.map((r) => r.stdout.trim()).sort();
      assert.deepEqual(verdicts, ['acquired', 'locked', 'locked', 'locked'], `round ${round}`);
      assert.equal(fs.existsSync(writerLockPath(dir)), false, 'the winner released');
      assert.equal(fs.existsSync(`${writerLockPath(dir)}.reclaim`), false);
    }
  });

  void it('never blocks readers, whoever holds the lock', async () => {
    const dir = collection();
    assert.equal(readWriterLock(dir), undefined, 'no state folder yet');
    const lock = await acquireWriterLock(dir, { tool: 'writer' });
    // Synchronous: a reader gets its answer in the same tick, whoever holds the lock.
    for (let i = 0; i < 100; i++) assert.deepEqual(readWriterLock(dir), { holder: lock.holder, alive: true });
    await lock.release();
  });

  void it('treats a reused pid (same pid, other start time) as gone', async () => {
    const dir = collection();
    const lock = await acquireWriterLock(dir, { tool: 'test' });
    await lock.release();
    // pid 1 is alive, but it is not the process that wrote this lock.
    const reused: LockHolder = {
      pid: 1,
      host: os.hostname(),
      tool: 'old',
      started: '2020-01-01T00:00:00.000Z',
      pidStart: 'x',
    };
    fs.writeFileSync(writerLockPath(dir), JSON.stringify(reused));
    if (readPidStart(1) !== undefined) {
      assert.equal(readWriterLock(dir)?.alive, false);
      const taken = await acquireWriterLock(dir, { tool: 'test', waitMs: 0 });
      await taken.release();
    }
  });

  void it('never reclaims a lock held from another host', async () => {
    const dir = collection();
    await (await acquireWriterLock(dir, { tool: 'test' })).release();
    const remote: LockHolder = {
      pid: 999_999_999,
      host: 'some-other-host',
      tool: 'remote',
      started: '2020-01-01T00:00:00.000Z',
    };
    fs.writeFileSync(writerLockPath(dir), JSON.stringify(remote));
    assert.equal(readWriterLock(dir)?.alive, true);
    const err = await expectLocked(dir, 100);
    assert.equal(err.failure.holder.host, 'some-other-host');
  });

  void it('never judges an empty lock file stale by its age; it names the way out, and unlock --force breaks it', async () => {
    const dir = collection();
    await (await acquireWriterLock(dir, { tool: 'test' })).release();
    // An empty lock: only an older version paused or killed between its create and its write leaves one.
    fs.writeFileSync(writerLockPath(dir), '');
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(writerLockPath(dir), old, old);
    assert.equal(readWriterLock(dir)?.alive, true, 'an hour-old empty lock is still taken as held');
    const err = await expectLocked(dir, 100);
    assert.equal(err.failure.holder.pid, 0);
    assert.match(err.message, /`artifact-keeper unlock --force` breaks the lock$/);
    const broken = await breakWriterLock(dir);
    assert.equal(broken?.holder.pid, 0);
    assert.equal(fs.existsSync(writerLockPath(dir)), false);
    await (await acquireWriterLock(dir, { tool: 'test', waitMs: 0 })).release();
  });

  void it('a writer stopped (SIGSTOP) at any moment of taking the lock leaves no lock or a whole one, never an empty one', async (t) => {
    const dir = collection();
    const child = spawn(process.execPath, [LOCK_CHILD, 'churn', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await firstLine(child);
    let held = 0;
    let free = 0;
    try {
      for (let round = 0; round < 60; round++) {
        await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 8));
        child.kill('SIGSTOP');
        // kill() returns before the child has stopped: on another core it can run on for a moment.
        await stopped(child);
        const lockFile = writerLockPath(dir);
        let content: string | undefined;
        try {
          content = fs.readFileSync(lockFile, 'utf8');
        } catch {
          content = undefined;
        }
        if (content === undefined) {
          free++;
          // The stopped writer holds nothing yet: a second writer takes the lock; when the first resumes,
          // its link fails and it waits, so there is never a second holder.
          const lock = await acquireWriterLock(dir, { tool: 'second', waitMs: 0 });
          await lock.release();
        } else {
          held++;
          assert.notEqual(content, '', `round ${round}: the lock file is never empty`);
          assert.equal((JSON.parse(content) as LockHolder).pid, child.pid);
          assert.equal(readWriterLock(dir)?.alive, true, 'the stopped holder is alive');
          await expectLocked(dir, 0);
        }
        child.kill('SIGCONT');
      }
    } finally {
      child.kill('SIGCONT');
      await killHard(child);
    }
    assert.ok(held > 0 && free > 0, `stopped holding ${held} times, not holding ${free} times`);
    t.diagnostic(`stopped while holding ${held}, while not holding ${free}`);
  });

  void it('a reclaimer stopped (SIGSTOP) at any moment leaves no reclaim file or one naming it, never an empty one', async (t) => {
    const dir = collection();
    await (await acquireWriterLock(dir, { tool: 'test' })).release();
    const child = spawn(process.execPath, [LOCK_CHILD, 'reclaim', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await firstLine(child);
    const reclaimFile = `${writerLockPath(dir)}.reclaim`;
    let named = 0;
    try {
      for (let round = 0; round < 200; round++) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        child.kill('SIGSTOP');
        await stopped(child);
        let content: string | undefined;
        try {
          content = fs.readFileSync(reclaimFile, 'utf8');
        } catch {
          content = undefined;
        }
        if (content !== undefined) {
          // An empty one names no one: every writer would wait for it to age (10 s), longer than they wait.
          assert.notEqual(content, '', `round ${round}: the reclaim file is never empty`);
          assert.equal((JSON.parse(content) as { pid: number }).pid, child.pid);
          named++;
        }
        child.kill('SIGCONT');
      }
    } finally {
      child.kill('SIGCONT');
      await killHard(child);
    }
    assert.ok(named > 0, 'stopped while reclaiming at least once');
    t.diagnostic(`stopped while reclaiming ${named} times in 200`);
  });

  void it('reclaims a lock of its own pid that it no longer holds (a failed release)', async () => {
    const dir = collection();
    const first = await acquireWriterLock(dir, { tool: 'test' });
    await expectLocked(dir, 0); // held by this process: live
    const leftover = fs.readFileSync(writerLockPath(dir));
    await first.release();
    fs.writeFileSync(writerLockPath(dir), leftover);
    const second = await acquireWriterLock(dir, { tool: 'test', waitMs: 0 });
    await second.release();
  });

  void it('ignores a reclaim file left by a dead reclaimer once it is 10 s old', async () => {
    const dir = collection();
    const { child } = await holdInChild(dir);
    await killHard(child);
    const reclaim = `${writerLockPath(dir)}.reclaim`;
    fs.writeFileSync(reclaim, '12345\n');
    await expectLocked(dir, 150); // a fresh reclaim file: someone is reclaiming, so wait
    const old = new Date(Date.now() - 11_000);
    fs.utimesSync(reclaim, old, old);
    const lock = await acquireWriterLock(dir, { tool: 'test', waitMs: 1000 });
    await lock.release();
    assert.equal(fs.existsSync(reclaim), false);
  });

  void it('removes at once the reclaim file of a reclaimer that was killed mid-reclaim', async () => {
    const dir = collection();
    // A stale lock (its holder killed), and a reclaimer of it killed too, between its reclaim file and the unlink.
    const { child: holder } = await holdInChild(dir);
    await killHard(holder);
    const { child: reclaimer, holder: who } = await holdInChild(collection());
    await killHard(reclaimer);
    const reclaim = `${writerLockPath(dir)}.reclaim`;
    const identity = (pid: number, pidStart: string | undefined): string =>
      `${JSON.stringify({ pid, host: os.hostname(), ...(pidStart !== undefined ? { pidStart } : {}) })}\n`;
    // While its writer runs (this process, here), a fresh reclaim file holds others off.
    fs.writeFileSync(reclaim, identity(process.pid, readPidStart(process.pid)));
    await expectLocked(dir, 150);
    // Its writer dead: taken away at once, well inside the 10 s a reclaim file's age would take.
    fs.writeFileSync(reclaim, identity(who.pid, who.pidStart));
    const lock = await acquireWriterLock(dir, { tool: 'test', waitMs: 1000 });
    await lock.release();
    assert.equal(fs.existsSync(reclaim), false);
  });

  void it('refuses a collection folder that does not exist instead of creating it', async () => {
    const dir = path.join(tempDir('ak-lock-'), 'missing');
    await assert.rejects(acquireWriterLock(dir, { tool: 'test' }), (e: unknown) =>
      isCoreError(e, 'not-a-collection'),
    );
    assert.equal(fs.existsSync(dir), false);
  });

  void it('reports a state folder it cannot create as io-failed', async () => {
    const dir = collection();
    const plan = new FaultPlan([{ op: 'mkdir', nth: 1, errno: 'EACCES' }]);
    await assert.rejects(
      acquireWriterLock(dir, { tool: 'test', fs: withFaults(nodeFs, plan) }),
      (e: unknown) => {
        assert.ok(isCoreError(e, 'io-failed'));
        assert.equal(e.failure.errno, 'EACCES');
        return true;
      },
    );
    assert.equal(fs.existsSync(writerLockPath(dir)), false);
  });
});
