/**
 * Re-locking local edits: accept an artifact's current files as its locked content (the lock's
 * `content_hash` becomes the files' hash, noise left out), so a deliberately edited artifact reads `clean` again.
 * Upstream pins are untouched. A snapshot comes first, as for every change, so it can be undone.
 */
import * as path from 'node:path';
import { artifactId } from '../model/artifact.js';
import { loadCollectionCaching, lockWrite, preflightCollection } from '../model/collection.js';
import { CoreError } from '../base/errors.js';
import { contentHash, skillMeatHash } from '../model/hash.js';
import { getEntry, setEntry } from '../model/lock.js';
import type { OperationOptions } from './operations.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { applyRetention } from './retention.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { selectArtifacts } from './update.js';
import { checkCollection } from '../status/consistency.js';

/** Every artifact `status` calls modified, chosen by the writer after it recovered (never before). */
export const ALL_MODIFIED = 'all-modified';

export interface RelockResult {
  relocked: string[];
  txId: string;
  preSnapshot: string;
}

export async function relockArtifacts(
  collectionDir: string,
  refs: readonly string[] | typeof ALL_MODIFIED,
  opts: OperationOptions,
): Promise<RelockResult> {
  const dir = path.resolve(collectionDir);
  // Refused before the writer lock creates anything; an interrupted transaction is recovered first.
  if (refs !== ALL_MODIFIED)
    await preflightCollection(dir, opts.fs, (collection) => void selectArtifacts(collection, refs));
  return withWriter(dir, writerOptions(opts, 'relock'), async () => {
    // Which artifacts are modified is read here, after recovery: a check made before it reads the
    // interrupted transaction's half-written state (a lock mid-rename lists nothing as modified).
    const ids =
      refs === ALL_MODIFIED
        ? (await checkCollection(dir, { fs: opts.fs })).artifacts
            .filter((a) => a.state === 'modified')
            .map((a) => a.id)
        : refs;
    const collection = await loadCollectionCaching(dir, opts.fs);
    const entries = selectArtifacts(collection, ids);
    const now = naiveUtcNow(clockOf(opts).now());
    const relocked: string[] = [];
    for (const entry of entries) {
      let hash: string;
      try {
        hash = contentHash(path.join(dir, entry.path));
      } catch {
        throw new CoreError({
          code: 'artifact-path-invalid',
          artifact: artifactId(entry),
          path: entry.path,
          reason: 'does not exist',
        });
      }
      const locked = getEntry(collection.lock, entry);
      // Accepting files that may still hold markers is `resolve`'s job: it checks for them first.
      if (locked?.conflicted)
        throw new CoreError({
          code: 'conflicted',
          artifact: artifactId(entry),
          reason: 'finish it with `resolve` (it checks for markers first) or `update --abort`',
        });
      if (locked?.contentHash === hash) continue;
      // A clean artifact is left alone, even when its SkillMeat-written hash counted a noise file.
      if (locked && locked.contentHash === skillMeatHash(path.join(dir, entry.path))) continue;
      setEntry(collection.lock, entry, {
        content_hash: hash,
        fetched: now,
        upstream: locked?.upstream ?? entry.upstream,
        resolved_sha: locked?.resolvedSha ?? entry.resolvedSha,
        resolved_version: locked?.resolvedVersion ?? entry.resolvedVersion,
      });
      relocked.push(artifactId(entry));
    }
    if (relocked.length === 0) return { relocked, txId: '', preSnapshot: '' };
    const store = await openSnapshotStore(dir, storeOptions(opts));
    try {
      const pre = await store.create({
        reason: `before re-locking ${relocked.join(', ')}`,
        trigger: 'relock',
        artifacts: relocked,
      });
      const txId = newTxId(clockOf(opts).now().getTime());
      await applyChanges(
        dir,
        {
          txId,
          kind: 'relock',
          description: `re-lock ${relocked.join(', ')}`,
          artifacts: relocked,
          preSnapshot: pre.id,
          changes: [lockWrite(collection)],
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
      await applyRetention(store, opts, [pre.id]);
      return { relocked, txId, preSnapshot: pre.id };
    } finally {
      store.close();
    }
  });
}
