/**
 * Exact pictures of a collection for the reliability tests: every file's content hash and mode, every
 * symlink's target, every folder (`.artifact-keeper/` left out), a cheap reset to a pristine copy that
 * rewrites only what differs, and the list of temp files and locks a finished command must not leave.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const STATE_DIR = '.artifact-keeper';

/** rel (POSIX) → `F <mode> <sha256>` | `L <target>` | `D`. */
export type Listing = Map<string, string>;

export function listTree(root: string, skipTop: ReadonlySet<string> = new Set([STATE_DIR])): Listing {
  const out: Listing = new Map();
  const visit = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch (err) {
      // A tree deeper than PATH_MAX (a hostile upstream) cannot be walked by path: record that instead.
      out.set(rel, `! ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      return;
    }
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (!rel && skipTop.has(name)) continue;
      const abs = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch (err) {
        out.set(childRel, `! ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
        continue;
      }
      if (st.isSymbolicLink()) out.set(childRel, `L ${fs.readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        out.set(childRel, 'D');
        visit(abs, childRel);
      } else if (st.isFile()) {
        const hash = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        out.set(childRel, `F ${(st.mode & 0o7777).toString(8)} ${hash}`);
      } else out.set(childRel, `? ${st.mode.toString(8)}`);
    }
  };
  visit(root, '');
  return out;
}

/** Paths whose entries differ (missing on either side or different), sorted; empty when equal. */
export function diffListings(a: Listing, b: Listing): string[] {
  const out: string[] = [];
  for (const [rel, value] of a) if (b.get(rel) !== value) out.push(rel);
  for (const rel of b.keys()) if (!a.has(rel)) out.push(rel);
  return out.sort();
}

export function sameListing(a: Listing, b: Listing): boolean {
  if (a.size !== b.size) return false;
  for (const [rel, value] of a) if (b.get(rel) !== value) return false;
  return true;
}

/** A short human description of how `actual` differs from `expected` (first few paths). */
export function describeDiff(actual: Listing, expected: Listing, limit = 6): string {
  const paths = diffListings(actual, expected);
  const shown = paths.slice(0, limit).map((rel) => {
    const a = actual.get(rel) ?? 'absent';
    const e = expected.get(rel) ?? 'absent';
    return `${rel} (${a.slice(0, 14)} vs ${e.slice(0, 14)})`;
  });
  return `${paths.length} path(s) differ: ${shown.join(', ')}${paths.length > limit ? ', …' : ''}`;
}

/**
 * Makes `root` (minus `.artifact-keeper/`) equal to `pristine` again, touching only what differs:
 * extra paths go (deepest first), missing folders come back, differing files are copied from
 * `pristineDir` with their mode. Returns the number of paths rewritten.
 */
export function resetTo(root: string, current: Listing, pristine: Listing, pristineDir: string): number {
  const differing = diffListings(current, pristine);
  const removeFirst = differing
    .filter((rel) => current.has(rel) && current.get(rel) !== pristine.get(rel))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of removeFirst) {
    const abs = path.join(root, rel);
    if (!fs.existsSync(abs) && !isLink(abs)) continue;
    fs.rmSync(abs, { recursive: true, force: true });
  }
  const toCreate = differing
    .filter((rel) => pristine.has(rel))
    .sort((a, b) => a.split('/').length - b.split('/').length);
  for (const rel of toCreate) {
    const want = pristine.get(rel) as string;
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (want === 'D') fs.mkdirSync(abs, { recursive: true });
    else if (want.startsWith('L ')) fs.symlinkSync(want.slice(2), abs);
    else {
      fs.rmSync(abs, { recursive: true, force: true });
      fs.copyFileSync(path.join(pristineDir, rel), abs);
      fs.chmodSync(abs, Number.parseInt(want.split(' ')[1] as string, 8));
    }
  }
  return differing.length;
}

function isLink(abs: string): boolean {
  try {
    return fs.lstatSync(abs).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * What a finished command must not leave behind: the journal, work areas, temp folders and files, our
 * lock files, and git lock or temp files inside the snapshot store. `allowLock` accepts a writer lock
 * (a reader-only command after a kill leaves the dead holder's lock for the next writer to reclaim).
 */
export function leftovers(
  root: string,
  options: { allowLock?: boolean; allowJournal?: boolean } = {},
): string[] {
  const state = path.join(root, STATE_DIR);
  const found: string[] = [];
  const list = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  };
  for (const name of list(state)) {
    const rel = `${STATE_DIR}/${name}`;
    if (name === 'journal.json' && !options.allowJournal) found.push(rel);
    else if ((name === 'txn' || name === 'tmp') && list(path.join(state, name)).length > 0) {
      if (!(name === 'txn' && options.allowJournal)) {
        found.push(...list(path.join(state, name)).map((n) => `${rel}/${n}`));
      }
    } else if (name === 'writer.lock' && !options.allowLock) found.push(rel);
    else if (name === 'writer.lock.reclaim') found.push(rel);
    else if (name.endsWith('.ak-tmp') || name.endsWith('.tmp')) found.push(rel);
    else if (/^(import-|tmp-hash-|snapshots\.git\.init-)/.test(name)) found.push(rel);
  }
  // Temp files of atomic writes anywhere in the collection itself.
  const walk = (dir: string, rel: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (!rel && entry.name === STATE_DIR) continue;
      if (entry.name.endsWith('.ak-tmp')) found.push(childRel);
      if (entry.isDirectory()) walk(path.join(dir, entry.name), childRel);
    }
  };
  walk(root, '');
  found.push(
    ...gitLeftovers(path.join(state, 'snapshots.git')).map((rel) => `${STATE_DIR}/snapshots.git/${rel}`),
  );
  return found.sort();
}

/** Lock files and temp objects git leaves when it dies mid-command; they make later git commands fail. */
export function gitLeftovers(gitDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      // Loose objects: 256 folders of immutable files, never a lock; skip them for speed.
      if (rel === 'objects' && /^[0-9a-f]{2}$/.test(entry.name)) continue;
      // Temp objects only below objects/: a ref may be named tmp_… (an artifact's name).
      if (
        entry.name.endsWith('.lock') ||
        entry.name === 'gc.pid' ||
        ((rel === 'objects' || rel.startsWith('objects/')) && /^(tmp_|\.tmp-|incoming-)/.test(entry.name))
      ) {
        found.push(childRel);
      }
      if (entry.isDirectory()) walk(path.join(dir, entry.name), childRel);
    }
  };
  walk(gitDir, '');
  return found;
}
