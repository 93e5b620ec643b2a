/**
 * Retention (DESIGN §4): the one housekeeping step every snapshot-creating operation (update, restore,
 * undo, add, import, relock, snapshot) runs after its commit. It keeps the newest `keep` snapshots in
 * creation order, plus those younger than `maxAgeDays` when that is set, always the newest and the
 * operation's own, never a pinned one; then `git gc --prune`, amortised: only every `GC_EVERY` pruned
 * snapshots (a gc repacks the whole store, ~7 git processes; `snapshots prune` collects at once). In a
 * process that lives on (the daemon: `OperationOptions.defer`), a gc that came due runs after the answer,
 * as the collection's writer, instead of before it. A failure here never fails or undoes the committed
 * operation: it is logged as a warning and the next operation's retention tries again.
 */
import type { SnapshotStore } from '../store/snapshots.js';
import { asWriter } from './operations.js';
import type { OperationOptions } from './operations.js';

export interface Retention {
  /** How many of the newest unpinned snapshots to keep; at least 1. */
  keep: number;
  /** Also keep snapshots younger than this many days; unset or 0: no age rule (exactly `keep`). */
  maxAgeDays?: number;
}

/** Retention collects the pruned snapshots' objects once this many have been pruned since the last gc. */
export const GC_EVERY = 10;

/** Keep the newest 20; no age rule unless one is set. */
export const DEFAULT_RETENTION: Retention = { keep: 20 };

/** The operation's retention, or the default; `keep` is never below 1, so the newest always stays. */
export function retentionOf(opts: Pick<OperationOptions, 'retention'>): Retention {
  const given = opts.retention ?? DEFAULT_RETENTION;
  const keep = Number.isFinite(given.keep) ? Math.max(1, Math.floor(given.keep)) : DEFAULT_RETENTION.keep;
  const maxAgeDays = given.maxAgeDays !== undefined && given.maxAgeDays > 0 ? given.maxAgeDays : undefined;
  return { keep, ...(maxAgeDays !== undefined ? { maxAgeDays } : {}) };
}

/**
 * Applies the operation's retention to `store` after its commit. `created` are the snapshots the
 * operation itself just took (its pre-snapshot or safety snapshot, or what it imported): never pruned by
 * this run, so an undo point of the transaction that just committed always survives it (an imported
 * snapshot sorts by its own, older time and would otherwise go at once). Returns the pruned ids, or
 * undefined when retention failed (logged, not thrown).
 */
export async function applyRetention(
  store: SnapshotStore,
  opts: OperationOptions,
  created: readonly string[],
): Promise<string[] | undefined> {
  const retention = retentionOf(opts);
  const { defer } = opts;
  try {
    return await store.prune({
      keep: retention.keep,
      maxAgeDays: retention.maxAgeDays ?? 0,
      protect: created,
      gcEvery: GC_EVERY,
      // A process that lives on answers first and collects after (a gc took 0.5–1 s of every tenth update).
      ...(defer ? { collectLater: () => defer(() => collectLater(store.collectionDir, opts)) } : {}),
    });
  } catch (err) {
    opts.logger.warn(
      `[Retention] pruning snapshots after ${created.join(', ') || 'the operation'} failed (the operation itself is done; the next one retries): ${(err as Error).message}`,
    );
    return undefined;
  }
}

/**
 * The gc retention left for after the answer: as the collection's writer (the lock taken without
 * waiting), and only when still due. Never throws: with the lock held elsewhere, or the gc failing, the
 * count stays and the next retention collects.
 */
async function collectLater(dir: string, opts: OperationOptions): Promise<void> {
  try {
    await asWriter(dir, opts, 'gc', (store) => store.collectIfDue(GC_EVERY), 0);
  } catch (err) {
    opts.logger.warn(
      `[Retention] the gc left for later did not run (the next retention retries): ${(err as Error).message}`,
    );
  }
}
