/**
 * A cache of parsed TOML documents keyed by the SHA-256 of their bytes, in
 * `.artifact-keeper/parse-cache.json`. Parsing a 2,000-artifact manifest and lock with @iarna/toml
 * costs more than a whole warm status; reading the same tree back as JSON costs a tenth of it. Only
 * documents that JSON keeps exactly (no dates, no big integers, no NaN or infinities) are cached.
 * Written through the Fs port atomically (a crash never leaves a torn cache, and faults reach it).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { traceCount } from '../base/trace.js';
import { writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { parseToml } from './toml.js';
import type { TomlTable } from './toml.js';

const CACHE_FILE = 'parse-cache.json';
const VERSION = 1;

interface CacheFile {
  version: number;
  docs: Record<string, { hash: string; doc: TomlTable }>;
}

export interface ParseCache {
  parse(bytes: Uint8Array | string, file: string): TomlTable;
  /**
   * Learns that `bytes` parse to `doc` without parsing them: for a document we serialised ourselves
   * (the TOML writer's output reads back as the table it was written from). Keeps a copy.
   */
  remember(bytes: Uint8Array | string, file: string, doc: TomlTable): void;
  /**
   * Writes the cache back if it changed, only into an existing `.artifact-keeper/`. Best effort: never
   * rejects (a read-only collection just stays cold).
   */
  save(fs: Fs): Promise<void>;
}

export function openParseCache(collectionDir: string): ParseCache {
  const stateDir = path.join(collectionDir, STATE_DIR);
  const cacheFile = path.join(stateDir, CACHE_FILE);
  let cache: CacheFile | undefined;
  let dirty = false;
  const load = (): CacheFile => {
    if (cache) return cache;
    try {
      const parsed = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as CacheFile;
      cache =
        parsed.version === VERSION && typeof parsed.docs === 'object'
          ? parsed
          : { version: VERSION, docs: {} };
    } catch {
      cache = { version: VERSION, docs: {} };
    }
    return cache;
  };
  const keep = (hash: string, key: string, doc: TomlTable): void => {
    if (!isJsonExact(doc)) return;
    // Store a copy: callers edit the tree they get, and the cache must keep the bytes' meaning.
    load().docs[key] = { hash, doc: JSON.parse(JSON.stringify(doc)) as TomlTable };
    dirty = true;
  };
  return {
    parse(bytes, file) {
      const hash = createHash('sha256').update(bytes).digest('hex');
      const key = path.basename(file);
      const hit = load().docs[key];
      if (hit && hit.hash === hash) {
        traceCount(`parse cache hit ${key}`);
        return hit.doc;
      }
      traceCount(`parse cache miss ${key}`);
      const doc = parseToml(bytes, file);
      keep(hash, key, doc);
      return doc;
    },
    remember(bytes, file, doc) {
      keep(createHash('sha256').update(bytes).digest('hex'), path.basename(file), doc);
    },
    async save(fsPort) {
      if (!dirty || !cache || !fs.existsSync(stateDir)) return;
      const text = JSON.stringify(cache);
      dirty = false;
      try {
        await writeFileAtomic(fsPort, cacheFile, text);
      } catch {
        // Best effort; a later save tries again.
        dirty = true;
      }
    },
  };
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
        if (Number.isFinite(item) && !Object.is(item, -0)) continue;
        return false;
      case 'object':
        if (item === null || item instanceof Date) return false;
        for (const child of Array.isArray(item) ? item : Object.values(item as Record<string, unknown>))
          stack.push(child);
        continue;
      default:
        return false;
    }
  }
  return true;
}
