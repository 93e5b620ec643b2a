/**
 * Refs created or moved by this process, as git's files backend keeps them: `<ref>.lock` written, then
 * renamed to `<ref>` (the lock name is git's own, so a git process at work on the same ref makes us back
 * off, and a sweep removes one a kill left). For a new snapshot's refs and the moves of the stored
 * upstream and deployed copies, which `update-ref --stdin` made at the cost of a git process (8–13 ms
 * from the CLI, 20–30 ms forked from the extension host) for a 41-byte file each.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { isErrno } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import { io, writeThenRename } from './gitObjects.js';

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

/** A ref moved from `old` (undefined: it must not exist yet) to `sha`: `update-ref`'s `update` line. */
export interface RefMove {
  ref: string;
  sha: string;
  old: string | undefined;
}

/**
 * Moves each ref as one `update-ref --stdin` transaction of `update` lines does in git's files backend:
 * every lock written first (nothing is moved if one cannot be), then each renamed over its ref. Checked
 * before anything is written, and then 'unsupported' with nothing written, for git to do or refuse in its
 * own words: a reftable, a lock already there, a ref whose value is not `old` (or is symbolic), a ref
 * given twice. A failing write throws, with no lock left.
 */
export async function moveRefs(
  gitDir: string,
  fs: Fs,
  moves: readonly RefMove[],
): Promise<'moved' | 'unsupported'> {
  const packed = plainlyAt(gitDir, moves);
  if (!packed) return 'unsupported';
  // A new name may not be a folder of a packed ref's, nor a packed ref one of its (loose, reading it
  // fails with EISDIR or ENOTDIR, and `plainlyAt` refused it).
  for (const { ref, old } of moves) {
    if (
      old === undefined &&
      [...packed().keys()].some((name) => name.startsWith(`${ref}/`) || ref.startsWith(`${name}/`))
    )
      return 'unsupported';
  }
  const locks: string[] = [];
  try {
    for (const { ref, sha } of moves) {
      const file = path.join(gitDir, ref);
      await io('mkdir', path.dirname(file), () => fs.mkdir(path.dirname(file)));
      locks.push(`${file}.lock`);
      await io('write', `${file}.lock`, () => fs.writeFile(`${file}.lock`, `${sha}\n`));
    }
  } catch (err) {
    for (const lock of locks) await fs.unlink(lock).catch(() => undefined);
    throw err;
  }
  for (const [i, { ref }] of moves.entries()) {
    const file = path.join(gitDir, ref);
    try {
      await io('rename', file, () => fs.rename(`${file}.lock`, file));
    } catch (err) {
      // As git: the refs renamed so far stay moved, the others are not, and no lock is left.
      for (const lock of locks.slice(i)) await fs.unlink(lock).catch(() => undefined);
      throw err;
    }
  }
  return 'moved';
}

/** A ref deleted if it still points at `old`: `update-ref`'s `delete` line. */
export interface RefDeletion {
  ref: string;
  old: string;
}

/**
 * Deletes refs as one `update-ref --stdin` transaction of `delete` lines does in git's files backend: the
 * packed ones dropped from `packed-refs` (rewritten as `packed-refs.lock`, then renamed over it), then
 * the loose files removed. The same checks as `moveRefs` first, and 'unsupported' with nothing written
 * when one fails (or `packed-refs.lock` is there). A failure or a kill leaves each ref deleted or still
 * at `old` (a ref both loose and packed stays, loose, until its file goes); a kill in the rewrite leaves
 * a `packed-refs.lock` the next command's sweep removes.
 */
export async function deleteRefs(
  gitDir: string,
  fs: Fs,
  deletions: readonly RefDeletion[],
): Promise<'deleted' | 'unsupported'> {
  const packedFile = path.join(gitDir, 'packed-refs');
  if (nodeFs.existsSync(`${packedFile}.lock`)) return 'unsupported';
  const packed = plainlyAt(gitDir, deletions);
  if (!packed) return 'unsupported';
  // No lock per ref: every writer of this repository runs under the collection's writer lock, and a
  // lock to unlink afterwards is one more file a failure could leave behind. `packed-refs.lock` is the
  // temp file of the rewrite, renamed over `packed-refs`.
  const doomed = new Set(deletions.map((d) => d.ref).filter((ref) => packed().has(ref)));
  if (doomed.size > 0) {
    const text = nodeFs.readFileSync(packedFile, 'utf8');
    await writeThenRename(fs, `${packedFile}.lock`, packedFile, withoutPacked(text, doomed));
  }
  for (const { ref } of deletions) {
    const file = path.join(gitDir, ref);
    if (nodeFs.existsSync(file)) await io('unlink', file, () => fs.unlink(file));
  }
  return 'deleted';
}

/** `packed-refs` without the lines of `names` (and the peeled line that may follow each). */
function withoutPacked(text: string, names: ReadonlySet<string>): string {
  const kept: string[] = [];
  let dropping = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('^')) {
      if (!dropping) kept.push(line);
      continue;
    }
    dropping = line.length > 41 && line[40] === ' ' && line[0] !== '#' && names.has(line.slice(41));
    if (!dropping) kept.push(line);
  }
  return kept.join('\n');
}

/**
 * The checks `moveRefs` and `deleteRefs` share, before anything is written: no reftable, no ref given
 * twice, no `<ref>.lock`, and each ref plainly at `old` (undefined: no such ref). The repository's packed
 * refs (read on first use) when they all hold, else undefined.
 */
function plainlyAt(
  gitDir: string,
  refs: readonly { ref: string; old: string | undefined }[],
): (() => Map<string, string>) | undefined {
  if (nodeFs.existsSync(path.join(gitDir, 'reftable'))) return undefined;
  if (new Set(refs.map((r) => r.ref)).size !== refs.length) return undefined;
  const packed = lazyPackedRefs(gitDir);
  for (const { ref, old } of refs) {
    if (nodeFs.existsSync(path.join(gitDir, `${ref}.lock`))) return undefined;
    if (valueNow(gitDir, ref, packed) !== old) return undefined;
  }
  return packed;
}

/**
 * A ref's value as git reads it: the loose file's id, else the packed one, else undefined (no such ref);
 * null when it is not plainly a ref here (a symbolic ref, a folder in its place, an unreadable file).
 */
function valueNow(gitDir: string, ref: string, packed: () => Map<string, string>): string | undefined | null {
  let text: string;
  try {
    text = nodeFs.readFileSync(path.join(gitDir, ref), 'utf8');
  } catch (err) {
    return isErrno(err, 'ENOENT') ? packed().get(ref) : null;
  }
  return /^[0-9a-f]{40}\n$/.test(text) ? text.slice(0, 40) : null;
}

/** `packedRefs`, read on first use. */
function lazyPackedRefs(gitDir: string): () => Map<string, string> {
  let packed: Map<string, string> | undefined;
  return () => (packed ??= packedRefs(gitDir));
}

/** The names in `packed-refs` (none when there is no such file). */
export function packedRefNames(gitDir: string): Set<string> {
  return new Set(packedRefs(gitDir).keys());
}

/** The refs in `packed-refs`, name to object id (none when there is no such file). */
function packedRefs(gitDir: string): Map<string, string> {
  const refs = new Map<string, string>();
  let text: string;
  try {
    text = nodeFs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
  } catch {
    return refs;
  }
  for (const line of text.split('\n')) {
    // `<sha> <name>`; `#` starts the header, `^` a peeled tag's target.
    if (line.length > 41 && line[40] === ' ' && line[0] !== '#' && line[0] !== '^')
      refs.set(line.slice(41), line.slice(0, 40));
  }
  return refs;
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
