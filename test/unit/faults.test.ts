/**
 * IO faults through the CLI (issue 6, issue 3): the fault matrix of `update` and `restore`
 * (support/faultMatrix.ts; the project moves are in projectFaults.test.ts, which CI runs beside this file).
 * Plus: git failing inside the snapshot step, a read-only collection (a read-only bind mount: we run as
 * root, which ignores chmod) and a full disk (a small tmpfs filled to several levels).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { PRUNED_SINCE_GC_FILE } from '../../src/core/store/snapshots.js';
import { takeSnapshot } from '../../src/core/transfer/restore.js';
import { GC_EVERY } from '../../src/core/transfer/retention.js';
import { buildFixture, OUT_CLI, PINNED_CLOCK, resetFixture } from '../torture/fixture.js';
import type { CliRun, Fixture } from '../torture/fixture.js';
import { leftovers, listTree, sameListing } from '../torture/tree.js';
import { tempDir } from './support/collections.js';
import { messageLines, runMatrix } from './support/faultMatrix.js';

void describe('IO faults through ARTIFACT_KEEPER_FAULT', () => {
  let fx: Fixture;
  const covered = new Set<string>();
  before(async () => {
    fx = await buildFixture(tempDir('ak-faults-'), 'tiny', OUT_CLI);
  });

  for (const operation of ['update', 'restore'] as const) {
    void it(`${operation}: a fault at any IO call site gives exit 4 and the before-tree, or exit 0 and the after-tree`, async (t) => {
      const { diagnostic, kinds, problems } = await runMatrix(fx, operation, covered);
      t.diagnostic(diagnostic);
      assert.ok(
        kinds.includes('writeFile') &&
          kinds.includes('fsync') &&
          kinds.includes('rename') &&
          kinds.includes('mkdir'),
      );
      assert.deepEqual(problems, []);
    });
  }

  void it('snapshot: git failing while taking it gives exit 4, one line, no new snapshot (it runs none after one change); failing in retention, a warning', async () => {
    // The same clock and retention as the CLI runs below, so retention prunes (and runs its git) in both.
    // Its `git gc` is amortised over GC_EVERY pruned snapshots: every run starts with it due, so the
    // reference and each faulted run make the same git calls whatever earlier tests left in the store.
    const makeGcDue = (): void =>
      fs.writeFileSync(
        path.join(fx.dir, '.artifact-keeper/snapshots.git', PRUNED_SINCE_GC_FILE),
        `${GC_EVERY - 1}\n`,
      );
    makeGcDue();
    const plan = new FaultPlan([]);
    await takeSnapshot(
      fx.dir,
      { message: 'count' },
      {
        // One plan sees both: the git calls, and the writes of the snapshot's objects and ref.
        fs: withFaults(nodeFs, plan),
        logger: silentLogger,
        tool: 'faults-test',
        faults: plan,
        clock: PINNED_CLOCK,
        retention: { keep: 3 },
      },
    );
    const gitCalls = plan.calls.filter((c) => c.op === 'git');
    // The snapshot exists once its ref is created (here, not by git: a rename into refs/snapshots/);
    // the git calls after it are retention's (list, prune, gc). Git failing while the objects of a
    // snapshot are written is in snapshots.test.ts, where git writes them.
    const refAt = plan.calls.findIndex((c) => c.op === 'rename' && c.path.includes('/refs/snapshots/'));
    assert.ok(refAt > 0, 'the snapshot ref is created through the Fs port');
    const refCreated = plan.calls.slice(0, refAt).filter((c) => c.op === 'git').length;
    assert.ok(
      gitCalls.length > refCreated,
      `retention runs git (${gitCalls.map((c) => c.path.split(' ')[0]).join(', ')})`,
    );
    assert.ok(
      gitCalls.some((c) => /(^| )gc( |$)/.test(c.path)),
      `retention collects (${gitCalls.map((c) => c.path.split(' ')[0]).join(', ')})`,
    );
    const ids = (text: string): string[] =>
      ((JSON.parse(text) as { snapshots: { id: string }[] }).snapshots ?? []).map((s) => s.id);
    const problems: string[] = [];
    for (let nth = 1; nth <= gitCalls.length; nth++) {
      resetFixture(fx);
      const before = ids(fx.run(['snapshots', '--json']).stdout);
      makeGcDue();
      const run = fx.run(['snapshot', '-m', 'faulted', '--keep', '3', '--max-age-days', '0'], {
        ARTIFACT_KEEPER_FAULT: `git:${nth}:EIO`,
      });
      const where = `snapshot git:${nth}:EIO (${gitCalls[nth - 1]?.path.split(' ')[0] ?? '?'})`;
      const lines = messageLines(run.stderr);
      const added = ids(fx.run(['snapshots', '--json']).stdout).filter((id) => !before.includes(id));
      if (nth <= refCreated) {
        if (run.code !== 4) problems.push(`${where}: exit ${run.code}, wanted 4`);
        else if (lines.length !== 1 || !/^artifact-keeper: git \S+ failed: /.test(lines[0] ?? '')) {
          problems.push(`${where}: message ${JSON.stringify(lines)}`);
        }
        if (added.length > 0) problems.push(`${where}: a snapshot was added anyway`);
      } else {
        // Retention failing leaves the snapshot taken: exit 0, and a warning says retention did not run.
        if (run.code !== 0 || added.length !== 1)
          problems.push(`${where}: exit ${run.code} with ${added.length} new snapshot(s)`);
        if (!/retention|prune/i.test(run.stderr))
          problems.push(`${where}: no warning about retention: ${run.stderr.trim()}`);
      }
      if (!sameListing(listTree(fx.dir), fx.pristine)) problems.push(`${where}: the collection changed`);
      const left = leftovers(fx.dir);
      if (left.length > 0) problems.push(`${where}: left behind ${left.join(', ')}`);
    }
    resetFixture(fx);
    assert.deepEqual(problems, []);
  });
});

// ---------------------------------------------------------------------------------------------------------

function mount(args: string[]): { ok: boolean; error: string } {
  const result = spawnSync('mount', args, { encoding: 'utf8' });
  return { ok: result.status === 0, error: (result.stderr || result.error?.message || '').trim() };
}

function umount(dir: string): void {
  spawnSync('umount', [dir], { encoding: 'utf8' });
}

void describe('a read-only collection (read-only bind mount)', () => {
  let fx: Fixture;
  let mounted = false;
  let mountError = '';
  before(async () => {
    fx = await buildFixture(tempDir('ak-readonly-'), 'tiny', OUT_CLI);
    const bind = mount(['--bind', fx.dir, fx.dir]);
    const ro = bind.ok ? mount(['-o', 'remount,bind,ro', fx.dir]) : bind;
    mounted = bind.ok;
    mountError = ro.error;
    if (bind.ok && !ro.ok) umount(fx.dir);
    mounted = bind.ok && ro.ok;
  });
  after(() => {
    if (mounted) umount(fx.dir);
  });

  // Regression: `add` said "mkdir …/.artifact-keeper/tmp/<pid> failed: ENOENT" (Node's recursive mkdir
  // reports EROFS as ENOENT); its fetch, which runs before the writer lock, now creates one level at a time.
  void it('status works; every mutating command fails with exit 4, one line naming the folder, and writes nothing', (t) => {
    // Without mount rights (an unprivileged container) the same refusal is simulated at every write.
    const env: Record<string, string> = mounted ? {} : { ARTIFACT_KEEPER_FAULT: '*:1:EROFS' };
    t.diagnostic(
      mounted
        ? 'collection mounted read-only'
        : `mount refused (${mountError}): EROFS injected at the first write instead`,
    );
    const everything = listTree(fx.dir, new Set());
    const status = fx.run(['status'], env);
    assert.equal(status.code, 1, status.stderr);
    const problems: string[] = [];
    const commands: string[][] = [
      fx.args('update-overwrite'),
      fx.args('restore'),
      fx.args('add'),
      fx.args('import'),
      ['snapshot', '-m', 'read-only'],
      ['recover'],
    ];
    for (const args of commands) {
      const run: CliRun = fx.run(args, env);
      const lines = messageLines(run.stderr);
      const where = args.slice(0, 2).join(' ');
      if (run.code !== 4) problems.push(`${where}: exit ${run.code}, wanted 4: ${run.stderr.trim()}`);
      if (lines.length !== 1) problems.push(`${where}: ${lines.length} message lines`);
      else if (!lines[0]?.includes(fx.dir) || !/EROFS|read-only/i.test(lines[0]))
        problems.push(`${where}: unclear message: ${lines[0]}`);
      if (!sameListing(listTree(fx.dir, new Set()), everything))
        problems.push(`${where}: something was written`);
    }
    assert.deepEqual(problems, []);
  });
});

// Regression: a fetch that ran out of space exited 69 "upstream … is unreachable", and several git
// failures hid the cause ("git checkout failed: unable to write file SKILL.md"); see isOutOfSpace.
void describe('a full disk (a small tmpfs)', () => {
  void it('at every level of free space, update ends exit 4 with the before-tree or exit 0 with the after-tree', async (t) => {
    const root = tempDir('ak-fulldisk-');
    const dir = path.join(root, 'collection');
    fs.mkdirSync(dir);
    const mounted = mount(['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
    if (!mounted.ok) {
      // Not permitted here: ENOSPC is then covered through the fault port above (every site × ENOSPC).
      t.diagnostic(`tmpfs mount refused (${mounted.error}); ENOSPC is covered by the fault-port cases`);
      assert.match(mounted.error, /permission|not permitted|only root|must be superuser/i);
      return;
    }
    try {
      const fx = await buildFixture(root, 'tiny', OUT_CLI);
      const filler = path.join(dir, '.artifact-keeper', 'filler');
      // The after-tree, from a run with room to spare.
      const done = fx.run(fx.args('update-overwrite'));
      assert.equal(done.code, 0, done.stderr);
      const afterTree = listTree(dir);
      const problems: string[] = [];
      const outcomes: string[] = [];
      let successes = 0;
      for (let free = 0; free <= 1024 * 1024 && successes < 2; free += 12 * 1024) {
        fs.rmSync(filler, { force: true });
        resetFixture(fx);
        const stats = fs.statfsSync(dir);
        const available = stats.bavail * stats.bsize;
        try {
          fs.writeFileSync(filler, Buffer.alloc(Math.max(0, available - free)));
        } catch {
          // The filler itself hit the limit: the disk is as full as it gets.
        }
        const run = fx.run(fx.args('update-overwrite'));
        const tree = listTree(dir);
        const isBefore = sameListing(tree, fx.pristine);
        const isAfter = sameListing(tree, afterTree);
        const where = `${free / 1024} KiB free`;
        outcomes.push(`${free / 1024}K:${run.code}`);
        if (run.code === 0 && isAfter) successes++;
        else if (run.code === 4 && isBefore) {
          successes = 0;
          const lines = messageLines(run.stderr);
          if (lines.length !== 1 || !/ENOSPC|no space|out of disk ?space/i.test(lines[0] ?? ''))
            problems.push(`${where}: unclear message ${JSON.stringify(lines)}`);
        } else
          problems.push(
            `${where}: exit ${run.code} with ${isBefore ? 'the before-tree' : isAfter ? 'the after-tree' : 'NEITHER tree'}: ${run.stderr.trim().split('\n').pop()}`,
          );
        if (fs.existsSync(path.join(dir, '.artifact-keeper', 'writer.lock')))
          problems.push(`${where}: lock not released`);
        // Committed with its cleanup cut short by the full disk: the journal stays for recovery, by design.
        const left = leftovers(dir, { allowJournal: run.code === 0 && isAfter });
        if (left.length > 0) problems.push(`${where}: left behind ${left.join(', ')}`);
        fs.rmSync(filler, { force: true });
        const recover = fx.run(['recover']);
        if (recover.code !== 0) problems.push(`${where}: recover exited ${recover.code}`);
        const rest = leftovers(dir);
        if (rest.length > 0) problems.push(`${where}: after recover, still left ${rest.join(', ')}`);
      }
      t.diagnostic(`free space → exit code: ${outcomes.join(' ')}`);
      assert.ok(
        outcomes.some((o) => o.endsWith(':4')),
        'some levels were too full to update',
      );
      assert.ok(successes > 0, 'with enough room the update went through');
      assert.deepEqual(problems, []);
    } finally {
      umount(dir);
    }
  });
});
