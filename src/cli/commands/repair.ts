/**
 * `artifact-keeper repair`: manifest and lock back to agreeing with each other and the files after a git
 * merge or a hand edit (snapshot first). Exit 0 repaired or nothing to do, 2 something is left that it
 * cannot repair (named).
 */
import { repairCollection } from '../../core/index.js';
import { operationOptions } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const repairCommand: CliCommand = {
  summary: 'bring a git-merged or hand-edited manifest and lock back to consistent (snapshot first)',
  usage: 'repair [--collection DIR] [--json]',
  flags: {},
  retention: true,
  async run(ctx) {
    const result = await repairCollection(ctx.collectionDir, operationOptions(ctx));
    if (ctx.json) ctx.printJson(result);
    else {
      for (const line of result.repaired) ctx.out(`repaired: ${line}`);
      for (const line of result.remaining) ctx.out(`cannot repair: ${line}`);
      if (result.repaired.length === 0 && result.remaining.length === 0) ctx.out('nothing to repair');
      if (result.preSnapshot)
        ctx.out(
          `snapshot before the repair: ${result.preSnapshot} (undo: artifact-keeper restore ${result.preSnapshot})`,
        );
    }
    return result.remaining.length > 0 ? EXIT.inconsistent : EXIT.ok;
  },
};
