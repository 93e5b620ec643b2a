/**
 * `undo` of a deploy, undeploy or pull (or of an undo of one): the project paths the transaction changed
 * go back to its stored image, and the collection to its pre-snapshot when it had one (pull), in one
 * transaction under both locks. The undo stores an image of the paths as they are now, so undoing it
 * re-applies the change, as every undo does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../base/changes.js';
import { fsPath } from '../base/fileNames.js';
import type { Tree } from '../model/artifactTree.js';
import { DEFAULT_PROFILE } from '../projects/profiles.js';
import type { ProfileRoot } from '../projects/profiles.js';
import { withProjectLock } from '../projects/projectLock.js';
import {
  profileDirName,
  projectChanges,
  projectImage,
  projectTxRoot,
  readCopyAt,
  readTrackingBytes,
} from '../projects/projectSide.js';
import type { ProjectCopy } from '../projects/projectSide.js';
import { TRACKING_FILE } from '../projects/trackingFile.js';
import type { HistoryEntry, ProjectChange } from '../store/history.js';
import type { SnapshotStore } from '../store/snapshots.js';
import type { SnapshotInfo } from '../store/snapshotRefs.js';
import type { OperationOptions } from './operations.js';
import { clockOf, transactionOptions } from './operations.js';
import { applyRetention } from './retention.js';
import { applyChanges, newTxId } from '../txn/transaction.js';
import { collectionSpillSpace } from '../ports/tempSpace.js';

export interface ProjectUndoResult {
  safety: SnapshotInfo;
  txId: string;
  changed: number;
}

/** The profile root a history entry names (its profile does not matter to an undo). */
export function rootOfChange(project: ProjectChange): ProfileRoot {
  return {
    profile: DEFAULT_PROFILE,
    scope: 'project',
    dir: project.root,
    container: path.dirname(project.root),
  };
}

/** Under the collection's writer lock: takes the project lock and undoes `entry`. */
export async function undoProjectChange(
  dir: string,
  store: SnapshotStore,
  entry: HistoryEntry & { project: ProjectChange },
  opts: OperationOptions,
  spec: { kind: string; description: string; safetyReason: string },
): Promise<ProjectUndoResult> {
  const root = rootOfChange(entry.project);
  return withProjectLock(root.dir, { tool: opts.tool, operation: 'undo', fs: opts.fs }, async () => {
    // Large files of the collection side go from the store to a file here, never whole into memory.
    const spilled = collectionSpillSpace(dir, 'undo-');
    try {
      const image = await store.readProjectImage(entry.project.image);
      const txRoot = projectTxRoot(root);
      const safety = await store.create({ reason: spec.safetyReason, trigger: 'restore', artifacts: [] });
      const collectionSide = entry.preSnapshot
        ? await store.planRestore(entry.preSnapshot, (name) => spilled.file(name))
        : [];
      const copies: ProjectCopy[] = [];
      const writes: FileChange[] = [];
      for (const rel of image.paths) {
        if (rel === TRACKING_FILE) continue;
        const inImage = filesBelow(image.tree, rel);
        const isFolder = inImage.isFolder ?? isFolderOnDisk(root, rel);
        const copy = readCopyAt(root, rel, isFolder);
        copies.push(copy);
        writes.push(...projectChanges(copy, inImage.tree, txRoot, image.absent.includes(rel)));
      }
      // The tracking file: written first (a project touched by an interrupted transaction names its
      // collection), or deleted last when it did not exist before.
      const trackingNow = readTrackingBytes(root);
      const trackingThen = image.tree.get(TRACKING_FILE)?.data;
      const trackingRel = `${profileDirName(root)}/${TRACKING_FILE}`;
      const first: FileChange[] = [];
      const last: FileChange[] = [];
      if (trackingThen && !trackingThen.equals(trackingNow ?? Buffer.alloc(0))) {
        if (!fs.existsSync(fsPath(root.dir)))
          first.push({ kind: 'mkdir', rel: profileDirName(root), root: txRoot });
        first.push({ kind: 'write', rel: trackingRel, data: trackingThen, mode: 0o644, root: txRoot });
      } else if (!trackingThen && trackingNow) last.push({ kind: 'delete', rel: trackingRel, root: txRoot });
      const changes = [
        ...first,
        ...writes,
        ...last,
        ...emptiedDirs(txRoot, image.createdDirs ?? [], [...writes, ...last]),
        ...collectionSide,
      ];
      const txId = newTxId(clockOf(opts).now().getTime());
      if (changes.length > 0) {
        const undoImage = await store.storeProjectImage(txId, projectImage(copies, trackingNow, changes));
        await applyChanges(
          dir,
          {
            txId,
            kind: spec.kind,
            description: spec.description,
            artifacts: entry.artifacts,
            preSnapshot: safety.id,
            changes: moveLockLast(changes),
            tool: opts.tool,
            project: { root: root.dir, image: undoImage },
          },
          transactionOptions(opts),
        );
      }
      await applyRetention(store, opts, [safety.id]);
      return { safety, txId, changed: changes.length };
    } finally {
      spilled.dispose();
    }
  });
}

/**
 * The folders the undone transaction created that the undo leaves empty (everything in them is removed
 * by `changes` or is another such folder), deepest first: they go too, so an undone first deploy leaves
 * no `.claude/` behind. A folder that holds anything else stays.
 */
function emptiedDirs(
  txRoot: string,
  created: readonly string[],
  changes: readonly FileChange[],
): FileChange[] {
  const removed = new Set(changes.filter((c) => c.kind === 'delete' || c.kind === 'rmdir').map((c) => c.rel));
  const out: FileChange[] = [];
  for (const dir of [...created].sort((a, b) => b.split('/').length - a.split('/').length)) {
    if (removed.has(dir)) continue;
    let names: string[];
    try {
      names = fs.readdirSync(fsPath(path.join(txRoot, ...dir.split('/'))));
    } catch {
      continue;
    }
    if (names.every((name) => removed.has(`${dir}/${name}`))) {
      out.push({ kind: 'rmdir', rel: dir, root: txRoot });
      removed.add(dir);
    }
  }
  return out;
}

/** The image's files below `rel` (keyed relative to it), and whether it held a folder or a file there. */
function filesBelow(tree: Tree, rel: string): { tree: Tree; isFolder?: boolean } {
  const single = tree.get(rel);
  if (single) return { tree: new Map([[path.posix.basename(rel), single]]), isFolder: false };
  const out: Tree = new Map();
  for (const [key, file] of tree) if (key.startsWith(`${rel}/`)) out.set(key.slice(rel.length + 1), file);
  return out.size > 0 ? { tree: out, isFolder: true } : { tree: out };
}

function isFolderOnDisk(root: ProfileRoot, rel: string): boolean {
  const st = fs.lstatSync(fsPath(path.join(root.dir, ...rel.split('/'))), { throwIfNoEntry: false });
  return st ? st.isDirectory() : !rel.endsWith('.md');
}

/** The collection's lock write is the commit point: it goes last. */
function moveLockLast(changes: FileChange[]): FileChange[] {
  const isLock = (c: FileChange): boolean =>
    c.root === undefined && c.rel === 'collection.lock' && c.kind === 'write';
  return [...changes.filter((c) => !isLock(c)), ...changes.filter(isLock)];
}
