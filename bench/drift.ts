/**
 * Drift of a project with 500 deployed artifacts (issue 13 item 9, issue 16's table): warm, in-process,
 * through the stat caches (the project's, kept in the collection, and the collection's own), side by side
 * with a full re-hash of every deployed copy and collection copy in the same run. Both include reading
 * the 2,000-artifact manifest and lock (through the parse cache, as the CLI does) and the tracking file.
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
import { deployArtifacts } from '../src/core/transfer/deploy.js';
import { formatRows, goal, medianOfAsync, QUICK, reps, sleep, versus } from './util.js';

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
    return formatRows([
      { label: `deploy ${ids.length} artifacts (one transaction)`, ms: deployMs },
      {
        label: `drift, ${ids.length} deployed, warm`,
        ms: warm.ms,
        notes: [versus(warm.ms, 'full re-hash', full.ms), goal(warm.ms, GOAL_MS)],
      },
    ]);
  } finally {
    fs.rmSync(project, { recursive: true, force: true });
  }
}
