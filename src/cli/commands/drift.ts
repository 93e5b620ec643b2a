/**
 * `artifact-keeper drift --project DIR`: how the artifacts deployed in a project's profile root differ
 * from the collection (DESIGN §10). Changes nothing. Exit 0 all in sync, 1 any drift.
 */
import {
  checkDrift,
  CoreError,
  hasJournal,
  journalPath,
  loadCollectionCaching,
  loadDriftCaches,
  saveDriftCaches,
} from '../../core/index.js';
import { UsageError } from '../args.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { driftJson, driftSummary, openProject, PROJECT_FLAGS } from '../project.js';

export const driftCommand: CliCommand = {
  summary: "compare a project's deployed artifacts with the collection (changes nothing)",
  usage: 'drift --project DIR [--profile P] [--all] [--collection DIR] [--json]',
  flags: { ...PROJECT_FLAGS, all: { value: false } },
  async run(ctx) {
    const project = ctx.flag('project');
    if (project === undefined) throw new UsageError('--project DIR is required');
    if (ctx.args.positionals.length > 0) throw new UsageError('drift takes no artifact names');
    const opened = openProject(ctx, project);
    // A deploy or pull interrupted halfway: the project may be mid-change too; recover first.
    if (hasJournal(opened.collection.dir))
      throw new CoreError({ code: 'interrupted', journal: journalPath(opened.collection.dir) });
    const collection = await loadCollectionCaching(opened.collection.dir, ctx.fs);
    const caches = loadDriftCaches(collection.dir, opened.root);
    const report = checkDrift(opened.root, collection, {
      caches,
      includeNotDeployed: ctx.has('all'),
      ...(opened.tracking ? { tracking: opened.tracking } : {}),
    });
    await saveDriftCaches(ctx.fs, collection.dir, opened.root, caches);
    if (ctx.json) ctx.printJson(driftJson(report, opened.collection));
    else {
      ctx.out(`${report.root.dir} against ${opened.collection.dir}: ${driftSummary(report)}`);
      const width = Math.max(0, ...report.entries.map((e) => e.id.length));
      for (const e of report.entries) {
        ctx.out(`  ${e.id.padEnd(width)}  ${e.state.padEnd(12)}  ${e.path}`);
        // A hook or MCP server changed outside the tool runs code nobody approved (DESIGN §11).
        for (const finding of e.runsCode ?? [])
          ctx.out(`    runs code, changed outside Artifact Keeper: ${finding}`);
      }
    }
    return report.inSync ? EXIT.ok : EXIT.modified;
  },
};
