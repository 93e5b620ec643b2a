/**
 * Differences between trees and the changes that turn one into another: git's `diff-tree` between two
 * stored trees, the same walk in JS between the collection now and a stored tree (folders compared by id,
 * only differing ones read), and the ordered change list of a restore. Writes nothing.
 */
import type { CopyOf, FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { decodeName, nameBytes } from '../base/fileNames.js';
import { LOCK_FILE } from '../model/lock.js';
import { MANIFEST_FILE } from '../model/manifest.js';
import { assertObjectId } from '../ports/git.js';
import type { Git } from '../ports/git.js';
import { comparePaths } from '../ports/walk.js';
import { EMPTY_TREE, ZERO_SHA } from './gitObjects.js';
import type { GitObjects } from './gitObjects.js';
import { assertSafeRel, baseOf, parentOf } from './trees.js';
import type { FolderState, ScannedFile, TreeEntryKind } from './trees.js';

export interface SnapshotDiffEntry {
  rel: string;
  /** What `to` holds relative to `from`. */
  status: 'added' | 'modified' | 'deleted';
  /** The kind on the side that has it (`to`, or `from` for deletions). */
  kind: TreeEntryKind;
}

/** One line of `git diff-tree --raw`. */
export interface TreeChange {
  rel: string;
  /** A, D, M or T. */
  status: string;
  srcMode: string;
  dstMode: string;
  srcSha: string;
  dstSha: string;
}

/**
 * diff-tree's answer for "the collection now → stored tree `target`", without writing the collection's
 * trees: folders are compared by id, and only target folders whose id differs are read (through the
 * cat-file process that restores read blobs from anyway).
 */
export async function diffWorking(
  objects: GitObjects,
  current: FolderState & { root: string; dirShas: Record<string, string> },
  target: string,
): Promise<TreeChange[]> {
  type Entry = { mode: string; sha: string };
  const kids = new Map<string, Map<string, Entry>>();
  const kidsOf = (dir: string): Map<string, Entry> => {
    let map = kids.get(dir);
    if (!map) kids.set(dir, (map = new Map()));
    return map;
  };
  for (const [rel, file] of current.files) kidsOf(parentOf(rel)).set(baseOf(rel), file);
  for (const dir of current.dirs)
    kidsOf(parentOf(dir)).set(baseOf(dir), { mode: '040000', sha: current.dirShas[dir] ?? '' });
  const out: TreeChange[] = [];
  const none = { mode: '000000', sha: ZERO_SHA };
  const record = (rel: string, status: string, src: Entry, dst: Entry): void => {
    out.push({ rel, status, srcMode: src.mode, dstMode: dst.mode, srcSha: src.sha, dstSha: dst.sha });
  };
  const compare = async (
    rel: string,
    ours: string | undefined,
    theirs: string | undefined,
  ): Promise<void> => {
    if (ours === theirs) return;
    const mine = ours === undefined ? new Map<string, Entry>() : (kids.get(rel) ?? new Map<string, Entry>());
    const other = theirs === undefined ? new Map<string, Entry>() : await objects.readTreeEntries(theirs);
    for (const name of new Set([...mine.keys(), ...other.keys()])) {
      const a = mine.get(name);
      const b = other.get(name);
      const childRel = rel ? `${rel}/${name}` : name;
      if (a && b && a.sha === b.sha && a.mode === b.mode) continue;
      if (b) assertSafeRel(childRel, `tree ${target}`);
      const aTree = a?.mode === '040000';
      const bTree = b?.mode === '040000';
      if (a && b && aTree && bTree) {
        record(childRel, 'M', a, b);
        await compare(childRel, a.sha, b.sha);
      } else if (a && b && !aTree && !bTree) {
        record(childRel, (a.mode === '120000') === (b.mode === '120000') ? 'M' : 'T', a, b);
      } else {
        if (a) {
          record(childRel, 'D', a, none);
          if (aTree) await compare(childRel, a.sha, undefined);
        }
        if (b) {
          record(childRel, 'A', none, b);
          if (bTree) await compare(childRel, undefined, b.sha);
        }
      }
    }
  };
  await compare('', current.root, target);
  return out;
}

/** `git diff-tree -r -t` between two trees: every blob and folder entry that differs. */
export async function diffTrees(git: Git, from: string, to: string): Promise<TreeChange[]> {
  if (from === to) return [];
  const result = await git.pipe([
    'diff-tree',
    '-r',
    '-t',
    '-z',
    '--raw',
    '--no-renames',
    '--no-commit-id',
    assertObjectId(from),
    assertObjectId(to),
  ]);
  const out = result.stdout;
  const changes: TreeChange[] = [];
  // NUL-separated pairs: the raw line, then the path as bytes (decoded losslessly).
  for (let at = 0; at < out.length;) {
    const metaEnd = out.indexOf(0, at);
    const relEnd = metaEnd < 0 ? -1 : out.indexOf(0, metaEnd + 1);
    if (relEnd < 0) break;
    const meta = out.toString('latin1', at, metaEnd);
    const rel = decodeName(out, metaEnd + 1, relEnd);
    at = relEnd + 1;
    const [srcMode, dstMode, srcSha, dstSha, status] = meta.replace(/^:/, '').split(' ');
    if (!srcMode || !dstMode || !srcSha || !dstSha || !status) {
      throw new CoreError({
        code: 'git-failed',
        command: 'diff-tree',
        reason: `unexpected output "${meta}"`,
      });
    }
    assertSafeRel(rel, `tree ${to}`);
    changes.push({ rel, status: status.charAt(0), srcMode, dstMode, srcSha, dstSha });
  }
  return changes;
}

/** diff-tree lines as file-level differences, by path: folders only when an empty one appears or goes. */
export function diffEntries(changes: readonly TreeChange[]): SnapshotDiffEntry[] {
  const out: SnapshotDiffEntry[] = [];
  for (const c of changes) {
    if (c.srcMode === '040000' || c.dstMode === '040000') {
      // A folder is reported only when it is an empty one appearing or going; files speak for the rest.
      if (c.status === 'A' && c.dstSha === EMPTY_TREE) out.push({ rel: c.rel, status: 'added', kind: 'dir' });
      if (c.status === 'D' && c.srcSha === EMPTY_TREE)
        out.push({ rel: c.rel, status: 'deleted', kind: 'dir' });
      continue;
    }
    const kind = (mode: string): TreeEntryKind => (mode === '120000' ? 'symlink' : 'file');
    if (c.status === 'A') out.push({ rel: c.rel, status: 'added', kind: kind(c.dstMode) });
    else if (c.status === 'D') out.push({ rel: c.rel, status: 'deleted', kind: kind(c.srcMode) });
    else out.push({ rel: c.rel, status: 'modified', kind: kind(c.dstMode) });
  }
  return out.sort((x, y) => comparePaths(x.rel, y.rel));
}

/** The same change seen from the other side. */
export function reverseChange(change: TreeChange): TreeChange {
  const status = change.status === 'A' ? 'D' : change.status === 'D' ? 'A' : change.status;
  return {
    rel: change.rel,
    status,
    srcMode: change.dstMode,
    dstMode: change.srcMode,
    srcSha: change.dstSha,
    dstSha: change.srcSha,
  };
}

/** Applies one diff-tree line to a folder state (turning the `from` side into the `to` side). */
export function applyTreeChange(state: FolderState, change: TreeChange): void {
  const { rel, status, srcMode, dstMode, dstSha } = change;
  if (srcMode === '040000' && (status === 'D' || dstMode !== '040000')) state.dirs.delete(rel);
  else if (srcMode !== '000000' && srcMode !== '040000' && (status === 'D' || dstMode === '040000')) {
    state.files.delete(rel);
  }
  if (status === 'D') return;
  if (dstMode === '040000') state.dirs.add(rel);
  else if (dstMode === '100644' || dstMode === '100755' || dstMode === '120000') {
    state.files.set(rel, { mode: dstMode, sha: dstSha, kind: dstMode === '120000' ? 'symlink' : 'file' });
  }
}

export interface PlanTreeOptions {
  /** Folders that must stay (they hold a `.git`), with their ancestors. */
  keptDirs: ReadonlySet<string>;
  /** blob sha → symlink target text, for every symlink to write. */
  symlinkTargets: ReadonlyMap<string, string>;
  /** A file's bytes, read when staged: into memory, or (a large one) into a file to copy. */
  load: (sha: string) => () => Promise<Uint8Array | CopyOf>;
}

const LAST_FILES = [MANIFEST_FILE, LOCK_FILE];

/**
 * The change list from `current` to `target`, in an order where every step is valid on its own: deletes,
 * rmdirs (children first), mkdirs (parents first), writes; `collection.toml` then `collection.lock` last.
 */
export function planTreeChanges(
  current: FolderState,
  target: FolderState,
  options: PlanTreeOptions,
): { changes: FileChange[]; skipped: string[] } {
  const deletes: string[] = [];
  const writes: string[] = [];
  const skipped: string[] = [];
  for (const [rel, cur] of current.files) {
    const want = target.files.get(rel);
    if (!want) deletes.push(rel);
    else if (want.sha !== cur.sha || want.mode !== cur.mode) writes.push(rel);
  }
  for (const rel of target.files.keys()) {
    if (current.files.has(rel)) continue;
    if (options.keptDirs.has(rel)) skipped.push(rel);
    else writes.push(rel);
  }
  const rmdirs = [...current.dirs].filter((d) => !target.dirs.has(d) && !options.keptDirs.has(d));
  const mkdirs = [...target.dirs].filter((d) => !current.dirs.has(d));
  deletes.sort(comparePaths);
  writes.sort(comparePaths);
  rmdirs.sort((a, b) => comparePaths(b, a));
  mkdirs.sort(comparePaths);

  const writeOf = (rel: string): FileChange => {
    const entry = target.files.get(rel) as ScannedFile;
    if (entry.kind === 'symlink') {
      const linkTarget = options.symlinkTargets.get(entry.sha);
      if (linkTarget === undefined) throw new Error(`symlink target of ${rel} was not loaded`);
      return { kind: 'write', rel, data: nameBytes(linkTarget), mode: 0o777, symlinkTarget: linkTarget };
    }
    return {
      kind: 'write',
      rel,
      data: options.load(entry.sha),
      mode: entry.mode === '100755' ? 0o755 : 0o644,
    };
  };
  const isLast = (rel: string): boolean => LAST_FILES.includes(rel);
  const changes: FileChange[] = [
    ...deletes.filter((r) => !isLast(r)).map((rel): FileChange => ({ kind: 'delete', rel })),
    ...rmdirs.map((rel): FileChange => ({ kind: 'rmdir', rel })),
    ...mkdirs.map((rel): FileChange => ({ kind: 'mkdir', rel })),
    ...writes.filter((r) => !isLast(r)).map(writeOf),
  ];
  // The lock's rename is the transaction's commit point, so its write comes last, after the manifest's.
  // The engine refuses to delete the lock (nothing could follow the commit point), so a snapshot without
  // one leaves the current lock in place and says so.
  for (const rel of LAST_FILES) {
    if (writes.includes(rel)) changes.push(writeOf(rel));
    else if (deletes.includes(rel) && rel === LOCK_FILE) skipped.push(rel);
    else if (deletes.includes(rel)) changes.push({ kind: 'delete', rel });
  }
  return { changes, skipped };
}
