/**
 * `artifact-keeper status`: the consistency report; changes nothing in the collection. With
 * `--project DIR`, the collection is the project's (DESIGN §7) and a drift summary line follows.
 * Exit 0 clean, 1 modified (or a project that drifts), 2 inconsistent or interrupted.
 */
import {
  checkCollection,
  checkDrift,
  loadDriftCaches,
  saveDriftCaches,
  describeLockHolder,
  loadCollection,
  loadStatCache,
  readWriterLock,
} from '../../core/index.js';
import type { CheckOptions, DriftReport } from '../../core/index.js';
import type { CliContext } from '../context.js';
import type { CliCommand } from '../main.js';
import { codeIdentity } from '../codeIdentity.js';
import { EXIT } from '../exitCodes.js';
import { driftJson, driftSummary, openProject, PROJECT_FLAGS } from '../project.js';
import type { OpenedProject } from '../project.js';

export const statusCommand: CliCommand = {
  summary: 'report whether manifest, lock and files agree (changes nothing)',
  usage: 'status [--collection DIR] [--project DIR [--profile P]] [--json]',
  flags: PROJECT_FLAGS,
  async run(ctx) {
    const projectDir = ctx.flag('project');
    const project: OpenedProject | undefined =
      projectDir === undefined ? undefined : openProject(ctx, projectDir);
    const collectionDir = project?.collection.dir ?? ctx.collectionDir;
    const report = await checkCollection(collectionDir, { fs: ctx.fs, ...warmOptions(ctx, collectionDir) });
    // Who holds the writer lock, if anyone: a reader never waits for it, but a person wants to know.
    const lock = readWriterLock(collectionDir);
    let drift: DriftReport | undefined;
    if (project && report.state !== 'interrupted') {
      const caches = loadDriftCaches(collectionDir, project.root);
      drift = checkDrift(project.root, loadCollection(collectionDir), {
        caches,
        ...(project.tracking ? { tracking: project.tracking } : {}),
      });
      await saveDriftCaches(ctx.fs, collectionDir, project.root, caches);
    }
    if (ctx.json) {
      ctx.printJson({
        ...(project && drift ? { drift: driftJson(drift, project.collection) } : {}),
        state: report.state,
        lock: lock ? { ...lock.holder, alive: lock.alive } : null,
        artifacts: report.artifacts.map((a) => ({
          id: a.id,
          state: a.state,
          path: a.path,
          ...(a.version ? { version: a.version } : {}),
        })),
        problems: report.findings.map((f) => ({
          code: f.code,
          artifact: f.artifact ?? null,
          message: f.message,
        })),
      });
    } else {
      ctx.out(`${collectionDir}: ${report.state} (${report.artifacts.length} artifacts)`);
      const width = Math.max(0, ...report.artifacts.map((a) => a.id.length));
      for (const a of report.artifacts) {
        if (a.state !== 'clean') ctx.out(`  ${a.id.padEnd(width)}  ${a.state}`);
      }
      for (const f of report.findings) ctx.out(`  - ${f.message}`);
      if (lock)
        ctx.out(
          `  ${describeLockHolder(lock.holder)}${lock.alive ? '' : ' (holder gone: the next writer reclaims it)'}`,
        );
      if (drift) ctx.out(`project ${drift.root.dir}: ${driftSummary(drift)}`);
    }
    switch (report.state) {
      case 'clean':
        return drift && !drift.inSync ? EXIT.modified : EXIT.ok;
      case 'modified':
        return EXIT.modified;
      case 'conflicted':
      case 'inconsistent':
      case 'interrupted':
        return EXIT.inconsistent;
    }
  },
};

/**
 * In the status daemon: the stat cache kept from its last check of the folder (read from disk the first
 * time), the collection it loaded (parsed again only when manifest or lock changed), and the stamps
 * taken on two threads, as the extension's check worker takes them. A new process (the CLI's own
 * status) reads the cache from disk and stays on one thread: see CheckOptions.parallelStat.
 */
function warmOptions(
  ctx: CliContext,
  dir: string,
): Pick<CheckOptions, 'cache' | 'loaded' | 'parallelStat' | 'record'> {
  // A one-off process answers from the check record when it can (checkRecord.ts in the core).
  if (!ctx.warm) return { record: codeIdentity() };
  let cache = ctx.warm.statCaches.get(dir);
  if (!cache) {
    cache = loadStatCache(dir);
    ctx.warm.statCaches.set(dir, cache);
  }
  return { cache, loaded: ctx.warm.collections, parallelStat: true };
}
