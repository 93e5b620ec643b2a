/**
 * Retention (DESIGN §4): the one housekeeping step every snapshot-creating operation (update, restore,
 * undo, add, import, relock, snapshot) runs after its commit. It keeps the newest `keep` snapshots in
 * creation order, plus those younger than `maxAgeDays` when that is set, always the newest and the
 * operation's own, never a pinned one; then `git gc --prune`, amortised: only every `GC_EVERY` pruned
 * snapshots (a gc repacks the whole store, ~7 git processes; `snapshots prune` collects at once). A failure here never fails or undoes the
 * committed operation: it is logged as a warning and the next operation's retention tries again.
 */
import type { SnapshotStore } from '../store/snapshots.js';
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
  opts: Pick<OperationOptions, 'retention' | 'logger'>,
  created: readonly string[],
): Promise<string[] | undefined> {
  const retention = retentionOf(opts);
  try {
    return await store.prune({
      keep: retention.keep,
      maxAgeDays: retention.maxAgeDays ?? 0,
      protect: created,
      gcEvery: GC_EVERY,
    });
  } catch (err) {
    opts.logger.warn(
      `[Retention] pruning snapshots after ${created.join(', ') || 'the operation'} failed (the operation itself is done; the next one retries): ${(err as Error).message}`,
    );
    return undefined;
  }
}
