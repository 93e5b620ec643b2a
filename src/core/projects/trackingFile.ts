/**
 * `<profile root>/.skillmeat-deployed.toml` (SkillMeat format §1.7): one `[[deployed]]` table per
 * deployed artifact. Read into a typed view over the raw document, so keys we do not know survive a
 * rewrite; written with the tomli_w-exact writer in SkillMeat's key order, so a file SkillMeat wrote
 * comes back byte-identical and one we write reads as SkillMeat's own. Every `artifact_path` is checked
 * to stay inside its profile root, lexically here and through symlinks in `deployedLocation`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreError, ioFailure } from '../base/errors.js';
import { isArtifactType, nameProblem, normalPosix, normalisePath } from '../model/artifact.js';
import type { ArtifactKey, ArtifactType } from '../model/artifact.js';
import { lineOfArrayTable, reorder } from '../model/manifest.js';
import { isTable, parseToml, serializeToml } from '../model/toml.js';
import type { TomlTable } from '../model/toml.js';
import type { ProfileRoot } from './profiles.js';

export const TRACKING_FILE = '.skillmeat-deployed.toml';

/** SkillMeat's `Deployment.to_dict` order: keys we add go here; keys already in a table stay put. */
const RECORD_KEY_ORDER = [
  'artifact_name',
  'artifact_type',
  'from_collection',
  'deployed_at',
  'artifact_path',
  'content_hash',
  'local_modifications',
  'parent_hash',
  'version_lineage',
  'last_modified_check',
  'modification_detected_at',
  'merge_base_snapshot',
  'deployment_profile_id',
  'platform',
  'profile_root_dir',
  'artifact_uuid',
  'collection_sha',
];

export interface DeploymentRecord extends ArtifactKey {
  fromCollection: string;
  /** Naive local ISO time, as SkillMeat's `datetime.now().isoformat()` writes it. */
  deployedAt: string;
  /** POSIX, relative to the profile root: `skills/x`, `commands/y.md`. */
  artifactPath: string;
  /** The hash of the deployed copy when it was deployed: the merge base of drift. */
  contentHash: string;
  deploymentProfileId?: string;
  profileRootDir?: string;
  /** The `[[deployed]]` table itself: edits go here so unknown keys survive. */
  raw: TomlTable;
}

export interface TrackingFile {
  file: string;
  raw: TomlTable;
  records: DeploymentRecord[];
}

export function trackingFilePath(root: ProfileRoot): string {
  return path.join(root.dir, TRACKING_FILE);
}

/**
 * Parses and checks a tracking file. Throws `toml-invalid` (file:line:column) or `tracking-invalid`
 * (file:line, the record's artifact): a missing key SkillMeat requires, a wrong type, an unknown artifact
 * type, an illegal name, a duplicate, an `artifact_path` that leaves the profile root.
 */
export function parseTrackingFile(bytes: Uint8Array | string, file: string): TrackingFile {
  const raw = parseToml(bytes, file);
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  const invalid = (reason: string, index?: number, artifact?: string): CoreError => {
    const line = index === undefined ? undefined : lineOfArrayTable(text, 'deployed', index);
    return new CoreError({
      code: 'tracking-invalid',
      file,
      ...(line !== undefined ? { line } : {}),
      ...(artifact ? { artifact } : {}),
      reason,
    });
  };
  const list = raw.deployed ?? [];
  if (!Array.isArray(list)) throw invalid('"deployed" must be an array of tables');
  const seen = new Set<string>();
  const records = list.map((table, index): DeploymentRecord => {
    if (!isTable(table)) throw invalid(`deployed[${index}] is not a table`, index);
    const str = (key: string, required: boolean, artifact?: string): string | undefined => {
      const value = table[key];
      if (value === undefined) {
        if (required) throw invalid(`deployed[${index}] has no "${key}"`, index, artifact);
        return undefined;
      }
      if (typeof value !== 'string')
        throw invalid(`deployed[${index}].${key} must be a string`, index, artifact);
      return value;
    };
    const name = str('artifact_name', true) as string;
    const type = str('artifact_type', true) as string;
    const id = `${type}/${name}`;
    const badName = nameProblem(name);
    if (badName) throw invalid(`invalid artifact name: ${badName}`, index, id);
    if (!isArtifactType(type)) throw invalid(`unknown artifact type "${type}"`, index, id);
    const fromCollection = str('from_collection', true, id) as string;
    const deployedAt = str('deployed_at', true, id) as string;
    const artifactPath = str('artifact_path', true, id) as string;
    const escape = artifactPathProblem(artifactPath);
    if (escape) throw invalid(`artifact_path "${artifactPath}" ${escape}`, index, id);
    // SkillMeat's reader falls back to the legacy duplicate when content_hash is absent.
    const contentHash = str('content_hash', false, id) ?? str('collection_sha', false, id);
    if (contentHash === undefined) throw invalid('no content_hash (nor collection_sha)', index, id);
    if (!/^[0-9a-f]{64}$/.test(contentHash)) throw invalid('malformed content_hash', index, id);
    const profileId = str('deployment_profile_id', false, id);
    const profileRootDir = str('profile_root_dir', false, id);
    const key = `${id}@${profileId ?? 'claude_code'}`;
    if (seen.has(key)) throw invalid(`duplicate deployment of ${id}`, index, id);
    seen.add(key);
    return {
      name,
      type,
      fromCollection,
      deployedAt,
      artifactPath: normalisePath(artifactPath),
      contentHash,
      ...(profileId !== undefined ? { deploymentProfileId: profileId } : {}),
      ...(profileRootDir !== undefined ? { profileRootDir } : {}),
      raw: table,
    };
  });
  return { file, raw, records };
}

