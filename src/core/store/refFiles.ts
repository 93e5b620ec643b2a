/**
 * Refs created by this process, as git's files backend keeps them: `<ref>.lock` written, then renamed to
 * `<ref>` (the lock name is git's own, so a git process at work on the same ref makes us back off, and a
 * sweep removes one a kill left). For a new snapshot's refs, which `update-ref --stdin` made at the cost
 * of a git process (20–30 ms forked from the extension host) for a 41-byte file.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import type { Fs } from '../ports/fs.js';
import { writeThenRename } from './gitObjects.js';

/**
 * Creates each of `refs` (full names, `refs/…`) pointing at `sha`, as `update-ref`'s `create` does:
 * 'exists' (and nothing written) when one is there already, loose, packed or locked; 'unsupported'
 * (nothing written) when the repository keeps its refs in a reftable, for git to write.
 */
export async function createRefs(
  gitDir: string,
  fs: Fs,
  refs: readonly string[],
  sha: string,
): Promise<'created' | 'exists' | 'unsupported'> {
  if (nodeFs.existsSync(path.join(gitDir, 'reftable'))) return 'unsupported';
  const packed = packedRefNames(gitDir);
  for (const ref of refs) {
    const file = path.join(gitDir, ref);
    if (packed.has(ref) || nodeFs.existsSync(file) || nodeFs.existsSync(`${file}.lock`)) return 'exists';
  }
  for (const ref of refs) {
    const file = path.join(gitDir, ref);
    await writeThenRename(fs, `${file}.lock`, file, `${sha}\n`);
  }
  return 'created';
}

/** The names in `packed-refs` (none when there is no such file). */
export function packedRefNames(gitDir: string): Set<string> {
  const names = new Set<string>();
  let text: string;
  try {
    text = nodeFs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    // `<sha> <name>`; `#` starts the header, `^` a peeled tag's target.
    if (line.length > 41 && line[40] === ' ' && line[0] !== '#' && line[0] !== '^') names.add(line.slice(41));
  }
  return names;
}

/**
 * The names of the refs under each of `prefixes` (`refs/snapshots/`, …), loose and packed, as git's files
 * backend keeps them; a `.lock` beside a ref is not one. Undefined when the repository keeps its refs in
 * a reftable (ask git then).
 */
export function refNamesUnder(gitDir: string, prefixes: readonly string[]): Set<string> | undefined {
  if (nodeFs.existsSync(path.join(gitDir, 'reftable'))) return undefined;
  const names = new Set<string>();
  const walk = (ref: string): void => {
    let entries: nodeFs.Dirent[];
    try {
      entries = nodeFs.readdirSync(path.join(gitDir, ref), { withFileTypes: true });
    } catch {
      return; // none loose under this prefix
    }
    for (const entry of entries) {
      if (entry.isDirectory()) walk(`${ref}${entry.name}/`);
      else if (entry.isFile() && !entry.name.endsWith('.lock')) names.add(`${ref}${entry.name}`);
    }
  };
  for (const prefix of prefixes) walk(prefix);
  for (const name of packedRefNames(gitDir)) if (prefixes.some((p) => name.startsWith(p))) names.add(name);
  return names;
}
