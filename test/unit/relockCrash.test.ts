/**
 * Regression (issue 15, the 500-trial campaign of 2026-12-04: trials 10, 230 and 490): `relock
 * --all-modified` killed inside its critical section, then run again, ended in the before-state. The CLI
 * chose the modified artifacts with a check made before the writer lock and recovery; while the lock was
 * mid-rename that check listed nothing, recovery then rolled the first relock back, and the rerun
 * re-locked nothing. Here the relock stops dead before each of its IO calls in turn (a deterministic
 * kill -9) from its journal's first write on, and the rerun through the real CLI must end exactly where an uninterrupted relock ends.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { fixedClock } from '../../src/core/base/time.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { Fs } from '../../src/core/ports/fs.js';
import { ALL_MODIFIED, relockArtifacts } from '../../src/core/transfer/relock.js';
import { WRITER_LOCK_FILE } from '../../src/core/txn/writerLock.js';
import { copySharedFixture, runCli } from './support/collections.js';
import { freezeBefore } from './support/faults.js';

const NOW = '2025-06-01T12:00:00.000Z';
const env = { ARTIFACT_KEEPER_NOW: NOW };

function editedCollection(): string {
  const dir = copySharedFixture();
  fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'a local edit\n');
  return dir;
}

const relock = (dir: string, fsPort: Fs): Promise<unknown> =>
  relockArtifacts(dir, ALL_MODIFIED, {
    fs: fsPort,
    logger: silentLogger,
    tool: 'relock-crash-test',
    clock: fixedClock(new Date(NOW)),
  });

const lockOf = (dir: string): string => fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8');

void describe('relock --all-modified after a crash at any point', () => {
  void it('the rerun recovers first, then re-locks what is modified: always the after-state', async () => {
    const reference = editedCollection();
    const before = lockOf(reference);
    const run = runCli(['relock', '--all-modified', '--collection', reference], { env });
    assert.equal(run.code, 0, run.stderr);
    const after = lockOf(reference);
    assert.notEqual(after, before, 'the uninterrupted relock changes the lock');

    const recorded = editedCollection();
    const plan = new FaultPlan([]);
    await relock(recorded, withFaults(nodeFs, plan));
    assert.equal(lockOf(recorded), after, 'in-process and CLI relocks agree');
    assert.ok(plan.calls.length > 5, `${plan.calls.length} calls`);

    // Before the journal the lock is untouched (the snapshot and the lock file come first): every crash
    // from the journal's first write on, where the old CLI could misread the collection.
    const journalAt = plan.calls.findIndex((c) => c.path.includes('journal'));
    assert.ok(journalAt > 0, 'the relock writes a journal');
    let midRename = 0;
    for (let k = journalAt - 1; k < plan.calls.length; k++) {
      const call = plan.calls[k];
      const dir = editedCollection();
      const { fs: frozenFs, frozen } = freezeBefore(nodeFs, k);
      void relock(dir, frozenFs);
      await frozen;
      if (!fs.existsSync(path.join(dir, 'collection.lock'))) midRename++;
      // The frozen writer is this (live) process: its lock is what a dead process's lock would be.
      fs.rmSync(path.join(dir, '.artifact-keeper', WRITER_LOCK_FILE), { force: true });
      const rerun = runCli(['relock', '--all-modified', '--collection', dir], { env });
      const label = `crash before call ${k} (${call?.op} ${call?.path})`;
      assert.equal(rerun.code, 0, `${label}: ${rerun.stderr}`);
      assert.equal(
        lockOf(dir),
        after,
        `${label}: the rerun did not end in the after-state (${rerun.stdout.trim()})`,
      );
      const status = runCli(['status', '--collection', dir], { env });
      assert.equal(status.code, 0, `${label}: status after the rerun: ${status.stdout}`);
    }
    assert.ok(midRename > 0, 'some crash left the lock mid-rename, the case the campaign found');
  });
});
