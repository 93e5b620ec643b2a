/**
 * Object readers kept from one operation to the next (a process that lives on: the daemon): one
 * `cat-file --batch` serves store after store, sees what others write to the repository after it
 * started, and is replaced when its process is gone. Real git, real stores.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/core/base/changes.js';
import { FaultPlan } from '../../src/core/ports/faults.js';
import { createGit } from '../../src/core/ports/git.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { KeptObjectReaders } from '../../src/core/ports/keptReaders.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import type { SnapshotStore } from '../../src/core/store/snapshots.js';
import { tempDir } from './support/collections.js';

const file = (text: string): Map<string, { data: Buffer; mode: number }> =>
  new Map([['x.md', { data: Buffer.from(text), mode: 0o644 }]]);

function collection(): string {
  const dir = tempDir();
  fs.writeFileSync(`${dir}/collection.toml`, '[collection]\nname = "t"\n');
  return dir;
}

function open(dir: string, kept: KeptObjectReaders | undefined, probe: FaultPlan): Promise<SnapshotStore> {
  return openSnapshotStore(dir, {
    fs: nodeFs,
    logger: silentLogger,
    git: { fault: probe },
    ...(kept ? { keptReaders: kept } : {}),
  });
}

const readers = (probe: FaultPlan): number => probe.calls.filter((c) => c.path === 'cat-file --batch').length;

/** The children of this process (a zombie too, until it is reaped), `cat-file --batch` ones only when asked. */
function children(catFileOnly = true): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '' && (!catFileOnly || line.includes('cat-file --batch')))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** Until `pid` has exited and this process has reaped it (and so seen it end). */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 300 && children(false).includes(pid); i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!children(false).includes(pid), `process ${pid} has ended`);
}

async function read(store: SnapshotStore, sha: string): Promise<string | undefined> {
  return (await store.readUpstream('skill', 'a', sha))?.get('x.md')?.data.toString();
}

/** What a test works with: the collection, its store's repository, the kept readers and the probe. */
interface Kept {
  dir: string;
  gitDir: string;
  kept: KeptObjectReaders;
  probe: FaultPlan;
}

/**
 * Runs `fn` on a new collection whose store holds upstream v1 of skill/a, written and read back by a
 * first store through the kept readers (closed by then: its reader is kept); every kept reader is closed
 * after `fn`, which is checked.
 */
async function withKept(fn: (given: Kept) => Promise<void>): Promise<void> {
  const dir = collection();
  const kept = new KeptObjectReaders();
  const probe = new FaultPlan([]);
  try {
    const first = await open(dir, kept, probe);
    await first.storeUpstream('skill', 'a', file('v1\n'), { resolved_sha: 'v1' });
    assert.equal(await read(first, 'v1'), 'v1\n');
    first.close();
    await fn({ dir, gitDir: first.gitDir, kept, probe });
  } finally {
    kept.closeAll();
  }
  assert.equal(kept.size, 0);
}

void describe('kept object readers', () => {
  void it('one cat-file serves one store after another, and a store opened beside one using it', () =>
    withKept(async ({ dir, kept, probe }) => {
      const second = await open(dir, kept, probe);
      await second.storeUpstream('skill', 'a', file('v2\n'), { resolved_sha: 'v2' });
      assert.deepEqual([await read(second, 'v1'), await read(second, 'v2')], ['v1\n', 'v2\n']);
      assert.equal(readers(probe), 1, 'the second store reads through the first one’s process');
      // Still lent to `second`: a store opened beside it reads through the same process.
      const running = children();
      assert.equal(running.length, 1);
      const beside = await open(dir, kept, probe);
      assert.deepEqual([await read(beside, 'v2'), await read(second, 'v1')], ['v2\n', 'v1\n']);
      beside.close();
      assert.equal(await read(second, 'v2'), 'v2\n', 'given back by one store, it still serves the other');
      second.close();
      assert.equal(readers(probe), 1);
      assert.equal(kept.size, 1);
      assert.deepEqual(children(), running, 'the one process still runs, kept');
    }));

  void it('sees objects and refs written after it started, by another store and by git repacking them', () =>
    withKept(async ({ dir, gitDir, kept, probe }) => {
      // Another writer (no kept reader): a new commit on the ref, then everything packed, loose refs too.
      const other = await open(dir, undefined, new FaultPlan([]));
      await other.storeUpstream('skill', 'a', file('v2\n'), { resolved_sha: 'v2' });
      other.close();
      execFileSync('git', ['--git-dir', gitDir, 'gc', '--quiet', '--prune=now'], { stdio: 'ignore' });
      assert.ok(!fs.existsSync(`${gitDir}/refs/upstream/skill/a`), 'the ref is packed now');
      const again = await open(dir, kept, probe);
      assert.deepEqual([await read(again, 'v2'), await read(again, 'v1')], ['v2\n', 'v1\n']);
      again.close();
      assert.equal(readers(probe), 1, 'the kept process answered');
    }));

  void it('is replaced when its process has gone, and not kept when it comes back with reads in flight', () =>
    withKept(async ({ dir, gitDir, kept, probe }) => {
      const [pid] = children();
      assert.ok(pid, 'the kept reader runs');
      process.kill(pid, 'SIGKILL');
      await gone(pid);
      const second = await open(dir, kept, probe);
      assert.equal(await read(second, 'v1'), 'v1\n', 'a new process answers');
      assert.equal(readers(probe), 2);
      second.close();
      assert.equal(kept.size, 1);
      // Given back while a read waits (a cancelled command): closed, not kept; the read is still answered.
      const reader = createGit({ gitDir, keptReaders: kept }).openObjectReader();
      const head = execFileSync('git', ['--git-dir', gitDir, 'rev-parse', 'refs/upstream/skill/a'], {
        encoding: 'utf8',
      }).trim();
      const waiting = reader.read(head);
      reader.close();
      assert.equal(kept.size, 0);
      assert.equal((await waiting)?.type, 'commit');
      const third = await open(dir, kept, probe);
      assert.equal(await read(third, 'v1'), 'v1\n');
      third.close();
      assert.equal(readers(probe), 3, 'a new one, since none was kept');
      assert.equal(kept.size, 1);
    }));
});
