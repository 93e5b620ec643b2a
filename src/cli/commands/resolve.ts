/**
 * `artifact-keeper resolve ID…`: finish a merge an update left conflicted, once its markers and
 * `<file>.upstream` copies are gone (exit 3 while any remain; nothing written).
 */
import { resolveConflicts } from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const resolveCommand: CliCommand = {
  summary: 'mark conflicted artifacts resolved once no conflict marker or .upstream copy is left',
  usage: 'resolve ID… [--collection DIR] [--json]',
  flags: {},
  retention: true,
  async run(ctx) {
    const ids = ctx.args.positionals;
    if (ids.length === 0) throw new UsageError('name the conflicted artifacts to resolve');
    const result = await resolveConflicts(ctx.collectionDir, ids, operationOptions(ctx));
    if (ctx.json) ctx.printJson(result);
    else
      ctx.out(
        `resolved ${result.artifacts.join(', ')}: the lock records the merged files (undo: artifact-keeper restore ${result.preSnapshot})`,
      );
    return EXIT.ok;
  },
};
