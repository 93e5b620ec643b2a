/**
 * Tests for src/core/store/history.ts: newest first, idempotent by transaction id, deterministic lines, and a
 * torn last line (a crash mid-append) skipped on read and dropped on the next append.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { appendHistory, historyPath, readHistory } from '../../src/core/store/history.js';
import type { HistoryEntry } from '../../src/core/store/history.js';
import { tempDir } from './support/collections.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

function collection(): string {
  const dir = path.join(tempDir('ak-history-'), 'c');
  fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
  return dir;
}

function entry(txId: string, extra: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    txId,
    kind: 'update',
    description: `update ${txId}`,
    artifacts: ['skill/pdf'],
    time: '2025-11-23T10:00:00.000Z',
    tool: 'test',
    outcome: 'committed',
    ...extra,
  };
}

/** Appends `entries` in order, then checks what readHistory returns (txIds, newest first). */
async function check(
  entries: HistoryEntry[],
  expectedNewestFirst: string[],
  prepare?: (dir: string) => void,
): Promise<string> {
  const dir = collection();
  prepare?.(dir);
  for (const e of entries) await appendHistory(nodeFs, dir, e);
  assert.deepEqual(
    readHistory(dir).map((e) => e.txId),
    expectedNewestFirst,
  );
  return dir;
}

void describe('history', () => {
  void it('is empty when there is no file', () => {
    assert.deepEqual(readHistory(collection()), []);
  });

  void it('reads newest first', async () => {
    await check([entry('t1'), entry('t2'), entry('t3')], ['t3', 't2', 't1']);
  });

  void it('records a transaction once, however often recovery re-appends it', async () => {
    const dir = collection();
    assert.equal(await appendHistory(nodeFs, dir, entry('t1')), 'appended');
    assert.equal(await appendHistory(nodeFs, dir, entry('t1', { outcome: 'recovered' })), 'present');
    assert.deepEqual(readHistory(dir), [entry('t1')]);
  });

  void it('writes one JSON line per entry with a fixed key order', async () => {
    const dir = await check([entry('t1', { preSnapshot: 's1' }), entry('t2')], ['t2', 't1']);
    assert.equal(
      fs.readFileSync(historyPath(dir), 'utf8'),
      '{"txId":"t1","kind":"update","description":"update t1","artifacts":["skill/pdf"],"preSnapshot":"s1",' +
        '"time":"2025-11-23T10:00:00.000Z","tool":"test","outcome":"committed"}\n' +
        '{"txId":"t2","kind":"update","description":"update t2","artifacts":["skill/pdf"],' +
        '"time":"2025-11-23T10:00:00.000Z","tool":"test","outcome":"committed"}\n',
    );
  });

  void it('ignores a torn last line, and the next append drops it rather than gluing onto it', async () => {
    const dir = await check([entry('t1')], ['t1']);
    fs.appendFileSync(historyPath(dir), '{"txId":"t2","kind":"upd');
    assert.deepEqual(
      readHistory(dir).map((e) => e.txId),
      ['t1'],
    );
    await appendHistory(nodeFs, dir, entry('t3'));
    assert.deepEqual(
      readHistory(dir).map((e) => e.txId),
      ['t3', 't1'],
    );
    assert.ok(fs.readFileSync(historyPath(dir), 'utf8').endsWith('"outcome":"committed"}\n'));
  });

  void it('skips unreadable lines in the middle', async () => {
    await check([entry('t2')], ['t2', 't1'], (dir) => {
      fs.writeFileSync(historyPath(dir), `${JSON.stringify(entry('t1'))}\nnot json\n\n`);
    });
  });

  void it('leaves the old file intact when the append fails', async () => {
    const dir = await check([entry('t1')], ['t1']);
    const before = fs.readFileSync(historyPath(dir));
    for (const op of ['readFile', 'writeFile', 'fsync', 'rename'] as const) {
      const plan = new FaultPlan([{ op, nth: 1, errno: 'ENOSPC' }]);
      await assert.rejects(appendHistory(withFaults(nodeFs, plan), dir, entry('t2')), (e: unknown) =>
        isCoreError(e, 'io-failed'),
      );
      assert.deepEqual(fs.readFileSync(historyPath(dir)), before, op);
      assert.deepEqual(
        fs.readdirSync(path.join(dir, STATE_DIR)).filter((name) => name.endsWith('.ak-tmp')),
        [],
        op,
      );
    }
  });
});
