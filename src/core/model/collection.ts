/**
 * Loads a collection folder: `collection.toml` and `collection.lock` parsed into their typed views,
 * with the exact bytes kept so an unchanged document is never rewritten. `loadCollection` is pure
 * reading; `loadCollectionCaching` also writes the parse cache back (derived data, through the Fs port).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreError, ioFailure } from '../base/errors.js';
import { hasJournal } from '../txn/journal.js';
import { LOCK_FILE, parseLock } from './lock.js';
import type { FileChange } from '../base/changes.js';
import type { Lock } from './lock.js';
import { MANIFEST_FILE, parseManifest, touchCollection } from './manifest.js';
import type { Manifest } from './manifest.js';
import { openParseCache } from './parseCache.js';
import type { ParseCache } from './parseCache.js';
import { serializeTomlNoting } from './toml.js';
import type { TomlTable } from './toml.js';
import type { Fs } from '../ports/fs.js';

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

export interface LoadOptions {
  /**
   * The parse cache to read through; whoever opened it decides whether to save it. Default: one opened
   * for this load and never saved.
   */
  parseCache?: ParseCache;
  /**
   * A collection loaded before from the same folder: given back as it is when manifest and lock still
   * hold the bytes it was parsed from (the status daemon's warm checks). Callers must not edit it.
   */
  previous?: Collection;
}

/** Throws `not-a-collection`, `toml-invalid`, `manifest-invalid`, `lock-invalid` or `lock-version-unsupported`. */
export function loadCollection(dir: string, options: LoadOptions = {}): Collection {
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
  const previous = options.previous;
  if (previous?.dir === root && sameBytes(previous, manifestBytes, lockBytes)) return previous;
  const cache = options.parseCache ?? openParseCache(root);
  const manifest = parseManifest(manifestBytes, manifestFile, cache.parse, root);
  const lock = parseLock(lockBytes, lockPath(root), cache.parse);
  return { dir: root, manifest, lock, manifestBytes, lockBytes };
}

function sameBytes(collection: Collection, manifestBytes: Buffer, lockBytes: Buffer | undefined): boolean {
  if (!collection.manifestBytes.equals(manifestBytes)) return false;
  return lockBytes === undefined
    ? collection.lockBytes === undefined
    : collection.lockBytes?.equals(lockBytes) === true;
}

/**
 * `loadCollection`, then newly parsed documents written to the parse cache through `fs` (only inside
 * an existing `.artifact-keeper/`; best effort, a failed write only leaves the cache cold). Throws what
 * `loadCollection` throws (and then writes nothing).
 */
export async function loadCollectionCaching(dir: string, fs: Fs, previous?: Collection): Promise<Collection> {
  const parseCache = openParseCache(path.resolve(dir));
  const collection = loadCollection(dir, { parseCache, ...(previous ? { previous } : {}) });
  await parseCache.save(fs);
  return collection;
}

/**
 * True when `collection.toml` and `collection.lock` still hold the bytes `collection` was parsed from,
 * so the parsed model can be used again (a re-read costs far less than a re-parse). Reads only.
 */
