/**
 * Concurrent writers (issue 6): four workers, each a loop of real CLI processes doing random mutations
 * (snapshot, restore, update, add of artifacts of their own) on one collection for ~15 s. Then: no lost
 * update (the history holds every exit-0 transaction exactly once and nothing else), every snapshot
 * reported is listed, the collection is consistent (clean or modified, and only where local edits are
 * part of the fixture), and every loser exited 5 with "locked by pid … on host … since …". The runner
 * is test/torture/concurrency.ts; `node out/test/torture/campaign.js --concurrency-seconds 60` runs it
 * for the full minute.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runConcurrency } from '../torture/concurrency.js';
import type { ConcurrencyReport } from '../torture/concurrency.js';
import { OUT_CLI } from '../torture/fixture.js';

const SECONDS = 15;

void describe('four concurrent writers on one collection', () => {
  let report: ConcurrencyReport;
  before(async () => {
    report = await runConcurrency({
      seconds: SECONDS,
      minCommits: 6,
      seed: 4242,
      cli: OUT_CLI,
      size: 'small',
      workers: 4,
    });
  });

  void it(`${SECONDS} s of random snapshot/restore/update/add: no lost update, no corruption, losers exit 5`, (t) => {
    const by = (code: number): number => report.ops.filter((op) => op.code === code).length;
    t.diagnostic(
      `${report.ops.length} commands (exit 0: ${by(0)}, exit 5: ${by(5)}, exit 3: ${by(3)}), ${report.committed} committed transactions, final status ${report.finalStatus}`,
    );
    assert.deepEqual(report.failures, []);
    // The run must really have contended: several commits, and losers.
    assert.ok(report.committed >= 5, `only ${report.committed} transactions committed`);
    assert.ok(by(5) > 0, 'some writer lost the race for the lock');
  });
});
