/**
 * A cache of parsed TOML documents, content-addressed: `.artifact-keeper/parse-cache-<sha256>.json` holds
 * the tables of the bytes with that SHA-256. Parsing a 2,000-artifact manifest and lock with @iarna/toml
 * costs more than a whole warm status; reading the same tree back as JSON costs a tenth of it. A command
 * reads only the documents it needs, and the few newest are kept (`KEEP`), so after a restore or an undo
 * the bytes put back are usually still there. Only documents that JSON keeps exactly (no dates, no big
 * integers, no NaN or infinities, no integral float such as `1.0`, which JSON gives back as an integer)
 * are cached. Written through the Fs port, temp then rename, without fsync (`replaceDerivedFile`: a
 * power cut can only leave an entry that does not parse, a miss); faults reach every write.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { traceCount } from '../base/trace.js';
import { replaceDerivedFile } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { holdsRememberedFloat, isJsonNumber, parseToml } from './toml.js';
import type { TomlTable } from './toml.js';

const PREFIX = 'parse-cache-';
const ENTRY = /^parse-cache-[0-9a-f]{64}\.json$/;
/** The one-file cache of earlier versions; removed at the next save. */
const LEGACY_FILE = 'parse-cache.json';
const VERSION = 2;
/**
 * Documents kept: the manifest and lock now and three earlier versions of each. The most recently written
 * or read stay (a read moves the entry's time: `markUsed`), and never one this process read (so the bytes
 * a restore keeps putting back are not pushed out by the updates in between).
 */
export const KEEP = 8;

interface Entry {
  version: number;
  doc: TomlTable;
}

export interface ParseCache {
  parse(bytes: Uint8Array | string, file: string): TomlTable;
  /**
   * Learns that `bytes` parse to `doc` without parsing them: for a document we serialised ourselves
   * (the TOML writer's output reads back as the table it was written from). Keeps a copy.
   */
  remember(bytes: Uint8Array | string, doc: TomlTable, jsonExact?: boolean): void;
  /**
   * Writes the documents learnt since it opened, then drops the oldest beyond `KEEP`; only into an
   * existing `.artifact-keeper/`. Best effort: never rejects (a read-only collection just stays cold).
   */
  save(fs: Fs): Promise<void>;
}

/** Whether a name in `.artifact-keeper/` is an entry of the parse cache. */
export function isParseCacheEntry(name: string): boolean {
  return ENTRY.test(name);
}

/** The file holding the tables of the bytes with this SHA-256 (hex). */
export function parseCacheEntry(collectionDir: string, hash: string): string {
  return path.join(collectionDir, STATE_DIR, `${PREFIX}${hash}.json`);
}

export function openParseCache(collectionDir: string): ParseCache {
  const stateDir = path.join(collectionDir, STATE_DIR);
  /** Entry text by hash, written at the next save. */
  const pending = new Map<string, string>();
  /** Entries this process read: never pruned by its own save. */
  const used = new Set<string>();
  /** `jsonExact`: the caller knows JSON gives `doc` back exactly (the TOML writer told it: no walk). */
  const keep = (hash: string, doc: TomlTable, jsonExact?: boolean): void => {
    // The text now: callers edit the tree they get, and the cache must keep the bytes' meaning.
    if (jsonExact ?? isJsonExact(doc))
      pending.set(hash, JSON.stringify({ version: VERSION, doc } satisfies Entry));
  };
  return {
    parse(bytes, file) {
      const hash = sha256(bytes);
      const key = path.basename(file);
      const entry = parseCacheEntry(collectionDir, hash);
      const hit = readEntry(entry);
      if (hit) {
        traceCount(`parse cache hit ${key}`);
        used.add(hash);
        markUsed(entry);
        return hit;
      }
      traceCount(`parse cache miss ${key}`);
      const doc = parseToml(bytes, file);
      keep(hash, doc);
      return doc;
    },
    remember(bytes, doc, jsonExact) {
      keep(sha256(bytes), doc, jsonExact);
    },
    async save(fsPort) {
      if (pending.size === 0 || !fs.existsSync(stateDir)) return;
      const written = [...pending];
      pending.clear();
      for (const [hash, text] of written) {
        try {
          await replaceDerivedFile(fsPort, parseCacheEntry(collectionDir, hash), text);
        } catch {
          // Best effort: the next command parses and tries again.
        }
      }
      await prune(fsPort, stateDir, used);
    },
  };
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Moves an entry's write time to now, so the pruning of any later process counts a read as a use (least
 * recently used goes first). Without it, the bytes an update reads and a restore puts back were pruned by
 * the restore's own save (it read only the update's entries), and every second update parsed both
 * documents again. Only a time on derived data: a failure just leaves the entry older.
 */
function markUsed(file: string): void {
  try {
    const now = new Date();
    fs.utimesSync(file, now, now);
  } catch {
    // Best effort (a read-only collection: nothing is pruned there either).
  }
}

function readEntry(file: string): TomlTable | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const entry = JSON.parse(text) as Partial<Entry>;
    return entry.version === VERSION && typeof entry.doc === 'object' && entry.doc !== null
      ? entry.doc
      : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the oldest entries beyond `KEEP` (never one in `used`) and the legacy one-file cache. */
async function prune(fsPort: Fs, stateDir: string, used: ReadonlySet<string>): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(stateDir);
  } catch {
    return;
  }
  const doomed = names.includes(LEGACY_FILE) ? [LEGACY_FILE] : [];
  const entries = names.filter(isParseCacheEntry);
  if (entries.length > KEEP) {
    const aged = entries.flatMap((name) => {
      try {
        return [{ name, mtimeMs: fs.statSync(path.join(stateDir, name)).mtimeMs }];
      } catch {
        return [];
      }
    });
    aged.sort((a, b) => b.mtimeMs - a.mtimeMs);
    const kept = new Set(aged.filter(({ name }) => used.has(hashOf(name))).map(({ name }) => name));
    for (const { name } of aged) if (kept.size < KEEP) kept.add(name);
    doomed.push(...aged.filter(({ name }) => !kept.has(name)).map(({ name }) => name));
  }
  for (const name of doomed) await fsPort.unlink(path.join(stateDir, name)).catch(() => undefined);
}

function hashOf(entryName: string): string {
  return entryName.slice(PREFIX.length, -'.json'.length);
}

/**
 * Whether JSON gives `value` back exactly. Walks with its own stack, not recursion: parseToml limits the
 * depth, but this must not be the place a document too deep for the stack crashes.
 */
function isJsonExact(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    switch (typeof item) {
      case 'string':
      case 'boolean':
        continue;
      case 'number':
        if (isJsonNumber(item)) continue;
        return false;
      case 'object':
        if (item === null || item instanceof Date || holdsRememberedFloat(item)) return false;
        for (const child of Array.isArray(item) ? item : Object.values(item as Record<string, unknown>))
          stack.push(child);
        continue;
      default:
        return false;
    }
  }
  return true;
}
