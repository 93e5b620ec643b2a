/**
 * The project side of a two-store transaction (DESIGN §10): reading a deployed copy, the changes that
 * turn it into another (as `FileChange`s in the project's root, so the collection's journal names both
 * stores), the tracking file's change, and the image of the project paths before, which `undo` puts back.
 * The changes' root is the project (or home) folder, not the profile root, so a first deploy creates
 * `.claude/` inside the same transaction.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';
import { ancestors, changesForArtifact, readTree } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import { contentHash, skillMeatHash } from '../model/hash.js';
import type { ArtifactKey } from '../model/artifact.js';
import { artifactId } from '../model/artifact.js';
import { deployPath, deployShape } from './profiles.js';
import type { ProfileRoot } from './profiles.js';
import { serializeTrackingFile, TRACKING_FILE } from './trackingFile.js';
import type { TrackingFile } from './trackingFile.js';
import type { ProjectImage } from '../store/baseRefs.js';

/** One artifact's deployed copy as it is now. */
export interface ProjectCopy {
  /** Relative to the profile root (POSIX): `skills/pdf`, `commands/review.md`. */
  rel: string;
  /** Relative to the transaction's project root: `.claude/skills/pdf`. */
  txRel: string;
  abs: string;
  isFolder: boolean;
  exists: boolean;
  tree: Tree;
  keptDirs: string[];
  /** Our hash of the copy (noise left out); undefined when it does not exist. */
  hash?: string;
}

/** The real path of the folder the profile root is in: the transaction's root for the project side. */
export function projectTxRoot(root: ProfileRoot): string {
  try {
    return fs.realpathSync(root.container);
  } catch {
    throw new CoreError({
      code: 'not-a-collection',
      dir: root.container,
      reason: 'the project folder does not exist',
    });
  }
}

/** The profile root relative to its container (`.claude`). */
export function profileDirName(root: ProfileRoot): string {
  return path.relative(root.container, root.dir).split(path.sep).join('/');
}

export function readProjectCopy(root: ProfileRoot, key: ArtifactKey): ProjectCopy {
  const rel = deployPath(key);
  if (rel === undefined)
    throw new CoreError({
      code: 'artifact-path-invalid',
      artifact: artifactId(key),
      path: key.name,
      reason: `a ${key.type} is not deployed into projects`,
    });
  return readCopyAt(root, rel, deployShape(key.type) === 'dir', artifactId(key), key.type);
}

/** The copy at `rel` (relative to the profile root), a folder or a file; refused when it is not that. */
export function readCopyAt(
  root: ProfileRoot,
  rel: string,
  isFolder: boolean,
  artifact: string = rel,
  what = 'copy',
): ProjectCopy {
  const abs = path.join(root.dir, ...rel.split('/'));
  const st = fs.lstatSync(fsPath(abs), { throwIfNoEntry: false });
  const txRel = `${profileDirName(root)}/${rel}`;
  if (!st) return { rel, txRel, abs, isFolder, exists: false, tree: new Map(), keptDirs: [] };
  if (st.isSymbolicLink() || st.isDirectory() !== isFolder)
    throw new CoreError({
      code: 'artifact-path-invalid',
      artifact,
      path: abs,
      reason: st.isSymbolicLink()
        ? 'the deployed path is a symlink; it is never written through'
        : `a ${what} is deployed as ${isFolder ? 'a folder' : 'a file'}, and this is not one`,
    });
  const { tree, keptDirs } = readTree(abs, isFolder);
  return { rel, txRel, abs, isFolder, exists: true, tree, keptDirs, hash: contentHash(abs) };
}

/** True when the copy is what the record says was deployed (by our hash, or SkillMeat's with noise). */
export function matchesRecord(copy: ProjectCopy, recordHash: string): boolean {
  if (!copy.exists) return false;
  return copy.hash === recordHash || skillMeatHash(copy.abs) === recordHash;
}

/**
 * Re-keys a collection copy to the deployed shape: a single-file artifact is keyed by its deployed file
 * name (`review.md`), whatever its file is called in the collection.
 */
