/**
 * The consistency check as the extension host feels it: the longest block of the event loop while a check
 * runs, measured with `perf_hooks.monitorEventLoopDelay`, cold (no stat cache) and warm (cache in memory,
 * nothing changed: a refresh after a file event). The old way is the store's synchronous load and check
 * in the host's thread; the new one is the bundled worker (`dist/checkWorker.js`) behind
 * `CollectionChecker`, and its fallback, in-process in slices. The loop's longest gap with nothing running
 * is printed first: on a busy machine that floor is scheduling, not our code.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { STATE_DIR } from '../src/core/base/changes.js';
import { CollectionChecker } from '../src/core/status/checker.js';
import type { CollectionCheckRequest } from '../src/core/status/collectionCheck.js';
import { checkConsistency, loadForCheck } from '../src/core/status/consistency.js';
import type { ConsistencyReport } from '../src/core/status/consistency.js';
import { emptyStatCache } from '../src/core/status/statCache.js';
import type { StatCache } from '../src/core/status/statCache.js';
import { formatMs, formatRows, median, REPO_ROOT, reps, sleep } from './util.js';
import type { Row } from './util.js';

export const WORKER_FILE = path.join(REPO_ROOT, 'dist', 'checkWorker.js');
/** Files younger than this are re-hashed by every check (the racy-stat rule): wait it out first. */
const RACY_WINDOW_MS = 2_100;
/** Measured after a check ends too, so nothing it left for the loop escapes. */
const TAIL_MS = 100;

interface Measured {
  /** The longest event-loop block, ms. */
  block: number;
  /** Until the report is there, ms. */
  ms: number;
  report: ConsistencyReport;
}

export async function benchEventLoop(dir: string): Promise<string[]> {
  if (!fs.existsSync(WORKER_FILE)) throw new Error(`${WORKER_FILE} is missing: run npm run build`);
  const n = reps(5);
  const cacheFile = path.join(dir, STATE_DIR, 'status-cache.json');
  const dropCache = (): void => fs.rmSync(cacheFile, { force: true });
  // No check writes its stat cache here: a write landing late would make the next "cold" check warm.
  // The parse cache is there, as in any collection that has had an operation (.artifact-keeper/ exists).
  const request: CollectionCheckRequest = { dir, updates: [], found: [], conflicted: [], persist: false };
  fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
  await loadForCheck(dir).cacheSaved;
  await sleep(RACY_WINDOW_MS); // the section's fresh copy was just written

  const floor = await blockDuring(() => sleep(1_000));

  // The old way: what the store ran in the extension host's thread, the stat cache kept in memory.
  let memory: StatCache = emptyStatCache();
  const oldCheck = (): ConsistencyReport => {
    const loaded = loadForCheck(dir);
    if (!('collection' in loaded)) throw new Error(`the bench collection reads ${loaded.report.state}`);
    return checkConsistency(loaded.collection, { cache: memory, persist: false });
  };
  const oldCold = await series(
    n,
    () => {
      dropCache();
      memory = emptyStatCache();
    },
    oldCheck,
  );
  const oldWarm = await series(n, undefined, oldCheck);

  // The new way, and its fallback: the same request through the checker.
  const viaChecker = async (checker: CollectionChecker): Promise<[Measured[], Measured[]]> => {
    // Start the worker (and load its bundle) before timing: a window pays that once.
    await checker.check({ ...request, dir: path.join(dir, 'no-collection-here') });
    const check = async (): Promise<ConsistencyReport> => {
      const outcome = await checker.check(request);
      if (outcome.kind !== 'checked') throw new Error(`the checker answered ${outcome.kind}`);
      return outcome.report;
    };
    const cold = await series(
      n,
      () => {
        dropCache();
        checker.forget(dir);
      },
      check,
    );
    const warm = await series(n, undefined, check);
    return [cold, warm];
  };
  const worker = new CollectionChecker({ workerFile: WORKER_FILE });
  const slices = new CollectionChecker();
  let workerRuns: [Measured[], Measured[]];
  let sliceRuns: [Measured[], Measured[]];
  try {
    workerRuns = await viaChecker(worker);
    if (worker.mode !== 'worker') throw new Error('the check worker did not run');
    sliceRuns = await viaChecker(slices);
  } finally {
    worker.dispose();
    slices.dispose();
  }

  for (const [label, runs] of [
    ['worker cold', workerRuns[0]],
    ['worker warm', workerRuns[1]],
    ['in-process slices cold', sliceRuns[0]],
    ['in-process slices warm', sliceRuns[1]],
  ] as const) {
    for (const run of runs) {
      const expected = label.endsWith('cold') ? oldCold[0] : oldWarm[0];
      if (JSON.stringify(run.report) !== JSON.stringify(expected?.report))
        throw new Error(`${label}: the report differs from the in-process check's`);
    }
  }

  const row = (label: string, runs: readonly Measured[], old?: readonly Measured[]): Row => {
    const block = median(runs.map((r) => r.block));
    const notes = [`check ${formatMs(median(runs.map((r) => r.ms)))}`];
    if (old) {
      const oldBlock = median(old.map((r) => r.block));
      notes.push(`old way ${formatMs(oldBlock)}, ${(oldBlock / block).toFixed(1)}× shorter`);
    }
    return { label, ms: block, notes };
  };
  const load = os.loadavg().map((l) => l.toFixed(1));
  return [
    `longest event-loop block while one check runs, median of ${n} (${os.cpus().length} cores, load ${load.join(' ')})`,
    ...formatRows([
      { label: 'nothing running (the floor)', ms: floor.block, notes: ['1 s of an idle loop'] },
      row('cold, old way (in-process, synchronous)', oldCold),
      row('cold, worker thread', workerRuns[0], oldCold),
      row('cold, in-process slices (fallback)', sliceRuns[0], oldCold),
      row('warm, old way (in-process, synchronous)', oldWarm),
      row('warm, worker thread', workerRuns[1], oldWarm),
      row('warm, in-process slices (fallback)', sliceRuns[1], oldWarm),
    ]),
    `${oldCold[0]?.report.artifacts.length ?? 0} artifacts; every way gives the same report. The fallback's`,
    'block is the collection load (one step); the worker leaves the loop only the report’s JSON.parse.',
  ];
}

/** `n` checks, each after `before` (untimed), each measured alone. */
async function series(
  n: number,
  before: (() => void) | undefined,
  check: () => ConsistencyReport | Promise<ConsistencyReport>,
): Promise<Measured[]> {
  const runs: Measured[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    let report: ConsistencyReport | undefined;
    const started = performance.now();
    let ms = 0;
    const { block } = await blockDuring(async () => {
      report = await check();
      ms = performance.now() - started;
    });
    runs.push({ block, ms, report: report as ConsistencyReport });
  }
  return runs;
}

/** The longest event-loop delay while `work` runs (and `TAIL_MS` after it), in milliseconds. */
export async function blockDuring(work: () => Promise<unknown> | unknown): Promise<{ block: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Let the monitor's timer start before the work can block the loop.
  await sleep(5);
  try {
    await work();
    await sleep(TAIL_MS);
  } finally {
    histogram.disable();
  }
  return { block: histogram.max / 1e6 };
}
