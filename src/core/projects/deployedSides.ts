/**
 * The three sides of a deployed artifact, file by file, for a three-way look at its drift (DESIGN §10):
 * the copy as deployed (the true base kept in the snapshot store under `refs/deployed/<type>/<name>`),
 * the project copy and the collection copy, all keyed in the deployed shape (a command is `review.md`
 * whatever its file is called in the collection). Reads only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from '../base/fileNames.js';
import { readTree } from '../model/artifactTree.js';
import type { Tree } from '../model/artifactTree.js';
import type { Collection } from '../model/collection.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { storeOptions } from '../transfer/operations.js';
import type { OperationOptions } from '../transfer/operations.js';
import { asDeployedTree } from './projectSide.js';
import { deployShape } from './profiles.js';
import type { ProfileRoot } from './profiles.js';
import type { DriftEntry } from './drift.js';

export interface DeployedFileSides {
  /** Relative to the deployed path (a folder's file, or the deployed file's own name). */
  rel: string;
  /** The project's file differs from the copy as deployed (without a stored copy: from the collection's). */
  projectChanged: boolean;
  /** The collection's file differs from the copy as deployed (without a stored copy: from the project's). */
  collectionChanged: boolean;
  base?: Buffer;
  project?: Buffer;
  collection?: Buffer;
  /** Absolute paths of the two working copies of this file (whether or not they exist). */
  projectFile: string;
  collectionFile?: string;
}

export interface DeployedSides {
  /** False when no deployed copy is stored for the record's hash (deployed by SkillMeat, or pruned). */
  baseKnown: boolean;
  /** Every file on any side that is not the same on all three, sorted. */
  files: DeployedFileSides[];
}

export async function deployedSides(
  collection: Collection,
  root: ProfileRoot,
  entry: Pick<DriftEntry, 'type' | 'name' | 'path' | 'deployedHash'>,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'faults'>,
): Promise<DeployedSides> {
  const projectAbs = path.join(root.dir, ...entry.path.split('/'));
  const manifestEntry = collection.manifest.artifacts.find(
    (a) => a.type === entry.type && a.name === entry.name,
  );
  const collectionAbs = manifestEntry ? path.join(collection.dir, manifestEntry.path) : undefined;
  const projectStat = fs.statSync(fsPath(projectAbs), { throwIfNoEntry: false });
  const collectionStat = collectionAbs
    ? fs.statSync(fsPath(collectionAbs), { throwIfNoEntry: false })
    : undefined;
  const isFolder = deployShape(entry.type) === 'dir';
  const shape = { rel: entry.path, isFolder };
  const project: Tree =
    projectStat?.isDirectory() === isFolder ? readTree(projectAbs, isFolder).tree : new Map();
  const inCollection: Tree =
    collectionAbs && collectionStat?.isDirectory() === isFolder
      ? asDeployedTree(readTree(collectionAbs, isFolder).tree, shape)
      : new Map();
  let base: Tree | undefined;
  if (entry.deployedHash !== undefined) {
    const store = await openSnapshotStore(path.resolve(collection.dir), storeOptions(opts));
    try {
      const stored = await store.readDeployed(entry.type, entry.name, entry.deployedHash);
      base = stored ? asDeployedTree(stored, shape) : undefined;
    } finally {
      store.close();
    }
  }
  const rels = [...new Set([...(base?.keys() ?? []), ...project.keys(), ...inCollection.keys()])].sort();
  const files: DeployedFileSides[] = [];
  for (const rel of rels) {
    const sides = {
      base: base?.get(rel)?.data,
      project: project.get(rel)?.data,
      collection: inCollection.get(rel)?.data,
    };
    // Against the copy as deployed; without one, each side against the other.
    const projectChanged = !same(base ? sides.base : sides.collection, sides.project);
    const collectionChanged = base ? !same(sides.base, sides.collection) : projectChanged;
    if (!projectChanged && !collectionChanged) continue;
    files.push({
      rel,
      projectChanged,
      collectionChanged,
      ...(sides.base ? { base: sides.base } : {}),
      ...(sides.project ? { project: sides.project } : {}),
      ...(sides.collection ? { collection: sides.collection } : {}),
      projectFile: isFolder ? path.join(projectAbs, ...rel.split('/')) : projectAbs,
      ...(collectionAbs
        ? { collectionFile: isFolder ? path.join(collectionAbs, ...rel.split('/')) : collectionAbs }
        : {}),
    });
  }
  return { baseKnown: base !== undefined, files };
}

function same(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.equals(b);
}