/**
 * The tracking file of a profile root, or undefined when there is none (nothing deployed there).
 * Throws what `parseTrackingFile` throws, or `io-failed`.
 */
export function readTrackingFile(root: ProfileRoot): TrackingFile | undefined {
  const file = trackingFilePath(root);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw ioFailure('read', file, err);
  }
  return parseTrackingFile(bytes, file);
}

/** tomli_w's rendering of the document: byte-identical to what SkillMeat writes for the same data. */
export function serializeTrackingFile(tracking: TrackingFile): string {
  return serializeToml(tracking.raw);
}

export function emptyTrackingFile(file: string): TrackingFile {
  return { file, raw: { deployed: [] }, records: [] };
}

export function findRecord(tracking: TrackingFile, key: ArtifactKey): DeploymentRecord | undefined {
  return tracking.records.find((r) => r.name === key.name && r.type === key.type);
}

export interface RecordFields {
  name: string;
  type: ArtifactType;
  fromCollection: string;
  deployedAt: string;
  artifactPath: string;
  contentHash: string;
  deploymentProfileId?: string;
  platform?: string;
  profileRootDir?: string;
}

/**
 * Creates or replaces the record of an artifact as SkillMeat's `record_deployment` does (its
 * `local_modifications = false`, `merge_base_snapshot` and legacy `collection_sha` = the content hash),
 * keeping any key of an existing record that SkillMeat does not write (ours or a newer SkillMeat's).
 */
export function setRecord(tracking: TrackingFile, fields: RecordFields): DeploymentRecord {
  const problem = artifactPathProblem(fields.artifactPath);
  if (problem)
    throw new CoreError({
      code: 'tracking-invalid',
      file: tracking.file,
      artifact: `${fields.type}/${fields.name}`,
      reason: `artifact_path "${fields.artifactPath}" ${problem}`,
    });
  const existing = findRecord(tracking, fields);
  const raw: TomlTable = existing?.raw ?? {};
  const before = new Set(Object.keys(raw));
  const values: Record<string, string | boolean | undefined> = {
    artifact_name: fields.name,
    artifact_type: fields.type,
    from_collection: fields.fromCollection,
    deployed_at: fields.deployedAt,
    artifact_path: fields.artifactPath,
    content_hash: fields.contentHash,
    local_modifications: false,
    merge_base_snapshot: fields.contentHash,
    deployment_profile_id: fields.deploymentProfileId,
    platform: fields.platform,
    profile_root_dir: fields.profileRootDir,
    collection_sha: fields.contentHash,
  };
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete raw[key];
    else raw[key] = value;
  }
  const added = Object.keys(raw).filter((key) => !before.has(key));
  const ordered = added.length > 0 ? reorder(raw, RECORD_KEY_ORDER, added) : raw;
  const list = deployedList(tracking);
  const record: DeploymentRecord = {
    name: fields.name,
    type: fields.type,
    fromCollection: fields.fromCollection,
    deployedAt: fields.deployedAt,
    artifactPath: fields.artifactPath,
    contentHash: fields.contentHash,
    ...(fields.deploymentProfileId !== undefined ? { deploymentProfileId: fields.deploymentProfileId } : {}),
    ...(fields.profileRootDir !== undefined ? { profileRootDir: fields.profileRootDir } : {}),
    raw: ordered,
  };
  if (existing) {
    list[list.indexOf(existing.raw)] = ordered;
    tracking.records[tracking.records.indexOf(existing)] = record;
  } else {
    list.push(ordered);
    tracking.records.push(record);
  }
  return record;
}

