/**
 * `artifact-keeper unlock --force`: breaks the writer lock whoever holds it. For a lock no check can
 * judge: one held by another host (a shared or synced folder) that has not let go, or one without a
 * holder's name (left by an older version). It snapshots nothing and changes only the lock; without
 * --force it only says who holds the lock.
 */
import { breakWriterLock, describeLockHolder as describe, readWriterLock } from '../../core/index.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const unlockCommand: CliCommand = {
  summary: 'break the writer lock (a lock of another host, or one without a holder): changes only the lock',
  usage: 'unlock --force [--collection DIR] [--json]',
  flags: { force: { value: false } },
  async run(ctx) {
    if (!ctx.has('force')) {
      const held = readWriterLock(ctx.collectionDir);
      if (ctx.json) ctx.printJson({ broken: false, lock: held ?? null });
      else if (!held) ctx.out('the writer lock is free');
      else
        ctx.out(
          `${describe(held.holder)}${held.alive ? '' : ' (gone)'}; pass --force to break it, only if no writer runs`,
        );
      return held ? EXIT.usage : EXIT.ok;
    }
    const broken = await breakWriterLock(ctx.collectionDir, ctx.fs);
    if (ctx.json) ctx.printJson({ broken: Boolean(broken), lock: broken ?? null });
    else ctx.out(broken ? `broke the writer lock: ${describe(broken.holder)}` : 'the writer lock is free');
    return EXIT.ok;
  },
};
