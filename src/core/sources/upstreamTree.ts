/**
 * Listing a fetched commit's tree and vetting it before anything is checked out: the artifact's entry and
 * everything below it are listed with one `ls-tree -r -t -z`, and every entry below it is checked as it
 * would be installed (validate.ts entryProblem), so a name or path no file system takes, a gitlink, a FIFO
 * or a device is refused by name, never half written and never left as a tree deeper than PATH_MAX in a
 * temp folder.
 */
import * as path from 'node:path';
import type { CoreError } from '../base/errors.js';
import { entryProblem } from '../model/validate.js';
import type { EntryKind } from '../model/validate.js';
import { parseLsTree } from '../ports/git.js';
import type { Shape } from './contentShape.js';
import { gitFailed } from './upstreamGit.js';
import type { WorkspaceRepo } from './workspaceRepo.js';

export interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  path: string;
  /** The path's bytes as git stores them (not necessarily UTF-8). */
  rawPath: Buffer;
}

/** Builds the refusal of fetched content (upstream-invalid, naming the artifact as the shape allows). */
export type Refuse = (reason: string, shape?: Shape) => CoreError;

/** The artifact's entry in a commit, and for a tree every entry below it. */
export interface ArtifactListing {
  entry: TreeEntry;
  /**
   * For a tree: every blob, symlink and gitlink below it, paths relative to it (as `ls-tree -r <tree>`
   * lists them). Undefined for any other entry.
   */
  below?: TreeEntry[];
}

/**
 * The entry of `subpath` in the commit's tree (the root tree for ''), with everything below it when it is
 * a tree, or undefined when there is none. One `ls-tree -r -t` lists both (the folders on the way down
 * with `-t`, so the subpath's own entry is there): each git process costs 10–30 ms to start.
 */
export async function listArtifact(
  repo: WorkspaceRepo,
  sha: string,
  subpath: string,
  refuse: Refuse,
): Promise<ArtifactListing | undefined> {
  if (subpath === '') {
    const tree = await repo.git(['rev-parse', '--verify', '--quiet', `${sha}^{tree}`]);
    if (tree.code !== 0) throw refuse(`commit ${sha} has no tree`);
    const oid = tree.stdout.trim();
    const listing = await repo.git(['ls-tree', '-r', '-z', '--full-tree', oid]);
    if (listing.code !== 0) throw gitFailed('ls-tree', listing);
    return {
      entry: { mode: '040000', type: 'tree', oid, path: '', rawPath: Buffer.alloc(0) },
      below: parseTreeEntries(listing.stdoutBytes),
    };
  }
  const listing = await repo.git(['ls-tree', '-r', '-t', '-z', '--full-tree', sha, '--', subpath]);
  if (listing.code !== 0) throw gitFailed('ls-tree', listing);
  const entries = parseTreeEntries(listing.stdoutBytes);
  const entry = entries.find((e) => e.path === subpath);
  if (!entry) return undefined;
  if (entry.type !== 'tree') return { entry };
  const prefix = Buffer.from(`${subpath}/`);
  const below = entries.flatMap((e) =>
    e.type !== 'tree' &&
    e.rawPath.length > prefix.length &&
    e.rawPath.subarray(0, prefix.length).equals(prefix)
      ? [{ ...e, path: e.path.slice(subpath.length + 1), rawPath: e.rawPath.subarray(prefix.length) }]
      : [],
  );
  return { entry, below };
}

/**
 * Checks every entry below an artifact's tree (`below`, from listArtifact) as installed under
 * `contentDir`, before git writes a byte: a name or path no file system takes would fail the checkout half
 * way, and leave a tree deeper than PATH_MAX behind. Throws what `refuse` builds for the first entry
 * refused.
 */
export function vetTree(
  below: readonly TreeEntry[],
  subpath: string,
  contentDir: string,
  refuse: Refuse,
): void {
  const topFiles = new Set(
    below.filter((e) => !e.path.includes('/') && kindOfMode(e.mode) === 'file').map((e) => e.path),
  );
  const shape: Shape = {
    isFile: false,
    fileName: path.posix.basename(subpath),
    hasFile: (name) => topFiles.has(name),
    sourcePath: subpath,
  };
  for (const e of below) {
    const problem = entryProblem(e.rawPath, kindOfMode(e.mode), contentDir);
    if (problem) throw refuse(problem, shape);
  }
}

/** `ls-tree -z` records, the path kept as raw bytes too. */
export function parseTreeEntries(output: Buffer): TreeEntry[] {
  return parseLsTree(output).map(({ mode, type, oid, path: bytes }) => {
    const rawPath = Buffer.from(bytes);
    return { mode, type, oid, path: rawPath.toString('utf8'), rawPath };
  });
}

/** git's modes as entry kinds (trees do not appear in a recursive listing). */
export function kindOfMode(mode: string): EntryKind {
  switch (mode) {
    case '100644':
    case '100755':
      return 'file';
    case '120000':
      return 'symlink';
    case '040000':
      return 'folder';
    case '160000':
      return 'submodule (gitlink)';
    default:
      return 'special file';
  }
}
