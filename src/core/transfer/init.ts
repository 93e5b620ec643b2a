/**
 * Creating an empty collection: the folders SkillMeat's `init` makes and the two TOML files, each
 * written atomically. Refuses to touch a folder that already holds a collection.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nameProblem } from '../model/artifact.js';
import { CoreError } from '../base/errors.js';
import { writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { emptyLock, LOCK_FILE, serializeLock } from '../model/lock.js';
import { MANIFEST_FILE, newManifest, serializeManifest } from '../model/manifest.js';
import { naiveUtcNow } from '../base/time.js';

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
