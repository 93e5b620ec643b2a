/**
 * Drift of a project with 500 deployed artifacts (issue 13 item 9, issue 16's table): warm, in-process,
 * through the stat caches (the project's, kept in the collection, and the collection's own), side by side
 * with a full re-hash of every deployed copy and collection copy in the same run. Both include reading
 * the 2,000-artifact manifest and lock (through the parse cache, as the CLI does) and the tracking file.
 * Then the Deployed view's refresh as the extension host feels it: the longest event-loop block while the
 * warm drift runs on the loop (the old way) and through the check worker (`CollectionChecker.drift`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../src/core/base/changes.js';
import { artifactId } from '../src/core/model/artifact.js';
import { loadCollectionCaching } from '../src/core/model/collection.js';
import { nodeFs } from '../src/core/ports/fs.js';
import { checkDrift, loadDriftCaches, saveDriftCaches } from '../src/core/projects/drift.js';
import { isDeployable, projectProfileRoot } from '../src/core/projects/profiles.js';
import { CollectionChecker } from '../src/core/status/checker.js';
import { deployArtifacts } from '../src/core/transfer/deploy.js';
import { blockDuring, WORKER_FILE } from './eventLoop.js';
import { formatMs, formatRows, goal, median, medianOfAsync, QUICK, reps, sleep, versus } from './util.js';

const GOAL_MS = 150;

export async function benchDrift(dir: string): Promise<string[]> {
  const count = QUICK ? 100 : 500;
  const collection = await loadCollectionCaching(dir, nodeFs);
  const ids = collection.manifest.artifacts
    .filter((a) => isDeployable(a.type))
    .slice(0, count)
    .map(artifactId);
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-bench-project-'));
  try {
    const root = projectProfileRoot(project);
    const started = process.hrtime.bigint();
    await deployArtifacts(dir, root, ids, {
      fs: nodeFs,
      logger: silentLogger,
      tool: 'bench',
      exec: { allow: true },
    });
    const deployMs = Number(process.hrtime.bigint() - started) / 1e6;
    // Stamps younger than 2 s are never trusted by a cache: let them age first.
    await sleep(2_100);
    const drift = async (cached: boolean): Promise<void> => {
      const loaded = await loadCollectionCaching(dir, nodeFs);
      const caches = cached ? loadDriftCaches(dir, root) : undefined;
      const report = checkDrift(root, loaded, caches ? { caches } : {});
      if (caches) await saveDriftCaches(nodeFs, dir, root, caches);
      if (!report.inSync || report.entries.length !== ids.length)
        throw new Error(
          `drift: expected ${ids.length} in sync, got ${report.entries.length} (${report.inSync})`,
        );
    };
    await drift(true); // fills the caches
    const warm = await medianOfAsync(reps(7), () => drift(true));
    const full = await medianOfAsync(reps(3), () => drift(false));

    // The Deployed view's refresh: on the loop (as before this round) and through the worker.
    const onLoop: number[] = [];
    for (let i = 0; i < reps(5); i++) onLoop.push((await blockDuring(() => drift(true))).block);
    const checker = new CollectionChecker({ workerFile: WORKER_FILE });
    const viaWorker: { block: number; ms: number }[] = [];
    try {
      const ask = async (): Promise<void> => {
        const outcome = await checker.drift({ collectionDir: dir, root, persist: true });
        if (outcome.kind !== 'drifted' || !outcome.report.inSync)
          throw new Error(`the worker's drift answered ${outcome.kind}`);
      };
      await ask(); // starts the worker and fills its caches: a window pays that once
      for (let i = 0; i < reps(5); i++) {
        const started = performance.now();
        let ms = 0;
        const { block } = await blockDuring(async () => {
          await ask();
          ms = performance.now() - started;
        });
        viaWorker.push({ block, ms });
      }
      if (checker.mode !== 'worker') throw new Error('the check worker did not run');
    } finally {
      checker.dispose();
    }
    const loopBlock = median(onLoop);
    const workerBlock = median(viaWorker.map((r) => r.block));
    return formatRows([
      { label: `deploy ${ids.length} artifacts (one transaction)`, ms: deployMs },
      {
        label: `drift, ${ids.length} deployed, warm`,
        ms: warm.ms,
        notes: [versus(warm.ms, 'full re-hash', full.ms), goal(warm.ms, GOAL_MS)],
      },
      {
        label: 'Deployed view refresh: longest event-loop block, worker',
        ms: workerBlock,
        notes: [
          `drift ${formatMs(median(viaWorker.map((r) => r.ms)))}`,
          `on the loop ${formatMs(loopBlock)}, ${(loopBlock / workerBlock).toFixed(1)}× shorter`,
        ],
      },
    ]);
  } finally {
    fs.rmSync(project, { recursive: true, force: true });
  }
}
