/**
 * Tests for src/core/store/history.ts: newest first, idempotent by transaction id, deterministic lines, a
 * torn last line (a crash mid-append) skipped on read and dropped on the next append, and an append that
 * reads only the history's tail.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { STATE_DIR } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import {
  appendHistory,
  findHistory,
  historyNewestFirst,
  historyPath,
  newestHistoryEntry,
  readHistory,
} from '../../src/core/store/history.js';
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

  void it('leaves the old file intact when a rewrite fails (a new file, or one ending in a torn line)', async () => {
    const dir = await check([entry('t1')], ['t1']);
    fs.appendFileSync(historyPath(dir), '{"txId":"t9","ki');
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

  void it('appends to a long history without reading or rewriting it: the old bytes stay, one line follows', async () => {
    // About 600 KB, written as appends leave it: far more than the tail an append reads.
    const dir = collection();
    fs.writeFileSync(
      historyPath(dir),
      Array.from({ length: 3000 }, (_, i) => `${JSON.stringify(entry(`t${i}`))}\n`).join(''),
    );
    const before = fs.readFileSync(historyPath(dir));
    const plan = new FaultPlan([]);
    assert.equal(await appendHistory(withFaults(nodeFs, plan), dir, entry('t3000')), 'appended');
    assert.deepEqual(
      plan.calls.map((c) => c.op),
      ['appendFile', 'fsync'],
    );
    const after = fs.readFileSync(historyPath(dir));
    assert.deepEqual(after.subarray(0, before.length), before);
    assert.equal(after.subarray(before.length).toString('utf8'), `${JSON.stringify(entry('t3000'))}\n`);
    assert.equal(readHistory(dir)[0]?.txId, 't3000');
    // Recovery recording the newest again finds it in the tail, the tail's cut first line notwithstanding.
    assert.equal(await appendHistory(nodeFs, dir, entry('t3000', { outcome: 'recovered' })), 'present');
    assert.equal(await appendHistory(nodeFs, dir, entry('t2990', { outcome: 'recovered' })), 'present');
    assert.deepEqual(fs.readFileSync(historyPath(dir)), after);
  });

  void it('reports a failed append, and never leaves half a line: the next append finds the entry or adds it', async () => {
    const dir = await check([entry('t1')], ['t1']);
    const before = fs.readFileSync(historyPath(dir));
    // The line never written: the file as it was.
    const noAppend = new FaultPlan([{ op: 'appendFile', nth: 1, errno: 'ENOSPC' }]);
    await assert.rejects(appendHistory(withFaults(nodeFs, noAppend), dir, entry('t2')), (e: unknown) =>
      isCoreError(e, 'io-failed'),
    );
    assert.deepEqual(fs.readFileSync(historyPath(dir)), before);
    // Written but not synced: reported, and the entry is there, whole, once.
    const noSync = new FaultPlan([{ op: 'fsync', nth: 1, errno: 'EIO' }]);
    await assert.rejects(appendHistory(withFaults(nodeFs, noSync), dir, entry('t2')), (e: unknown) =>
      isCoreError(e, 'io-failed'),
    );
    assert.equal(await appendHistory(nodeFs, dir, entry('t2', { outcome: 'recovered' })), 'present');
    assert.deepEqual(
      readHistory(dir).map((e) => [e.txId, e.outcome]),
      [
        ['t2', 'committed'],
        ['t1', 'committed'],
      ],
    );
  });

  void it('finds the newest entry from the tail, as readHistory would: past a torn line, and past a tail with no readable line', async () => {
    assert.equal(newestHistoryEntry(collection()), undefined);
    const long = collection();
    // About 400 KB, written as appends leave it: far more than the tail.
    fs.writeFileSync(
      historyPath(long),
      Array.from({ length: 2000 }, (_, i) => `${JSON.stringify(entry(`t${i}`))}\n`).join(''),
    );
    assert.equal(newestHistoryEntry(long)?.txId, 't1999');
    fs.appendFileSync(historyPath(long), '{"txId":"t2000","kind":"upd');
    assert.equal(newestHistoryEntry(long)?.txId, 't1999');
    // More unreadable lines than the tail holds: the whole file is read.
    fs.appendFileSync(historyPath(long), `\n${'not json\n'.repeat(10_000)}`);
    assert.equal(newestHistoryEntry(long)?.txId, 't1999');
    assert.equal(readHistory(long)[0]?.txId, 't1999');
  });

  void it('reads every entry backwards as readHistory lists them, and finds the newest match as readHistory(dir).find would, whatever the chunk size', () => {
    const dir = collection();
    // Lines as the file may hold them: entries (some long, some with multi-byte text), lines no reader
    // can parse, blank lines; then maybe a torn last line, with or without the newline a crash may leave.
    const line = fc.oneof(
      fc
        .record({
          n: fc.nat(99),
          kind: fc.constantFrom('update', 'restore', 'pull'),
          snapshot: fc.boolean(),
          artifacts: fc.nat(40),
          text: fc.constantFrom('plain', 'naïve — ünïcode ✓', '日本語のメモ'),
        })
        .map(({ n, kind, snapshot, artifacts, text }) =>
          JSON.stringify(
            entry(`t${n}`, {
              kind,
              description: text,
              artifacts: Array.from({ length: artifacts }, (_, i) => `skill/s${i}`),
              ...(snapshot ? { preSnapshot: `s${n}` } : {}),
            }),
          ),
        ),
      fc.constantFrom('not json', '{"txId":1}', '', '   ', '{"txId":"t0","time":"x"}\r'),
    );
    const tail = fc.constantFrom('', '{"txId":"torn","time":"x","kind":"update"}', '{"txId":"t1","ki');
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 30 }),
        tail,
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom('update', 'restore', 'pull'),
        (lines, torn, chunk, kind) => {
          fs.writeFileSync(historyPath(dir), lines.map((l) => `${l}\n`).join('') + torn);
          const wanted = (e: HistoryEntry): boolean => e.kind === kind && Boolean(e.preSnapshot);
          assert.deepEqual(findHistory(dir, wanted, chunk), readHistory(dir).find(wanted));
          assert.deepEqual(
            findHistory(dir, () => true, chunk),
            readHistory(dir)[0],
          );
          assert.deepEqual([...historyNewestFirst(dir, chunk)], readHistory(dir));
        },
      ),
      { numRuns: 400 },
    );
  });

  void it('reads only the end of the history it needs: a match after a gigabyte nobody can read whole', () => {
    const dir = collection();
    const file = historyPath(dir);
    // A sparse gigabyte first (no disk used): more than a string can hold, so a reader of the whole
    // file (readHistory) throws on it.
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 1024 ** 3);
    fs.appendFileSync(
      file,
      [
        '',
        JSON.stringify(entry('t1', { preSnapshot: 's1' })),
        JSON.stringify(entry('t2', { kind: 'restore', preSnapshot: 's2' })),
        '',
      ].join('\n'),
    );
    assert.equal(findHistory(dir, (e) => e.kind === 'update')?.txId, 't1');
    assert.equal(newestHistoryEntry(dir)?.txId, 't2');
  });

  void it('is undefined without a history, and reports a history it cannot read', () => {
    const dir = collection();
    assert.equal(
      findHistory(dir, () => true),
      undefined,
    );
    fs.mkdirSync(historyPath(dir));
    assert.throws(
      () => findHistory(dir, () => true),
      (err: unknown) => isCoreError(err) && err.code === 'io-failed',
    );
  });
});