export function removeRecord(tracking: TrackingFile, key: ArtifactKey): void {
  const existing = findRecord(tracking, key);
  if (!existing) return;
  const list = deployedList(tracking);
  list.splice(list.indexOf(existing.raw), 1);
  tracking.records.splice(tracking.records.indexOf(existing), 1);
}

function deployedList(tracking: TrackingFile): TomlTable[] {
  if (!Array.isArray(tracking.raw.deployed)) tracking.raw.deployed = [];
  return tracking.raw.deployed as TomlTable[];
}

/** `datetime.now().isoformat()` of a naive local time, always with microseconds. */
export function localNaiveTime(date: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}000`
  );
}

/**
 * Why an `artifact_path` cannot be used, or undefined: it must be a relative POSIX path that stays
 * inside the profile root and names something below it (not the root itself).
 */
export function artifactPathProblem(relPath: string): string | undefined {
  if (relPath.length === 0) return 'is empty';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(relPath)) return 'contains a control character';
  if (relPath.includes('\\')) return 'contains a backslash';
  if (path.posix.isAbsolute(relPath) || /^[A-Za-z]:/.test(relPath)) return 'is absolute';
  const normal = normalPosix(relPath);
  if (normal === '.' || normal === './') return 'is the profile root itself';
  if (normal === '..' || normal.startsWith('../')) return 'leaves the profile root';
  if (normal.split('/')[0] === TRACKING_FILE) return 'names the tracking file';
  return undefined;
}

/**
 * The absolute path of a record's deployed copy, after checking that neither the profile root (inside
 * its project or home folder) nor the path leads out through a symlink. Reads only. Throws
 * `tracking-invalid` naming the record.
 */
export function deployedLocation(
  root: ProfileRoot,
  record: Pick<DeploymentRecord, 'name' | 'type' | 'artifactPath'>,
  file: string,
  known?: RealRoots,
): string {
  const target = path.join(root.dir, record.artifactPath);
  const escape = (reason: string): CoreError =>
    new CoreError({
      code: 'tracking-invalid',
      file,
      artifact: `${record.type}/${record.name}`,
      reason: `artifact_path "${record.artifactPath}" ${reason}`,
    });
  const roots = known ?? realRoots(root);
  const { container, realRoot } = roots;
  if (!isInside(container, realRoot))
    throw escape(`is under ${root.dir}, a symlink out of ${root.container}`);
  const realTarget = realTargetOf(target, roots.parents);
  if (!isInside(realRoot, realTarget) || realTarget === realRoot)
    throw escape('leads out of the profile root through a symlink');
  return target;
}

/** The real paths `deployedLocation` checks against: computed once for many records. */
export interface RealRoots {
  container: string;
  realRoot: string;
  /** Real paths of the folders records sit in (`skills/`, `commands/`), found once per check. */
  parents: Map<string, string>;
}

export function realRoots(root: ProfileRoot): RealRoots {
  return { container: realOrSelf(root.container), realRoot: realExisting(root.dir), parents: new Map() };
}

/**
 * The real path of a deployed path: one `lstat` when it is not a symlink and its folder's real path is
 * known (records share a handful of folders), `realExisting` otherwise.
 */
function realTargetOf(target: string, parents: Map<string, string>): string {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(target, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st || st.isSymbolicLink()) return realExisting(target);
  const parent = path.dirname(target);
  let realParent = parents.get(parent);
  if (realParent === undefined) {
    realParent = realExisting(parent);
    parents.set(parent, realParent);
  }
  return path.join(realParent, path.basename(target));
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function realOrSelf(dir: string): string {
  try {
    return fs.realpathSync.native(dir);
  } catch {
    return path.resolve(dir);
  }
}

/**
 * Where `target` really is: the real path of its deepest existing ancestor (the path itself when it
 * exists) with the rest appended. A dangling symlink is followed lexically, so one that points out of
 * the root is still caught.
 */
function realExisting(target: string, depth = 0): string {
  const abs = path.resolve(target);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch {
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(realExisting(parent, depth), path.basename(abs));
  }
  try {
    return fs.realpathSync.native(abs);
  } catch {
    if (st.isSymbolicLink() && depth < 40) {
      const link = fs.readlinkSync(abs);
      return realExisting(path.resolve(path.dirname(abs), link), depth + 1);
    }
    return abs;
  }
}
