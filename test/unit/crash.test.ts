/**
 * kill -9 of the real CLI (issue 3, DESIGN §9 "crash tests"), in the unit suite: on a small collection
 * with a local git upstream, `restore` and `update` (overwrite, merge) are SIGKILLed at seeded random
 * moments, half of them timed from the journal's appearance so they land inside the critical section.
 * After each kill the next command runs (`status` then `recover`, the same command again, or another
 * mutating command) and the collection must be exactly its before-tree or its after-tree, as the kill's
 * landing point dictates. The engine is test/torture/engine.ts, the same one `npm run torture` drives
 * on the 11k-file collection; test/unit/transaction.test.ts covers the engine below the CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { runCampaign } from '../torture/engine.js';
import type { CampaignReport, ProblemCategory, TrialRecord } from '../torture/engine.js';
import { buildFixture, cliEnv, OUT_CLI } from '../torture/fixture.js';
import { leftovers, listTree, sameListing } from '../torture/tree.js';
import { tempDir } from './support/collections.js';

const TRIALS = 50;
const SEED = 0x5eed;

function problemsOf(report: CampaignReport, ...categories: ProblemCategory[]): string[] {
  return report.trials.flatMap((t: TrialRecord) =>
    t.problems
      .filter((p) => categories.includes(p.category))
      .map(
        (p) =>
          `trial ${t.index} (${t.kind}, kill ${t.plan.from}+${t.plan.afterMs} ms, ${t.landing}, ${t.followUp}): ${p.message}`,
      ),
  );
}

void describe('kill -9 of the CLI during restore and update', () => {
  let report: CampaignReport;
  before(async () => {
    report = await runCampaign({
      size: 'small',
      trials: TRIALS,
      seed: SEED,
      cli: OUT_CLI,
      kinds: ['restore', 'update-overwrite', 'update-merge'],
    });
  });

  void it(`${TRIALS} seeded trials: every collection is exactly its before- or after-tree, as the kill's landing point dictates`, (t) => {
    const count = (landing: string): number =>
      report.trials.filter((trial) => trial.landing === landing).length;
    t.diagnostic(
      `landings: before the journal ${count('before-journal')}, critical section ${count('critical')}, after commit ${count('after-commit')}, finished first ${count('finished')}; ` +
        `outcomes: before ${report.trials.filter((x) => x.outcome === 'before').length}, after ${report.trials.filter((x) => x.outcome === 'after').length}; ${(report.ms / 1000).toFixed(1)} s`,
    );
    assert.equal(report.trials.length, TRIALS);
    assert.deepEqual(problemsOf(report, 'inconsistent', 'outcome'), []);
    assert.equal(report.trials.filter((trial) => trial.outcome === 'neither').length, 0);
    // Where each kill lands depends on timing; that kills landed at all (and some inside) does not.
    assert.ok(
      report.trials.filter((trial) => trial.landing !== 'finished').length >= TRIALS / 2,
      'most trials were killed',
    );
    assert.ok(
      count('critical') + count('after-commit') > 0,
      'some kills landed after the journal was written',
    );
  });

  void it('status says interrupted and changes nothing; recover rolls back before the commit point and finishes after it', () => {
    assert.deepEqual(problemsOf(report, 'status', 'recover'), []);
  });

  void it('every committed transaction is in the history exactly once, whoever recorded it', () => {
    assert.deepEqual(problemsOf(report, 'history'), []);
  });

  // Regression: `update` used to plan before it took the writer lock and recovered, so right after a
  // crash it exited 65 "the plan is stale", or reported every artifact "up to date (v2)" with exit 0
  // while recovery had just rolled the collection back to v1.
  void it('the next mutating command recovers first, then does its job: a rerun ends in the after-state', () => {
    assert.deepEqual(problemsOf(report, 'rerun'), []);
  });

  // Regression: a killed update or add used to leave its fetch workspaces in .artifact-keeper/tmp.
  void it('no journal, work area, temp folder or stale lock survives once the next command has run', () => {
    assert.deepEqual(problemsOf(report, 'leftover'), []);
  });

  void it('every other command of the trials did what it should (exit codes, snapshot list)', () => {
    assert.deepEqual(problemsOf(report, 'command'), []);
  });
});

// Regression: a git of the snapshot store killed together with the CLI (kill -9 of the process group, a
// container stop, the OOM killer taking the tree) leaves its lock file behind, e.g. refs/snapshots/<id>.lock
// from `update-ref --stdin` in retention; every later `snapshot --keep …` used to fail with exit 4
// "cannot lock ref". The mutating commands now sweep such locks under the writer lock.
void describe('a git lock left by a snapshot-store git killed with the CLI', () => {
  void it('does not block the store: the next snapshot with retention succeeds and prunes', async () => {
    const fx = await buildFixture(tempDir('ak-gitlock-'), 'tiny', OUT_CLI);
    for (let i = 0; i < 3; i++) assert.equal(fx.run(['snapshot', '-m', `filler ${i}`]).code, 0);
    const list = JSON.parse(fx.run(['snapshots', '--json']).stdout) as {
      snapshots: { id: string; pinned: boolean }[];
    };
    const doomed = list.snapshots.filter((s) => !s.pinned).slice(1);
    assert.ok(doomed.length >= 2);
    const refs = path.join(fx.dir, '.artifact-keeper', 'snapshots.git', 'refs', 'snapshots');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const s of doomed) {
      const lock = path.join(refs, `${s.id}.lock`);
      fs.writeFileSync(lock, '');
      fs.utimesSync(lock, hourAgo, hourAgo);
    }
    const recover = fx.run(['recover']);
    assert.equal(recover.code, 0, recover.stderr);
    const snapshot = fx.run(['snapshot', '-m', 'after the crash', '--keep', '1', '--max-age-days', '0']);
    assert.equal(snapshot.code, 0, snapshot.stderr);
    const after = JSON.parse(fx.run(['snapshots', '--json']).stdout) as {
      snapshots: { id: string; pinned: boolean }[];
    };
    assert.equal(after.snapshots.filter((s) => !s.pinned).length, 1, 'retention pruned the old snapshots');
    assert.deepEqual(
      fs.readdirSync(refs).filter((name) => name.endsWith('.lock')),
      [],
      'no stale git lock is left',
    );
  });

  // Regression (found by the campaign): an import killed inside `index-pack` left objects/pack/tmp_pack_*
  // and tmp_idx_* behind, a gc killed while writing the commit graph objects/info/commit-graph.lock, and
  // nothing ever removed them.
  void it("removes the temp files of an object write cut short, and keeps the store's packs", async () => {
    const fx = await buildFixture(tempDir('ak-gittmp-'), 'tiny', OUT_CLI);
    const objects = path.join(fx.dir, '.artifact-keeper', 'snapshots.git', 'objects');
    const packs = (): string[] => fs.readdirSync(path.join(objects, 'pack')).sort();
    const kept = packs();
    fs.writeFileSync(path.join(objects, 'pack', 'tmp_pack_Ab12Cd'), 'PACK half written');
    fs.writeFileSync(path.join(objects, 'pack', 'tmp_idx_Ab12Cd'), '');
    fs.mkdirSync(path.join(objects, 'incoming-Xy34Zw', 'pack'), { recursive: true });
    fs.writeFileSync(path.join(objects, 'tmp_obj_Qq99Rr'), '');
    fs.mkdirSync(path.join(objects, 'info'), { recursive: true });
    fs.writeFileSync(path.join(objects, 'info', 'commit-graph.lock'), '');
    // A ref named like a temp file (an artifact called tmp_…) is not git's garbage.
    const upstreamRefs = path.join(objects, '..', 'refs', 'upstream', 'skill');
    const [someRef] = fs.readdirSync(upstreamRefs);
    assert.ok(someRef, 'the fixture stored an upstream tree');
    fs.copyFileSync(path.join(upstreamRefs, someRef), path.join(upstreamRefs, 'tmp_keep'));
    const recover = fx.run(['recover']);
    assert.equal(recover.code, 0, recover.stderr);
    assert.deepEqual(packs(), kept);
    assert.deepEqual(
      fs.readdirSync(objects).filter((name) => /^(tmp_|incoming-)/.test(name)),
      [],
    );
    assert.equal(fs.existsSync(path.join(objects, 'info', 'commit-graph.lock')), false);
    assert.equal(fs.existsSync(path.join(upstreamRefs, 'tmp_keep')), true);
    assert.equal(fx.run(['snapshot', '-m', 'after']).code, 0);
    assert.deepEqual(leftovers(fx.dir), []);
  });
});

// Regression: `status` loaded the manifest before it looked for a journal, so in the collection.toml
// window it exited 66 "no collection.toml here" instead of 2 "interrupted".
void describe('a kill at the one moment the manifest or the lock is not on disk', () => {
  for (const file of ['collection.toml', 'collection.lock']) {
    void it(`between the two renames of ${file}: status says interrupted (exit 2), the next update finishes the job`, async () => {
      const fx = await buildFixture(tempDir('ak-window-'), 'tiny', OUT_CLI);
      const child = spawnSync(
        process.execPath,
        [path.join(__dirname, '..', 'torture', 'crashChild.js'), fx.dir, file],
        {
          env: cliEnv(),
          encoding: 'utf8',
        },
      );
      assert.equal(
        child.signal,
        'SIGKILL',
        `the child died at the crash point: ${child.stdout}${child.stderr}`,
      );
      assert.equal(fs.existsSync(path.join(fx.dir, file)), false, `${file} is not on disk`);
      const seen = listTree(fx.dir);
      const status = fx.run(['status']);
      assert.equal(status.code, 2, `status: ${status.stdout}${status.stderr}`);
      assert.match(status.stdout, /interrupted/);
      assert.ok(sameListing(listTree(fx.dir), seen), 'status changed nothing');
      const update = fx.run(fx.args('update-overwrite'));
      assert.equal(update.code, 0, update.stderr);
      const done = fx.run(['status']);
      assert.equal(done.code, 0, done.stdout);
      assert.deepEqual(leftovers(fx.dir), []);
    });
  }
});
