/**
 * Creating an empty collection: the folders SkillMeat's `init` makes and the two TOML files, each
 * written atomically. Refuses to touch a folder that already holds a collection.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nameProblem } from './artifact.js';
import { CoreError } from './errors.js';
import { writeFileAtomic } from './fs.js';
import type { Fs } from './fs.js';
import { emptyLock, LOCK_FILE, serializeLock } from './lock.js';
import { MANIFEST_FILE, newManifest, serializeManifest } from './manifest.js';
import { naiveUtcNow } from './time.js';

export async function initCollection(
  dir: string,
  options: { name: string; fs: Fs; now?: Date },
): Promise<void> {
  const problem = nameProblem(options.name);
  if (problem) throw new CoreError({ code: 'artifact-name-invalid', name: options.name, reason: problem });
  if (fs.existsSync(path.join(dir, MANIFEST_FILE))) throw new CoreError({ code: 'collection-exists', dir });
  const now = naiveUtcNow(options.now);
  for (const folder of ['skills', 'commands', 'agents', 'workflows'])
    await options.fs.mkdir(path.join(dir, folder));
  await writeFileAtomic(options.fs, path.join(dir, LOCK_FILE), serializeLock(emptyLock()));
  await writeFileAtomic(
    options.fs,
    path.join(dir, MANIFEST_FILE),
    serializeManifest(newManifest(options.name, now)),
  );
}
