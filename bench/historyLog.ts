/**
 * The update section's rows on the history log (`.artifact-keeper/history.jsonl`, one line per committed
 * transaction): recording a transaction once 10,000 are recorded, in-process, as the transaction's last
 * step does it (`appendHistory`: the file's tail read, one line appended and fsync'ed), beside what that
 * step did until 2026-12-07 (the whole file read, every line parsed, the file rewritten through a temp,
 * fsync'ed and renamed), on copies of the same file in the same run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../src/core/base/changes.js';
import { nodeFs, writeFileAtomic } from '../src/core/ports/fs.js';
import { appendHistory, historyPath } from '../src/core/store/history.js';
import type { HistoryEntry } from '../src/core/store/history.js';
import type { Row } from './util.js';
import { formatBytes, median, reps, timeAsync, versus } from './util.js';

const PAST = 10_000;

function entry(i: number): HistoryEntry {
  return {
    txId: `tx-${String(i).padStart(6, '0')}-bench`,
    kind: 'update',
    description: `update of skill/bench-${i % 2000}`,
    artifacts: [`skill/bench-${i % 2000}`],
    preSnapshot: 's0mxdqgqbcowm',
    time: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    tool: 'artifact-keeper 0.1.0',
    outcome: 'committed',
  };
}

/** A collection folder holding only a history of `PAST` transactions. */
function withHistory(dir: string): string {
  fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
  const lines = Array.from({ length: PAST }, (_, i) => `${JSON.stringify(entry(i))}\n`);
  fs.writeFileSync(historyPath(dir), lines.join(''));
  return dir;
}

/** The step as it was: read it all, parse each line, check the txId, rewrite atomically. */
async function rewriteWhole(dir: string, added: HistoryEntry): Promise<void> {
  const file = historyPath(dir);
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n').filter((line) => line !== '');
  const ids = lines.map((line) => (JSON.parse(line) as HistoryEntry).txId);
  if (ids.includes(added.txId)) throw new Error('already recorded');
  await writeFileAtomic(nodeFs, file, `${lines.join('\n')}\n${JSON.stringify(added)}\n`);
}

export async function historyRows(workDir: string): Promise<Row[]> {
  const ours = withHistory(path.join(workDir, 'history-append'));
  const before = withHistory(path.join(workDir, 'history-rewrite'));
  const size = fs.statSync(historyPath(ours)).size;
  const appended: number[] = [];
  const rewritten: number[] = [];
  try {
    for (let i = 0; i < reps(7); i++) {
      const added = entry(PAST + i);
      appended.push(await timeAsync(() => appendHistory(nodeFs, ours, added)));
      rewritten.push(await timeAsync(() => rewriteWhole(before, added)));
    }
    if (!fs.readFileSync(historyPath(ours)).equals(fs.readFileSync(historyPath(before))))
      throw new Error('the two ways of recording wrote different histories');
  } finally {
    fs.rmSync(ours, { recursive: true, force: true });
    fs.rmSync(before, { recursive: true, force: true });
  }
  const ms = median(appended);
  return [
    {
      label: `record one transaction in a history of ${PAST.toLocaleString('en-US')} (in-process: the transaction's last step)`,
      ms,
      notes: [
        versus(ms, 'the whole file rewritten, as until 2026-12-07', median(rewritten)),
        `${formatBytes(size)} of history`,
      ],
    },
  ];
}
