/**
 * `artifact-keeper status`: the consistency report; changes nothing in the collection.
 * Exit 0 clean, 1 modified, 2 inconsistent or interrupted.
 */
import { checkCollection, describeLockHolder, readWriterLock } from '../../core/index.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const statusCommand: CliCommand = {
  summary: 'report whether manifest, lock and files agree (changes nothing)',
  usage: 'status [--collection DIR] [--json]',
  async run(ctx) {
    const report = await checkCollection(ctx.collectionDir, { fs: ctx.fs });
    // Who holds the writer lock, if anyone: a reader never waits for it, but a person wants to know.
    const lock = readWriterLock(ctx.collectionDir);
    if (ctx.json) {
      ctx.printJson({
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
      ctx.out(`${ctx.collectionDir}: ${report.state} (${report.artifacts.length} artifacts)`);
      const width = Math.max(0, ...report.artifacts.map((a) => a.id.length));
      for (const a of report.artifacts) {
        if (a.state !== 'clean') ctx.out(`  ${a.id.padEnd(width)}  ${a.state}`);
      }
      for (const f of report.findings) ctx.out(`  - ${f.message}`);
      if (lock)
        ctx.out(
          `  ${describeLockHolder(lock.holder)}${lock.alive ? '' : ' (holder gone: the next writer reclaims it)'}`,
        );
    }
    switch (report.state) {
      case 'clean':
        return EXIT.ok;
      case 'modified':
        return EXIT.modified;
      case 'conflicted':
      case 'inconsistent':
      case 'interrupted':
        return EXIT.inconsistent;
    }
  },
};
