/**
 * Loads a collection folder: `collection.toml` and `collection.lock` parsed into their typed views,
 * with the exact bytes kept so an unchanged document is never rewritten. Pure reading; no writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreError, ioFailure } from './errors.js';
import { LOCK_FILE, parseLock, serializeLock } from './lock.js';
import type { FileChange } from './changes.js';
import type { Lock } from './lock.js';
import { MANIFEST_FILE, parseManifest, serializeManifest, touchCollection } from './manifest.js';
import type { Manifest } from './manifest.js';
import { openParseCache } from './parseCache.js';

export interface Collection {
  dir: string;
  manifest: Manifest;
  lock: Lock;
  manifestBytes: Buffer;
  /** Undefined when the collection has no lock file yet (it reads as "no entries"). */
  lockBytes: Buffer | undefined;
}

export function manifestPath(dir: string): string {
  return path.join(dir, MANIFEST_FILE);
}

export function lockPath(dir: string): string {
  return path.join(dir, LOCK_FILE);
}

/** Throws `not-a-collection`, `toml-invalid`, `manifest-invalid`, `lock-invalid` or `lock-version-unsupported`. */
export function loadCollection(dir: string): Collection {
  const root = path.resolve(dir);
  const manifestFile = manifestPath(root);
  let manifestBytes: Buffer;
  try {
    manifestBytes = fs.readFileSync(manifestFile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CoreError({ code: 'not-a-collection', dir: root, reason: `no ${MANIFEST_FILE} here` });
    }
    throw ioFailure('read', manifestFile, err);
  }
  let lockBytes: Buffer | undefined;
  try {
    lockBytes = fs.readFileSync(lockPath(root));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioFailure('read', lockPath(root), err);
  }
  const cache = openParseCache(root);
  const manifest = parseManifest(manifestBytes, manifestFile, cache.parse);
  const lock = parseLock(lockBytes, lockPath(root), cache.parse);
  cache.save();
  return { dir: root, manifest, lock, manifestBytes, lockBytes };
}

/** Walks up from `start` to the nearest folder holding a collection.toml. */
export function findCollectionDir(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, MANIFEST_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The writes that commit an edited collection model: `collection.toml` (its `updated` stamped), then
 * `collection.lock` last, whose rename is the transaction's commit point.
 */
export function collectionWrites(collection: Collection, now: string): FileChange[] {
  touchCollection(collection.manifest, now);
  return [
    {
      kind: 'write',
      rel: MANIFEST_FILE,
      data: Buffer.from(serializeManifest(collection.manifest)),
      mode: 0o644,
    },
    { kind: 'write', rel: LOCK_FILE, data: Buffer.from(serializeLock(collection.lock)), mode: 0o644 },
  ];
}