export function isUnchangedOnDisk(collection: Collection): boolean {
  try {
    if (!collection.manifestBytes.equals(fs.readFileSync(manifestPath(collection.dir)))) return false;
  } catch {
    return false;
  }
  try {
    return collection.lockBytes?.equals(fs.readFileSync(lockPath(collection.dir))) === true;
  } catch (err) {
    return collection.lockBytes === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Whether `dir` is a collection, read without the writer lock: it holds a `collection.toml` file, or the
 * journal of a transaction, whose renames move `collection.toml` aside for a moment (and whose recovery
 * puts it back). Asked twice when neither is there: a transaction that ended between the two looks
 * removes its journal only after `collection.toml` is back. (A concurrent deploy was refused "no
 * collection.toml here" in that moment: the concurrency campaign, seed 910757.)
 */
export function holdsCollection(dir: string): boolean {
  const manifest = path.join(dir, MANIFEST_FILE);
  const isFile = (): boolean => {
    try {
      return fs.statSync(manifest).isFile();
    } catch {
      return false; // gone, or a file where a folder of the path should be (ENOTDIR), or unreadable
    }
  };
  return isFile() || hasJournal(dir) || isFile();
}

/** Walks up from `start` to the nearest folder holding a collection (`holdsCollection`). */
export function findCollectionDir(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (holdsCollection(dir)) return dir;
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
  return [manifestWrite(collection), lockWrite(collection)];
}

/** The write of `collection.toml` as the model holds it now (the parse cache learns it once committed). */
export function manifestWrite(collection: Collection): FileChange {
  return serialisedWrite(collection, MANIFEST_FILE, collection.manifest.raw);
}

/** The write of `collection.lock` as the model holds it now (the parse cache learns it once committed). */
export function lockWrite(collection: Collection): FileChange {
  return serialisedWrite(collection, LOCK_FILE, collection.lock.raw);
}

function serialisedWrite(collection: Collection, file: string, doc: TomlTable): FileChange {
  const { text, jsonExact } = serializeTomlNoting(doc);
  const data = Buffer.from(text);
  writtenDocs.set(data, { dir: collection.dir, file, doc, jsonExact });
  return { kind: 'write', rel: file, data, mode: 0o644 };
}

/**
 * The collection as `writes` (`collectionWrites` of it) left it on disk once they committed: the same
 * model, holding the bytes written, for a process that keeps it for its next command. Undefined when the
 * writes hold no manifest and lock (nothing to keep; never thrown after a commit).
 */
export function asCommitted(collection: Collection, writes: readonly FileChange[]): Collection | undefined {
  const written = (file: string): Buffer | undefined => {
    const change = writes.find((w) => w.kind === 'write' && w.rel === file && w.root === undefined);
    return change?.kind === 'write' && Buffer.isBuffer(change.data) ? change.data : undefined;
  };
  const manifestBytes = written(MANIFEST_FILE);
  const lockBytes = written(LOCK_FILE);
  return manifestBytes && lockBytes ? { ...collection, manifestBytes, lockBytes } : undefined;
}

/** The documents `manifestWrite` and `lockWrite` serialised, by the bytes they wrote them as. */
const writtenDocs = new WeakMap<Buffer, { dir: string; file: string; doc: TomlTable; jsonExact: boolean }>();

/**
 * After a transaction committed: the parse cache learns the manifest and lock documents that
 * `manifestWrite` and `lockWrite` serialised for it, so the next command reads them back as JSON instead of parsing
 * 2,000 tables again (300 ms of every command after an update). Other changes are ignored. Best effort,
 * like every write of the cache: it never rejects.
 */
export async function rememberWrittenDocs(
  dir: string,
  changes: readonly FileChange[],
  fsPort: Fs,
): Promise<void> {
  const root = path.resolve(dir);
  const written = changes.flatMap((change) => {
    if (change.kind !== 'write' || change.root !== undefined || !Buffer.isBuffer(change.data)) return [];
    const known = writtenDocs.get(change.data);
    return known && known.dir === root && known.file === change.rel ? [{ data: change.data, ...known }] : [];
  });
  if (written.length === 0) return;
  try {
    const cache = openParseCache(root);
    for (const { data, doc, jsonExact } of written) cache.remember(data, doc, jsonExact);
    await cache.save(fsPort);
  } catch {
    // A cold cache only costs the next command a parse.
  }
}

/**
 * For a writer, before it takes the lock: the collection loaded and then checked by `check`, read-only,
 * so bad input is refused before anything (not even `.artifact-keeper/`) is created. Undefined when the
 * journal of an interrupted transaction is there, or appears while we read: manifest and lock may then be
 * mid-transaction, and the writer takes the lock and recovers before it loads them.
 */
export async function preflightCollection(
  dir: string,
  fs: Fs,
  check: (collection: Collection) => void = () => undefined,
  previous?: Collection,
): Promise<Collection | undefined> {
  for (let attempt = 1; ; attempt++) {
    if (hasJournal(dir)) return undefined;
    try {
      const collection = await loadCollectionCaching(dir, fs, previous);
      check(collection);
      return collection;
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      if (hasJournal(dir)) return undefined;
      // Read once more: a transaction that ended between the failed read and the look for its journal
      // removed that journal only after its manifest and lock were back in place.
      if (attempt === 2) throw err;
    }
  }
}
