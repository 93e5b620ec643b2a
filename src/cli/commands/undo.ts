/**
 * `artifact-keeper undo`: reverts the last committed transaction of the history by restoring its
 * pre-snapshot (a safety snapshot first; the undo is itself the last transaction, so `undo` again
 * re-applies). Exit 0, 69 when there is nothing it can undo (empty history, no or a pruned pre-snapshot).
 */
import { describeChange, undoLastChange } from '../../core/index.js';
import { UsageError } from '../args.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { operationOptions } from '../context.js';

export const undoCommand: CliCommand = {
  summary: 'undo the last change in the history (restores its pre-snapshot; undo again re-applies it)',
  usage: 'undo [--collection DIR] [--json]',
  retention: true,
  async run(ctx) {
    if (ctx.args.positionals.length > 0) throw new UsageError('undo takes no arguments');
    const result = await undoLastChange(ctx.collectionDir, operationOptions(ctx));
    const undone = result.undone;
    if (ctx.json) {
      ctx.printJson({
        undone,
        restored: result.restored.id,
        safety: result.safety.id,
        txId: result.changed > 0 ? result.txId : undefined,
        changed: result.changed,
      });
    } else if (result.changed === 0) {
      ctx.out(
        `nothing to undo: the collection already matches snapshot ${result.restored.id} from before ${describeChange(undone)} (tx ${undone.txId})`,
      );
    } else {
      ctx.out(
        `undid ${describeChange(undone)} (tx ${undone.txId}): restored snapshot ${result.restored.id}; undo again: artifact-keeper undo`,
      );
    }
    return EXIT.ok;
  },
};
