/**
 * Drift between a project's deployed artifacts and the collection (DESIGN §10), per record of the
 * tracking file, three-way: the record's `content_hash` is the base (the copy as deployed), the project
 * copy is one side and the collection's current copy the other. Hashes are the lock's (SkillMeat §2.1
 * without noise), so a `.DS_Store` or a swap file is never drift; a base SkillMeat hashed with its noise
 * still matches. Reads only.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from '../base/fileNames.js';
import { STATE_DIR } from '../base/changes.js';
import { artifactId, ARTIFACT_TYPES } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import type { Collection } from '../model/collection.js';
import { contentHash, skillMeatHash } from '../model/hash.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type { Fs } from '../ports/fs.js';
import { loadStatCache, measureArtifact, saveStatCache } from '../status/statCache.js';
import type { StatCache } from '../status/statCache.js';
import { readTree } from '../model/artifactTree.js';
import { artifactFindings, describeFinding } from '../exec/approval.js';
import { deployPath, isDeployable } from './profiles.js';
import type { ProfileRoot } from './profiles.js';
import {
  deployedLocation,
  parseTrackingFile,
  readTrackingFile,
  realRoots,
  trackingFilePath,
} from './trackingFile.js';
import type { DeploymentRecord, TrackingFile } from './trackingFile.js';

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
  /** Stat caches (`loadDriftCaches`): an unchanged copy is not re-hashed. Without them every copy is. */
  caches?: DriftCaches;
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
  const records: readonly TrackedRecord[] = options.tracking
    ? options.tracking.records
    : options.caches
      ? trackedRecords(root, options.caches)
      : (readTrackingFile(root)?.records ?? []);
  // Every path is checked before anything is hashed: a bad record refuses the whole report.
  const known = realRoots(root);
  const locations = records.map((record) => deployedLocation(root, record, file, known));
  const byKey = new Map(collection.manifest.artifacts.map((a) => [`${a.type}/${a.name}`, a]));
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
    const caches = options.caches;
    const project = caches
      ? measured(root.dir, { ...key, path: record.artifactPath }, caches, 'project', base)
      : undefined;
    const projectHash = caches ? project?.hash : hashOrUndefined(target, contentHash);
    const manifestEntry = byKey.get(`${key.type}/${key.name}`);
    const collectionCopy = manifestEntry ? path.join(collection.dir, manifestEntry.path) : undefined;
    const inCollection =
      caches && manifestEntry
        ? measured(collection.dir, manifestEntry, caches, 'collection', base)
        : undefined;
    const collectionHash = !collectionCopy
      ? undefined
      : caches
        ? inCollection?.hash
        : hashOrUndefined(collectionCopy, contentHash);
    const hashes = {
      ...(projectHash !== undefined ? { projectHash } : {}),
      ...(collectionHash !== undefined ? { collectionHash } : {}),
    };
    if (projectHash === undefined) return { ...entry, ...hashes, state: 'missing' };
    if (collectionHash === undefined) return { ...entry, ...hashes, state: 'removed' };
    const projectChanged = caches
      ? project?.skillMeatHash !== base && projectHash !== base
      : changedFrom(base, target, projectHash);
    const collectionChanged = caches
      ? inCollection?.skillMeatHash !== base && collectionHash !== base
      : changedFrom(base, collectionCopy as string, collectionHash);
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

/** What drift reads of a deployment record. */
type TrackedRecord = Omit<DeploymentRecord, 'raw'>;

/**
 * The project's stat cache, and the records of the tracking file it last parsed keyed by the SHA-256 of
 * its bytes: parsing 500 `[[deployed]]` tables with their local times costs more than reading them back
 * as JSON. Records are cached only from a parse that succeeded, so the same bytes give the same answer.
 */
interface ProjectCache extends StatCache {
  tracking?: { sha256: string; records: TrackedRecord[] };
}

/** The stat caches drift reads through: the project's (kept in the collection) and the collection's own. */
export interface DriftCaches {
  project: ProjectCache;
  collection: StatCache;
  /** When this check started (stamps this recent are never trusted next time). */
  startedAt: number;
  /** Set when a check changed either cache: only then is it written back. */
  dirty?: boolean;
}

/** The drift cache of a profile root, in the collection's state folder (our state stays out of the project). */
export function driftCacheFile(root: ProfileRoot): string {
  return `drift-cache-${createHash('sha256').update(root.dir).digest('hex').slice(0, 16)}.json`;
}

export function loadDriftCaches(collectionDir: string, root: ProfileRoot, now = Date.now()): DriftCaches {
  return {
    project: loadStatCache(collectionDir, driftCacheFile(root)),
    collection: loadStatCache(collectionDir),
    startedAt: now,
  };
}

/** Writes both caches back when they changed, best effort (never rejects). */
export async function saveDriftCaches(
  fsPort: Fs,
  collectionDir: string,
  root: ProfileRoot,
  caches: DriftCaches,
): Promise<void> {
  // Derived data, written only where our state folder already is: drift never creates `.artifact-keeper/`
  // in a collection (a SkillMeat collection we only read stays untouched).
  if (!caches.dirty || !fs.existsSync(path.join(collectionDir, STATE_DIR))) return;
  caches.dirty = false;
  await saveStatCache(fsPort, collectionDir, caches.project, driftCacheFile(root));
  await saveStatCache(fsPort, collectionDir, caches.collection);
}

/** The tracking file's records, read back from the project cache when its bytes are the ones parsed last. */
function trackedRecords(root: ProfileRoot, caches: DriftCaches): readonly TrackedRecord[] {
  const file = trackingFilePath(root);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return readTrackingFile(root)?.records ?? []; // absent (no records), or its one-line read failure
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cached = caches.project.tracking;
  if (cached?.sha256 === sha256 && Array.isArray(cached.records)) return cached.records;
  const records = parseTrackingFile(bytes, file).records.map(({ raw: _raw, ...record }) => record);
  caches.project.tracking = { sha256, records };
  caches.dirty = true;
  return records;
}

function measured(
  dir: string,
  entry: Pick<ArtifactEntry, 'name' | 'type' | 'path'>,
  caches: DriftCaches,
  side: 'project' | 'collection',
  base: string,
): { hash: string; skillMeatHash?: string } | undefined {
  const m = measureArtifact(dir, entry, caches[side], caches.startedAt, base);
  if (m.cacheGained || m.kind === 'missing') caches.dirty = true;
  if (m.kind === 'missing' || m.hash === undefined) return undefined;
  return { hash: m.hash, ...(m.skillMeatHash !== undefined ? { skillMeatHash: m.skillMeatHash } : {}) };
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
