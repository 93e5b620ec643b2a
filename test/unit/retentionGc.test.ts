/**
 * Amortised retention: every update past the retention count deletes the oldest snapshot's refs, but
 * the `git gc` that repacks the store runs only once enough pruned snapshots accumulated (GC_EVERY), so
 * 25 updates with keep 20 collect at most once (counted through the git port's call recording). The
 * garbage is really collected by the gc that follows: `snapshots prune` (gc: true) removes the objects
 * only a pruned snapshot held.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger, STATE_DIR } from '../../src/core/base/changes.js';
import { FaultPlan } from '../../src/core/ports/faults.js';
import { acquireWriterLock, WRITER_LOCK_FILE } from '../../src/core/txn/writerLock.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { PRUNED_SINCE_GC_FILE, SNAPSHOT_REPO } from '../../src/core/store/snapshots.js';
import { listSnapshots, pruneSnapshots } from '../../src/core/transfer/restore.js';
import { GC_EVERY } from '../../src/core/transfer/retention.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import { runCli, tempDir } from './support/collections.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';

const UPDATES = 25;
const KEEP = 20;
const skill = (text: string): string => `---\nname: s0\ndescription: skill\n---\n${text}\n`;
const localText = (i: number): string => `local note written before update ${i}\n`;

function blobId(text: string): string {
  return spawnSync('git', ['hash-object', '--stdin'], { input: text, encoding: 'utf8' }).stdout.trim();
}

function hasObject(gitDir: string, id: string): boolean {
  return spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', id]).status === 0;
}

describe('retention gc is amortised', () => {
  it(`${UPDATES} updates with keep ${KEEP} gc at most once; the next gc removes the pruned objects`, async () => {
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      { files: { 'skills/s0/SKILL.md': skill('v0') } },
    ]);
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const added = runCli(['add', `${up.url}#skills/s0`, '--collection', dir]);
    assert.equal(added.code, 0, added.stderr);
    const gitDir = path.join(dir, STATE_DIR, SNAPSHOT_REPO);
    const local = path.join(dir, 'skills/s0/NOTES.md');

    let gcs = 0;
    for (let i = 1; i <= UPDATES; i++) {
      // A local file only the snapshot before update i holds (the next one has the next text).
      fs.writeFileSync(local, localText(i));
      commitUpstream(up, { files: { 'skills/s0/SKILL.md': skill(`v${i}`) } });
      const plan = new FaultPlan([]);
      const run = await updateArtifacts(
        dir,
        ['skill/s0'],
        { strategy: 'overwrite' },
        { fs: nodeFs, logger: silentLogger, tool: 'test', faults: plan, retention: { keep: KEEP } },
      );
      assert.deepEqual(
        run.outcomes.map((o) => o.outcome),
        ['updated'],
        `update ${i}`,
      );
      gcs += plan.calls.filter((c) => c.op === 'git' && / gc /.test(` ${c.path} `)).length;
    }
    const snapshots = await listSnapshots(dir, { fs: nodeFs, logger: silentLogger });
    assert.equal(snapshots.length, KEEP, 'the refs of the older snapshots are deleted at every update');
    const pruned = UPDATES + 2 - KEEP; // add and init's snapshots too, at most
    assert.ok(gcs <= Math.ceil(pruned / GC_EVERY), `${gcs} gc runs for ${pruned} pruned snapshots`);
    assert.ok(gcs < UPDATES + 2 - KEEP, `gc ran ${gcs} times: not amortised`);

    // The first update's snapshot is pruned; its local note is still in the store until the next gc
    // (unless that gc already came), and gone after it.
    const firstNote = blobId(localText(1));
    const lastNote = blobId(localText(UPDATES));
    const plan = new FaultPlan([]);
    await pruneSnapshots(
      dir,
      { keep: KEEP },
      { fs: nodeFs, logger: silentLogger, tool: 'test', faults: plan },
    );
    assert.equal(
      plan.calls.filter((c) => c.op === 'git' && / gc /.test(` ${c.path} `)).length,
      1,
      'an explicit prune collects',
    );
    assert.equal(hasObject(gitDir, firstNote), false, 'a pruned snapshot’s own objects are collected');
    assert.equal(hasObject(gitDir, lastNote), true, 'a kept snapshot’s objects stay');
    assert.equal(fs.readFileSync(path.join(gitDir, PRUNED_SINCE_GC_FILE), 'utf8'), '0\n');
    assert.equal((await listSnapshots(dir, { fs: nodeFs, logger: silentLogger })).length, KEEP);
  });

  it('in a process that lives on, the gc waits for the answer: run after it as the writer, skipped while another writes', async () => {
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      { files: { 'skills/s0/SKILL.md': skill('v0') } },
    ]);
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    assert.equal(runCli(['add', `${up.url}#skills/s0`, '--collection', dir]).code, 0);
    const gitDir = path.join(dir, STATE_DIR, SNAPSHOT_REPO);
    const countFile = path.join(gitDir, PRUNED_SINCE_GC_FILE);
    const later: (() => Promise<void>)[] = [];
    const plan = new FaultPlan([]);
    const gcRuns = (): number =>
      plan.calls.filter((c) => c.op === 'git' && / gc /.test(` ${c.path} `)).length;
    const update = async (i: number): Promise<void> => {
      commitUpstream(up, { files: { 'skills/s0/SKILL.md': skill(`v${i}`) } });
      const run = await updateArtifacts(
        dir,
        ['skill/s0'],
        { strategy: 'overwrite' },
        {
          fs: nodeFs,
          logger: silentLogger,
          tool: 'test',
          faults: plan,
          retention: { keep: 1 },
          defer: (work) => later.push(work),
        },
      );
      assert.deepEqual(
        run.outcomes.map((o) => o.outcome),
        ['updated'],
      );
    };
    // After the answer the daemon runs what was left (the parse cache's entries, a gc that came due).
    const runLater = async (): Promise<void> => {
      for (const work of later.splice(0)) await work();
    };
    // Keep 1: every update prunes; the gc comes due at the GC_EVERY-th and is left for later.
    for (let i = 1; i <= GC_EVERY + 1; i++) await update(i);
    assert.equal(gcRuns(), 0, 'no update collected before it returned');
    assert.ok(Number(fs.readFileSync(countFile, 'utf8')) >= GC_EVERY);
    // Another writer holds the lock: the gc is skipped, still due.
    const lock = await acquireWriterLock(dir, { tool: 'another', fs: nodeFs });
    await runLater();
    assert.equal(gcRuns(), 0, 'not while another writes');
    assert.ok(Number(fs.readFileSync(countFile, 'utf8')) >= GC_EVERY, 'still due');
    await lock.release();
    // Two more updates, each leaving the gc for later: the first collects, the second finds it done.
    await update(GC_EVERY + 2);
    await update(GC_EVERY + 3);
    assert.equal(gcRuns(), 0);
    await runLater();
    assert.equal(gcRuns(), 1, 'as the writer, once, when the lock is free');
    assert.equal(fs.readFileSync(countFile, 'utf8'), '0\n');
    assert.equal(fs.existsSync(path.join(dir, STATE_DIR, WRITER_LOCK_FILE)), false, 'the lock released');
  });
});
