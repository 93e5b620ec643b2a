/**
 * `repair` (DESIGN §7): brings a git-merged or hand-edited manifest and lock back to agreeing with each
 * other and with the files, snapshot first. Git conflict markers in either file are merged as a union of
 * both sides (two branches that each added an artifact); then every manifest entry whose files exist gets
 * a lock entry, a lock entry without a manifest entry gets one back when its files are where the layout
 * puts them (else it goes), and a manifest pin that disagrees with the lock follows the lock. What it cannot
 * fix (an artifact whose files are gone) it names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId, defaultPath, isArtifactType, parseLockKey } from '../model/artifact.js';
import { collectionWrites, lockPath, manifestPath } from '../model/collection.js';
import type { Collection } from '../model/collection.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { contentHash } from '../model/hash.js';
import { firstMarkerLine, splitSides } from '../model/gitMarkers.js';
import { deleteEntry, getEntry, LOCK_FILE, parseLock, setEntry } from '../model/lock.js';
import type { Lock } from '../model/lock.js';
import {
  addArtifact,
  findEntry,
  MANIFEST_FILE,
  parseManifest,
  setArtifactFields,
} from '../model/manifest.js';
import type { Manifest } from '../model/manifest.js';
import { naiveUtcNow } from '../base/time.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import type { OperationOptions } from './operations.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { applyRetention } from './retention.js';

export interface RepairResult {
  /** What was changed, one line each ("merged the git conflict in collection.lock: both sides kept"). */
  repaired: string[];
  /** What could not be repaired, one line each; `status` still reports it. */
  remaining: string[];
  txId: string;
  preSnapshot: string;
}

/** One side of a document with markers, parsed; the union of two sides keeps ours where both have a key. */
function sides<T>(text: string, file: string, parse: (text: string) => T): { ours: T; theirs?: T } {
  if (firstMarkerLine(text) === undefined) return { ours: parse(text) };
  const split = splitSides(text);
  if (!split)
    throw new CoreError({
      code: 'repair-impossible',
      reason: `the git conflict markers in ${file} do not pair up; resolve them by hand`,
    });
  return { ours: parse(split.ours), theirs: parse(split.theirs) };
}

function mergeManifests(ours: Manifest, theirs: Manifest | undefined, repaired: string[]): void {
  if (!theirs) return;
  const added: string[] = [];
  for (const entry of theirs.artifacts) {
    if (findEntry(ours, entry)) continue;
    if (!Array.isArray(ours.raw.artifacts)) ours.raw.artifacts = [];
    (ours.raw.artifacts as unknown[]).push(entry.raw);
    ours.artifacts.push(entry);
    added.push(artifactId(entry));
  }
  repaired.push(
    `merged the git conflict in ${MANIFEST_FILE}: both sides kept${added.length > 0 ? ` (${added.join(', ')} from the other side)` : ''}`,
  );
}

function mergeLocks(
  ours: Lock,
  theirs: Lock | undefined,
  dir: string,
  manifest: Manifest,
  repaired: string[],
): void {
  if (!theirs) return;
  for (const [key, entry] of theirs.entries) {
    const mine = ours.entries.get(key);
    const artifact = findEntry(manifest, { name: entry.name, type: entry.type as never });
    if (mine && artifact) {
      // Both sides lock it: the one whose hash the files have wins; ours when neither or both do.
      const files = path.join(dir, artifact.path);
      const now = fs.existsSync(files) ? contentHash(files) : undefined;
      if (now === undefined || mine.contentHash === now || entry.contentHash !== now) continue;
    } else if (mine) continue;
    const table = lockEntries(ours);
    table[key] = entry.raw;
    ours.entries.set(key, entry);
  }
  repaired.push(`merged the git conflict in ${LOCK_FILE}: both sides kept`);
}

function lockEntries(lock: Lock): Record<string, unknown> {
  const section = (lock.raw.lock ??= { version: lock.version }) as Record<string, unknown>;
  return (section.entries ??= {}) as Record<string, unknown>;
}

