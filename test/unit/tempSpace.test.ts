/**
 * Temp files of the derived caches (parse cache, stat cache, check results) and how the sweeps judge
 * them: the caches are written through the Fs port, temp then rename, under writeFileAtomic's names, and a temp
 * that a live reader is still writing survives a writer's recovery and sweep, while a dead writer's or
 * an old one goes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { STATE_DIR } from '../../src/core/base/changes.js';
import { openParseCache, parseCacheEntry } from '../../src/core/model/parseCache.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { atomicTempName, atomicTempOwner, nodeFs } from '../../src/core/ports/fs.js';
import { isAbandonedTemp, STRAY_TEMP_AGE_MS, sweepStaleTemp } from '../../src/core/ports/tempSpace.js';
import { emptyStatCache, loadStatCache, saveStatCache } from '../../src/core/status/statCache.js';
import { projectLockPath, withProjectLock } from '../../src/core/projects/projectLock.js';
import { recoverJournal } from '../../src/core/txn/transaction.js';
import { copySharedFixture, tempDir } from './support/collections.js';

/** A pid that ran and is gone (a fresh child, waited for). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

const temps = (dir: string): string[] =>
  fs
    .readdirSync(path.join(dir, STATE_DIR))
    .filter((name) => name.endsWith('.ak-tmp'))
    .sort();

describe('cache temps and the sweeps', () => {
  it('names a temp after its writer, and reads the pid back from that name only', () => {
    const name = atomicTempName('parse-cache.json');
    assert.match(name, /^\.parse-cache\.json\.\d+\.[0-9a-f]{8}\.ak-tmp$/);
    assert.equal(atomicTempOwner(name), process.pid);
    assert.equal(atomicTempOwner('.status-cache.json.999999999.abc.ak-tmp'), 999999999);
    // The names the caches used before: the pid is not where writeFileAtomic puts it.
    assert.equal(atomicTempOwner(`parse-cache.json.${process.pid}.ak-tmp`), undefined);
    assert.equal(atomicTempOwner('parse-cache.json'), undefined);
  });

  it("keeps a live reader's cache temp through recovery and the sweep, and the save then completes", async () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
    const manifest = fs.readFileSync(path.join(dir, 'collection.toml'));
    const entry = parseCacheEntry(dir, createHash('sha256').update(manifest).digest('hex'));
    fs.rmSync(entry, { force: true });
    const cache = openParseCache(dir);
    cache.parse(manifest, 'collection.toml');
    // The reader pauses between writing its temp and the rename: still being written.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reachedRename = (): void => undefined;
    const atRename = new Promise<void>((resolve) => (reachedRename = resolve));
    const paused = {
      ...nodeFs,
      rename: async (from: string, to: string): Promise<void> => {
        reachedRename();
        await gate;
        await nodeFs.rename(from, to);
      },
    };
    const saving = cache.save(paused);
    await atRename;
    const [live] = temps(dir);
    assert.ok(live !== undefined && atomicTempOwner(live) === process.pid, `a temp of ours: ${String(live)}`);
    assert.equal(isAbandonedTemp(path.join(dir, STATE_DIR, live)), false);

    assert.equal(await recoverJournal(dir), 'none');
    sweepStaleTemp(dir);
    assert.deepEqual(temps(dir), [live], "the live reader's temp is left alone");

    release();
    await saving;
    assert.deepEqual(temps(dir), [], 'renamed into place');
    assert.ok(fs.existsSync(entry));
  });

  it('removes a dead writer’s cache temp and an old one, in recovery and in the sweep', async () => {
    for (const sweep of ['recover', 'sweep'] as const) {
      const dir = copySharedFixture();
      const state = path.join(dir, STATE_DIR);
      fs.mkdirSync(state, { recursive: true });
      const dead = `.status-cache.json.${deadPid()}.0badc0de.ak-tmp`;
      const old = atomicTempName('parse-cache.json');
      const fresh = atomicTempName('check.json');
      for (const name of [dead, old, fresh]) fs.writeFileSync(path.join(state, name), '{"torn');
      const longAgo = new Date(Date.now() - STRAY_TEMP_AGE_MS - 60_000);
      fs.utimesSync(path.join(state, old), longAgo, longAgo);
      assert.equal(isAbandonedTemp(path.join(state, dead)), true, 'its writer is gone');
      assert.equal(isAbandonedTemp(path.join(state, old)), true, 'older than any write takes');
      if (sweep === 'recover') assert.equal(await recoverJournal(dir), 'none');
      else sweepStaleTemp(dir);
      assert.deepEqual(temps(dir), [fresh], `${sweep}: only the live, recent temp stays`);
    }
  });

  it('writes the stat cache through the Fs port, temp then rename: a fault there leaves the old cache whole', async () => {
    const dir = copySharedFixture();
    const cacheFile = path.join(dir, STATE_DIR, 'status-cache.json');
    await saveStatCache(nodeFs, dir, emptyStatCache());
    const before = fs.readFileSync(cacheFile);
    const plan = new FaultPlan([{ op: 'rename', nth: 1, errno: 'EIO' }]);
    const bigger = emptyStatCache();
    bigger.artifacts.x = { path: 'x', hash: 'h', files: [], dirs: [], racy: false };
    await saveStatCache(withFaults(nodeFs, plan), dir, bigger);
    assert.ok(plan.fired, 'the fault reached the cache write');
    assert.ok(
      plan.calls.some((c) => c.op === 'writeFile' && path.basename(c.path).startsWith('.status-cache.json.')),
      'written under a temp name first',
    );
    assert.deepEqual(fs.readFileSync(cacheFile), before, 'the cache is the old one, whole');
    assert.deepEqual(temps(dir), [], 'the temp is removed');
  });

  it('writes the derived caches without fsync, and reads what a power cut can leave (empty, cut short) as a miss', async () => {
    const dir = copySharedFixture();
    const manifest = fs.readFileSync(path.join(dir, 'collection.toml'));
    const entry = parseCacheEntry(dir, createHash('sha256').update(manifest).digest('hex'));
    fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
    fs.rmSync(entry, { force: true });
    const plan = new FaultPlan([]);
    const cache = openParseCache(dir);
    const parsed = cache.parse(manifest, 'collection.toml');
    await cache.save(withFaults(nodeFs, plan));
    const stats = emptyStatCache();
    stats.artifacts.x = { path: 'x', hash: 'h', files: [], dirs: [], racy: false };
    await saveStatCache(withFaults(nodeFs, plan), dir, stats);
    const ops = plan.calls.filter((c) => /(parse|status)-cache/.test(path.basename(c.path))).map((c) => c.op);
    assert.ok(ops.includes('writeFile') && ops.includes('rename'), ops.join(' '));
    assert.ok(!ops.includes('fsync'), `no fsync: ${ops.join(' ')}`);
    assert.ok(fs.existsSync(entry));
    const whole = fs.readFileSync(entry, 'utf8');
    for (const left of ['', whole.slice(0, whole.length - 1), whole.slice(0, whole.length >> 1)]) {
      fs.writeFileSync(entry, left);
      // A miss: the bytes are parsed again, and give the same tables.
      assert.deepEqual(openParseCache(dir).parse(manifest, 'collection.toml'), parsed);
      fs.writeFileSync(path.join(dir, STATE_DIR, 'status-cache.json'), left);
      assert.deepEqual(loadStatCache(dir), emptyStatCache());
    }
  });
});

describe("the project locks' folder", () => {
  it('a project lock taken removes the temps killed lock creators left there long ago, and nothing else', async () => {
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tempDir();
    try {
      const profile = path.join(tempDir(), 'project', '.claude');
      fs.mkdirSync(profile, { recursive: true });
      const locks = path.dirname(projectLockPath(profile));
      fs.mkdirSync(locks, { recursive: true });
      const longAgo = new Date(Date.now() - STRAY_TEMP_AGE_MS - 60_000);
      const old = [
        `.${'a'.repeat(32)}.lock.${deadPid()}.m1abc.ak-tmp`,
        `.${'b'.repeat(32)}.lock.reclaim.1.m2.ak-tmp`,
      ];
      // A fresh temp whose creator looks dead may be a live creator's in another pid namespace: it stays.
      const kept = [
        `.${'c'.repeat(32)}.lock.${deadPid()}.m3.ak-tmp`,
        `${'d'.repeat(32)}.lock`,
        'notes.ak-tmp',
      ];
      for (const name of [...old, ...kept]) fs.writeFileSync(path.join(locks, name), '{}');
      for (const name of [...old, kept[1] as string, kept[2] as string])
        fs.utimesSync(path.join(locks, name), longAgo, longAgo);
      let held = false;
      await withProjectLock(profile, { tool: 'test', operation: 'deploy' }, async () => {
        held = fs.existsSync(projectLockPath(profile));
        assert.deepEqual(
          fs.readdirSync(locks).filter((n) => old.includes(n)),
          [],
          'old temps gone while held',
        );
        await Promise.resolve();
      });
      assert.equal(held, true);
      assert.deepEqual(fs.readdirSync(locks).sort(), [...kept].sort());
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });
});