export function asDeployedTree(tree: Tree, copy: Pick<ProjectCopy, 'rel' | 'isFolder'>): Tree {
  if (copy.isFolder) return tree;
  const only = [...tree.values()][0];
  return only ? new Map([[path.posix.basename(copy.rel), only]]) : new Map();
}

/**
 * The changes that turn the copy into `after` (empty `after` with `remove`: the copy goes, its folder
 * too when nothing else is left in it), in the project root; folders missing on the way are created.
 */
export function projectChanges(copy: ProjectCopy, after: Tree, txRoot: string, remove = false): FileChange[] {
  const createDirs = remove
    ? []
    : [...ancestors(copy.txRel), ...(copy.isFolder ? [copy.txRel] : [])].filter(
        (rel) => !fs.existsSync(fsPath(path.join(txRoot, rel))),
      );
  const changes = changesForArtifact(copy.txRel, copy.isFolder, copy.tree, after, copy.keptDirs, createDirs);
  if (remove && copy.isFolder && copy.exists && copy.keptDirs.length === 0 && onlyTreeIn(copy))
    changes.push({ kind: 'rmdir', rel: copy.txRel });
  return changes.map((change) => ({ ...change, root: txRoot }));
}

/** True when the folder holds nothing but the tree's files (no noise, no empty folders we keep). */
function onlyTreeIn(copy: ProjectCopy): boolean {
  const walk = (dir: string, prefix: string): boolean =>
    fs.readdirSync(fsPath(dir), { withFileTypes: true }).every((d) => {
      const rel = prefix ? `${prefix}/${d.name}` : d.name;
      if (d.isDirectory()) return walk(path.join(dir, d.name), rel);
      return copy.tree.has(rel);
    });
  return walk(copy.abs, '');
}

/**
 * The tracking file's change: written (first, so a project touched by an interrupted transaction always
 * names its collection) or, once no record is left, deleted. Undefined when nothing changes.
 */
export function trackingChange(
  root: ProfileRoot,
  tracking: TrackingFile,
  before: Buffer | undefined,
  txRoot: string,
): FileChange[] {
  const rel = `${profileDirName(root)}/${TRACKING_FILE}`;
  const changes: FileChange[] = [];
  if (!fs.existsSync(fsPath(root.dir)))
    changes.push({ kind: 'mkdir', rel: profileDirName(root), root: txRoot });
  if (tracking.records.length === 0) {
    if (before !== undefined) changes.push({ kind: 'delete', rel, root: txRoot });
    return changes;
  }
  const data = Buffer.from(serializeTrackingFile(tracking));
  if (before?.equals(data)) return changes;
  changes.push({ kind: 'write', rel, data, mode: 0o644, root: txRoot });
  return changes;
}

export function readTrackingBytes(root: ProfileRoot): Buffer | undefined {
  try {
    return fs.readFileSync(fsPath(path.join(root.dir, TRACKING_FILE)));
  } catch {
    return undefined;
  }
}

/**
 * The image of the project paths a transaction changes, as they are now (keys relative to the profile
 * root), which of them are absent (the tracking file and every copy), and the folders its `changes`
 * create in the project on the way.
 */
export function projectImage(
  copies: readonly Pick<ProjectCopy, 'rel' | 'exists' | 'isFolder' | 'tree'>[],
  trackingBytes: Buffer | undefined,
  changes: readonly FileChange[],
): ProjectImage {
  const tree: Tree = new Map();
  const absent: string[] = [];
  const paths = [TRACKING_FILE, ...copies.map((c) => c.rel)];
  if (trackingBytes) tree.set(TRACKING_FILE, { data: trackingBytes, mode: 0o644 });
  else absent.push(TRACKING_FILE);
  for (const copy of copies) {
    if (!copy.exists) absent.push(copy.rel);
    for (const [rel, file] of copy.tree) tree.set(copy.isFolder ? `${copy.rel}/${rel}` : copy.rel, file);
  }
  const createdDirs = changes.filter((c) => c.kind === 'mkdir' && c.root !== undefined).map((c) => c.rel);
  return { tree, paths, absent, createdDirs };
}
