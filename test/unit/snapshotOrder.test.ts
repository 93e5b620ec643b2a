/**
 * Snapshot order is creation order, never the wall clock (issue 15, item 1; DESIGN §4): with the clock
 * port set backwards and forwards between snapshots, "latest" is still the last one taken and retention
 * keeps the newest, not the ones with the largest timestamps.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { fixedClock } from '../../src/core/base/time.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import { tempDir, writeTree } from './support/collections.js';

const HOUR = 3_600_000;

async function snapshotAt(dir: string, time: number, reason: string): Promise<string> {
  const store = await openSnapshotStore(dir, {
    fs: nodeFs,
    logger: silentLogger,
    clock: fixedClock(new Date(time)),
  });
  try {
    fs.writeFileSync(path.join(dir, 'skills/x/SKILL.md'), `${reason}\n`);
    return (await store.create({ reason, trigger: 'user' })).id;
  } finally {
    store.close();
  }
}

void describe('snapshot order', () => {
  void it('is creation order when the clock jumps backwards and forwards: latest and retention stay right', async () => {
    const dir = path.join(tempDir('ak-order-'), 'c');
    writeTree(dir, { 'collection.toml': '[collection]\n', 'skills/x/SKILL.md': 'start\n' });
    const now = Date.now();
    const first = await snapshotAt(dir, now, 'first');
    const second = await snapshotAt(dir, now - 5 * HOUR, 'second, clock set back 5 h');
    const third = await snapshotAt(dir, now + 365 * 24 * HOUR, 'third, clock a year ahead');
    const fourth = await snapshotAt(dir, now - 24 * HOUR, 'fourth, clock a day behind');
    const fifth = await snapshotAt(dir, now - 24 * HOUR, 'fifth, the same pinned time');
    const store = await openSnapshotStore(dir, {
      fs: nodeFs,
      logger: silentLogger,
      clock: fixedClock(new Date(now)),
    });
    try {
      assert.deepEqual(
        (await store.list()).map((s) => s.id),
        [fifth, fourth, third, second, first],
        'newest first, as taken',
      );
      assert.equal((await store.resolve('latest')).id, fifth);
      const pruned = await store.prune({ keep: 2, maxAgeDays: 0 });
      assert.deepEqual(pruned.sort(), [first, second, third].sort(), 'retention keeps the two taken last');
      assert.deepEqual(
        (await store.list()).map((s) => s.reason),
        ['fifth, the same pinned time', 'fourth, clock a day behind'],
      );
    } finally {
      store.close();
    }
  });
});