/** Makes manifest, lock and files agree where the files say how; returns what it could not fix. */
function reconcile(dir: string, manifest: Manifest, lock: Lock, now: string, repaired: string[]): string[] {
  const remaining: string[] = [];
  for (const entry of manifest.artifacts) {
    const id = artifactId(entry);
    const files = path.join(dir, entry.path);
    const locked = getEntry(lock, entry);
    if (!fs.existsSync(files)) {
      if (entry.type !== 'mcp')
        remaining.push(
          `${id}: no files at ${entry.path}; restore a snapshot, or remove it from ${MANIFEST_FILE}`,
        );
      continue;
    }
    if (!locked) {
      setEntry(lock, entry, {
        content_hash: contentHash(files),
        fetched: now,
        upstream: entry.upstream,
        resolved_sha: entry.resolvedSha,
        resolved_version: entry.resolvedVersion,
      });
      repaired.push(`${id}: locked its files as they are (it had no entry in ${LOCK_FILE})`);
    } else if (locked.resolvedSha && entry.resolvedSha !== locked.resolvedSha) {
      // The lock's rename is every transaction's commit point: the lock says what was applied.
      setArtifactFields(entry, {
        resolved_sha: locked.resolvedSha,
        resolved_version: locked.resolvedVersion,
      });
      repaired.push(`${id}: ${MANIFEST_FILE} pins ${locked.resolvedSha.slice(0, 12)} as ${LOCK_FILE} does`);
    }
  }
  for (const [key, locked] of [...lock.entries]) {
    const parts = parseLockKey(key);
    if (!parts || !isArtifactType(parts.type)) continue;
    const artifactKey = { name: parts.name, type: parts.type };
    if (findEntry(manifest, artifactKey)) continue;
    const at = defaultPath(artifactKey);
    if (fs.existsSync(path.join(dir, at))) {
      addArtifact(manifest, artifactKey, {
        path: at,
        origin: locked.upstream?.startsWith('https://github.com/') ? 'github' : 'local',
        added: now,
        upstream: locked.upstream,
        resolved_sha: locked.resolvedSha,
        resolved_version: locked.resolvedVersion,
      });
      repaired.push(
        `${artifactId(artifactKey)}: back in ${MANIFEST_FILE} (its lock entry and files at ${at} were there)`,
      );
    } else {
      deleteEntry(lock, artifactKey);
      repaired.push(
        `${artifactId(artifactKey)}: dropped from ${LOCK_FILE} (not in ${MANIFEST_FILE}, no files)`,
      );
    }
  }
  return remaining;
}

/**
 * Repairs the collection at `dir` under the writer lock, after a snapshot. Throws `repair-impossible`
 * when markers do not pair up or a side is not TOML, `not-a-collection` without a manifest. Writes
 * nothing when there is nothing to repair.
 */
export async function repairCollection(dir: string, opts: OperationOptions): Promise<RepairResult> {
  const root = path.resolve(dir);
  if (!fs.existsSync(manifestPath(root)))
    throw new CoreError({ code: 'not-a-collection', dir: root, reason: `no ${MANIFEST_FILE} here` });
  return withWriter(root, writerOptions(opts, 'repair'), async () => {
    const read = (file: string): string | undefined => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw ioFailure('read', file, err);
      }
    };
    const manifestText = read(manifestPath(root)) ?? '';
    const lockText = read(lockPath(root));
    const parsed = <T>(text: string, file: string, parse: (t: string) => T): { ours: T; theirs?: T } => {
      try {
        return sides(text, file, parse);
      } catch (err) {
        if (err instanceof CoreError && err.failure.code !== 'repair-impossible')
          throw new CoreError({ code: 'repair-impossible', reason: err.message }, { cause: err });
        throw err;
      }
    };
    const repaired: string[] = [];
    const manifests = parsed(manifestText, MANIFEST_FILE, (t) => parseManifest(t, manifestPath(root)));
    const locks = parsed(lockText ?? '', LOCK_FILE, (t) => parseLock(t, lockPath(root)));
    const manifest = manifests.ours;
    const lock = locks.ours;
    mergeManifests(manifest, manifests.theirs, repaired);
    mergeLocks(lock, locks.theirs, root, manifest, repaired);
    const now = naiveUtcNow(clockOf(opts).now());
    const remaining = reconcile(root, manifest, lock, now, repaired);
    if (repaired.length === 0) return { repaired, remaining, txId: '', preSnapshot: '' };
    const collection: Collection = {
      dir: root,
      manifest,
      lock,
      manifestBytes: Buffer.from(manifestText),
      lockBytes: lockText === undefined ? undefined : Buffer.from(lockText),
    };
    const store = await openSnapshotStore(root, storeOptions(opts));
    try {
      const pre = await store.create({ reason: 'before repair', trigger: 'repair', artifacts: [] });
      const txId = newTxId(clockOf(opts).now().getTime());
      await applyChanges(
        root,
        {
          txId,
          kind: 'repair',
          description: 'repair collection.toml and collection.lock',
          artifacts: [],
          preSnapshot: pre.id,
          changes: collectionWrites(collection, now),
          tool: opts.tool,
        },
        transactionOptions(opts),
      );
      await applyRetention(store, opts, [pre.id]); // after the commit; never throws
      return { repaired, remaining, txId, preSnapshot: pre.id };
    } finally {
      store.close();
    }
  });
}
