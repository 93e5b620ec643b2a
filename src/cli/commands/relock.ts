/**
 * `artifact-keeper relock ID…|--all-modified`: accept local edits as the locked content (status clean).
 */
import { ALL_MODIFIED, relockArtifacts } from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const relockCommand: CliCommand = {
  summary: "accept local edits: the lock records the artifacts' current content (snapshot first)",
  usage: 'relock ID…|--all-modified [--collection DIR] [--json]',
  flags: { 'all-modified': { value: false } },
  retention: true,
  async run(ctx) {
    const all = ctx.has('all-modified');
    if (all === ctx.args.positionals.length > 0)
      throw new UsageError('name the artifacts, or pass --all-modified');
    const result = await relockArtifacts(
      ctx.collectionDir,
      all ? ALL_MODIFIED : ctx.args.positionals,
      operationOptions(ctx),
    );
    if (ctx.json) ctx.printJson(result);
    else if (result.relocked.length === 0) ctx.out('nothing to re-lock');
    else
      ctx.out(
        `re-locked ${result.relocked.join(', ')} (undo: artifact-keeper restore ${result.preSnapshot})`,
      );
    return EXIT.ok;
  },
};
