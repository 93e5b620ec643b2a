/**
 * Drift between a project's deployed artifacts and the collection (DESIGN §10), per record of the
 * tracking file, three-way: the record's `content_hash` is the base (the copy as deployed), the project
 * copy is one side and the collection's current copy the other. Hashes are the lock's (SkillMeat §2.1
 * without noise), so a `.DS_Store` or a swap file is never drift; a base SkillMeat hashed with its noise
 * still matches. Reads only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from '../base/fileNames.js';
import { artifactId, ARTIFACT_TYPES } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import type { Collection } from '../model/collection.js';
import { contentHash, skillMeatHash } from '../model/hash.js';
import { findEntry } from '../model/manifest.js';
import { readTree } from '../model/artifactTree.js';
import { artifactFindings, describeFinding } from '../exec/approval.js';
import { deployPath, isDeployable } from './profiles.js';
import type { ProfileRoot } from './profiles.js';
import { deployedLocation, readTrackingFile, trackingFilePath } from './trackingFile.js';
import type { TrackingFile } from './trackingFile.js';

/**
 * - `in-sync`: the project copy and the collection copy are what was deployed (or both became the same);
 * - `modified`: the project copy was edited since the deploy, the collection's was not;
 * - `outdated`: the collection copy changed since the deploy, the project's did not;
 * - `conflict`: both changed, differently;
 * - `removed`: the artifact is gone from the collection (manifest entry or files);
 * - `missing`: the deployed path is gone from the project (never "in sync");
 * - `not-deployed`: a deployable collection artifact with no record in this profile (listed on request).
 */
export const DRIFT_STATES = [
  'in-sync',
  'modified',
  'outdated',
  'conflict',
  'removed',
  'missing',
  'not-deployed',
] as const;
export type DriftState = (typeof DRIFT_STATES)[number];

export interface DriftEntry {
  /** `type/name`. */
  id: string;
  name: string;
  type: ArtifactType;
  state: DriftState;
  /** Relative to the profile root (POSIX): where it is, or would be, deployed. */
  path: string;
  /** The record's hash (absent for `not-deployed`). */
  deployedHash?: string;
  projectHash?: string;
  collectionHash?: string;
  /**
   * The project copy was changed outside the tool (`modified`, `conflict`) and holds something that runs
   * (DESIGN §11): a hook, a hook entry, an MCP server, an executable or a fetch-and-run line. Named per file.
   */
  runsCode?: string[];
}

export interface DriftReport {
  root: ProfileRoot;
  /** The tracking file, which may not exist (nothing deployed). */
  trackingFile: string;
  entries: DriftEntry[];
  /** No entry drifts: every deployed artifact is `in-sync` (`not-deployed` is not drift). */
  inSync: boolean;
}

export interface DriftOptions {
  /** Also list the collection's deployable artifacts that are not deployed here. */
  includeNotDeployed?: boolean;
  /** An already read tracking file of `root` (default: read it). */
  tracking?: TrackingFile;
}

/** Whether a state counts as drift (exit 1 of `drift`). */
export function isDrift(state: DriftState): boolean {
  return state !== 'in-sync' && state !== 'not-deployed';
}

/**
 * The drift of every artifact deployed under `root` against `collection`. Throws `tracking-invalid`
 * (malformed, or a path out of the profile root) before anything else is read.
 */
export function checkDrift(
  root: ProfileRoot,
  collection: Collection,
  options: DriftOptions = {},
): DriftReport {
  const file = trackingFilePath(root);
  const tracking = options.tracking ?? readTrackingFile(root);
  const records = tracking?.records ?? [];
  // Every path is checked before anything is hashed: a bad record refuses the whole report.
  const locations = records.map((record) => deployedLocation(root, record, file));
  const entries: DriftEntry[] = records.map((record, index) => {
    const key = { name: record.name, type: record.type };
    const base = record.contentHash;
    const entry = {
      id: artifactId(key),
      name: record.name,
      type: record.type,
      path: record.artifactPath,
      deployedHash: base,
    };
    const target = locations[index] as string;
    const projectHash = hashOrUndefined(target, contentHash);
    const manifestEntry = findEntry(collection.manifest, key);
    const collectionCopy = manifestEntry ? path.join(collection.dir, manifestEntry.path) : undefined;
    const collectionHash = collectionCopy ? hashOrUndefined(collectionCopy, contentHash) : undefined;
    const hashes = {
      ...(projectHash !== undefined ? { projectHash } : {}),
      ...(collectionHash !== undefined ? { collectionHash } : {}),
    };
    if (projectHash === undefined) return { ...entry, ...hashes, state: 'missing' };
    if (collectionHash === undefined) return { ...entry, ...hashes, state: 'removed' };
    const projectChanged = changedFrom(base, target, projectHash);
    const collectionChanged = changedFrom(base, collectionCopy as string, collectionHash);
    let state: DriftState;
    if (projectChanged && collectionChanged) state = projectHash === collectionHash ? 'in-sync' : 'conflict';
    else if (projectChanged) state = 'modified';
    else if (collectionChanged) state = 'outdated';
    else state = 'in-sync';
    const runs = projectChanged ? runsCodeIn(target, record.artifactPath) : [];
    return { ...entry, ...hashes, state, ...(runs.length > 0 ? { runsCode: runs } : {}) };
  });
  if (options.includeNotDeployed) {
    const deployed = new Set(entries.map((e) => e.id));
    for (const artifact of collection.manifest.artifacts) {
      const id = artifactId(artifact);
      const where = deployPath(artifact);
      if (!isDeployable(artifact.type) || where === undefined || deployed.has(id)) continue;
      entries.push({ id, name: artifact.name, type: artifact.type, path: where, state: 'not-deployed' });
    }
  }
  entries.sort(byTypeThenName);
  return { root, trackingFile: file, entries, inSync: entries.every((e) => !isDrift(e.state)) };
}

/**
 * The hooks and MCP servers in a deployed copy that was changed outside the tool, as `file:line: why`:
 * what Claude Code runs by itself, on tool events or at start. Every file counts as new (the content as
 * deployed is not kept yet, only its hash), so a skill's scripts, which run only when Claude is asked
 * to, are left out.
 */
function runsCodeIn(target: string, artifactPath: string): string[] {
  const isFolder = fs.statSync(fsPath(target)).isDirectory();
  const { tree } = readTree(target, isFolder);
  return artifactFindings(artifactPath, artifactPath, isFolder, new Map(), tree)
    .filter((f) => f.rule === 'hook-file' || f.rule === 'settings-hook' || f.rule === 'mcp-server')
    .map(describeFinding);
}

/**
 * A copy differs from the base unless its hash without noise is the base, or SkillMeat's hash with
 * noise is (a base SkillMeat recorded over a `.DS_Store` it found there). The second hash is only
 * computed when the first differs.
 */
function changedFrom(base: string, target: string, hash: string): boolean {
  if (hash === base) return false;
  return hashOrUndefined(target, skillMeatHash) !== base;
}

function hashOrUndefined(target: string, hash: (target: string) => string): string | undefined {
  try {
    fs.statSync(fsPath(target));
  } catch {
    return undefined;
  }
  return hash(target);
}

const TYPE_ORDER = new Map<string, number>(ARTIFACT_TYPES.map((type, index) => [type, index]));

function byTypeThenName(a: DriftEntry, b: DriftEntry): number {
  const byType = (TYPE_ORDER.get(a.type) ?? 99) - (TYPE_ORDER.get(b.type) ?? 99);
  if (byType !== 0) return byType;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
