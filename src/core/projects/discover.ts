/**
 * Which collection a project's deployments come from (DESIGN §7, §10): an explicit `--collection`
 * first; else the collection the tracking file names in `from_collection` (a SkillMeat collection name,
 * `~/.skillmeat/collections/<name>`, or a path); else SkillMeat's active collection
 * (`~/.skillmeat/config.toml` `[settings] default-collection`, "default" without one); else the
 * current folder when it holds a collection. Reads only; the home folder is passed in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreError, ioFailure } from '../base/errors.js';
import { holdsCollection } from '../model/collection.js';
import { MANIFEST_FILE } from '../model/manifest.js';
import { isTable, parseToml } from '../model/toml.js';
import type { TrackingFile } from './trackingFile.js';

export type CollectionSource = 'explicit' | 'tracking-file' | 'skillmeat-config' | 'current-folder';

export interface DiscoveredCollection {
  dir: string;
  via: CollectionSource;
}

export interface DiscoverOptions {
  /** The home folder (`~`), from the composition root. */
  home: string;
  /** `--collection DIR`, when the person gave one. */
  explicit?: string;
  /** The project's tracking file, when it has one. */
  tracking?: TrackingFile;
  /** The folder the command runs in (the last fallback). */
  cwd?: string;
}

/** `~/.skillmeat/collections/<name>`. */
export function skillMeatCollectionDir(home: string, name: string): string {
  return path.join(home, '.skillmeat', 'collections', name);
}

/**
 * Finds the collection. Throws `not-a-collection` naming every place looked at when none holds a
 * `collection.toml`, or naming the tracking file whose `from_collection` points at a missing one (a
 * named collection is never silently replaced by another), or `toml-invalid` for a malformed config.
 */
export function discoverCollection(options: DiscoverOptions): DiscoveredCollection {
  if (options.explicit !== undefined) {
    const dir = path.resolve(options.explicit);
    if (!holdsCollection(dir)) throw notFound(dir, `no ${MANIFEST_FILE} here (given by --collection)`);
    return { dir, via: 'explicit' };
  }
  const named = options.tracking?.records[0]?.fromCollection;
  if (options.tracking && named !== undefined) {
    const dir = fromCollectionDir(options.home, named, path.dirname(options.tracking.file));
    if (!holdsCollection(dir))
      throw notFound(
        dir,
        `no ${MANIFEST_FILE} here: ${options.tracking.file} names the collection "${named}"; pass --collection DIR`,
      );
    return { dir, via: 'tracking-file' };
  }
  const looked: string[] = [];
  const active = activeSkillMeatCollection(options.home);
  if (holdsCollection(active)) return { dir: active, via: 'skillmeat-config' };
  looked.push(`${active} (SkillMeat's active collection)`);
  if (options.cwd !== undefined) {
    const cwd = path.resolve(options.cwd);
    if (holdsCollection(cwd)) return { dir: cwd, via: 'current-folder' };
    looked.push(`${cwd} (the current folder)`);
  }
  throw notFound(
    path.resolve(options.cwd ?? options.home),
    `no collection found for this project; looked at ${looked.join(', ')}; pass --collection DIR`,
  );
}

/**
 * The folder a `from_collection` value means. SkillMeat writes the collection's name; a value that is
 * a path (absolute, or with a separator) is taken as one, relative to the profile root.
 */
export function fromCollectionDir(home: string, value: string, profileRootDir: string): string {
  if (path.isAbsolute(value)) return value;
  if (value.includes('/') || value.includes('\\') || value === '.' || value === '..')
    return path.resolve(profileRootDir, value);
  return skillMeatCollectionDir(home, value);
}

/** SkillMeat's active collection folder: `[settings] default-collection` of its config, else "default". */
export function activeSkillMeatCollection(home: string): string {
  const config = path.join(home, '.skillmeat', 'config.toml');
  let bytes: Buffer | undefined;
  try {
    bytes = fs.readFileSync(config);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw ioFailure('read', config, err);
  }
  let name = 'default';
  if (bytes !== undefined) {
    const doc = parseToml(bytes, config);
    const settings = doc.settings;
    const value = isTable(settings) ? settings['default-collection'] : undefined;
    if (typeof value === 'string' && value.length > 0 && !/[/\\]|^\.\.?$/.test(value)) name = value;
  }
  return skillMeatCollectionDir(home, name);
}

function notFound(dir: string, reason: string): CoreError {
  return new CoreError({ code: 'not-a-collection', dir, reason });
}
