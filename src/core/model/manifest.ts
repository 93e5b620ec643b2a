/**
 * `collection.toml`: parse into a typed view over the raw document, edit through setters that keep
 * every key we do not understand, serialise deterministically (tomli_w style, SkillMeat's key order).
 * The raw table is the truth; `ArtifactEntry` fields are read from it, so nothing is ever dropped.
 */
import {
  isArtifactType,
  lockKey,
  nameProblem,
  normalisePath,
  pathLengthProblem,
  pathProblem,
} from './artifact.js';
import type { ArtifactKey, ArtifactType } from './artifact.js';
import { CoreError } from '../base/errors.js';
import { copyFloatMarks, isTable, parseToml, serializeToml } from './toml.js';
import type { TomlTable, TomlValue } from './toml.js';

export const MANIFEST_FILE = 'collection.toml';

export interface ArtifactEntry extends ArtifactKey {
  /** Normalised POSIX path relative to the collection root. */
  path: string;
  origin: string;
  upstream?: string;
  versionSpec?: string;
  resolvedSha?: string;
  resolvedVersion?: string;
  lastUpdated?: string;
  /** The `[[artifacts]]` table itself: edits go here so unknown keys survive. */
  raw: TomlTable;
}

export interface Manifest {
  raw: TomlTable;
  name: string;
  artifacts: ArtifactEntry[];
}

/** SkillMeat's `Artifact.to_dict` order; keys we add are placed by it, keys we keep stay where they are. */
const ARTIFACT_KEY_ORDER = [
  'name',
  'type',
  'path',
  'origin',
  'added',
  'upstream',
  'version_spec',
  'resolved_sha',
  'resolved_version',
  'last_updated',
  'discovered_at',
  'tags',
  'origin_source',
  'target_platforms',
  'import_id',
  'uuid',
  'metadata',
];

/**
 * Parses and checks `collection.toml`. `root`, the collection folder, adds the check that every artifact
 * path fits in a system call under it. Throws `toml-invalid` or `manifest-invalid`.
 */
export function parseManifest(
  bytes: Uint8Array | string,
  file = MANIFEST_FILE,
  parse: (bytes: Uint8Array | string, file: string) => TomlTable = parseToml,
  root?: string,
): Manifest {
  const raw = parse(bytes, file);
  // Decoded only when an error needs a line number: a 2,000-artifact manifest is most of a megabyte.
  const text = (): string =>
    typeof bytes === 'string'
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  // Line numbers are looked up only when there is an error to report: a scan per artifact would make
  // loading a 2,000-artifact manifest quadratic.
  const invalid = (
    reason: string,
    line?: number | (() => number | undefined),
    artifact?: string,
  ): CoreError => {
    const at = typeof line === 'function' ? line() : line;
    return new CoreError({
      code: 'manifest-invalid',
      file,
      ...(at !== undefined ? { line: at } : {}),
      ...(artifact ? { artifact } : {}),
      reason,
    });
  };
  const collection = raw.collection;
  if (collection !== undefined && !isTable(collection)) throw invalid('[collection] must be a table');
  const name = isTable(collection) && typeof collection.name === 'string' ? collection.name : '';
  const list = raw.artifacts ?? [];
  if (!Array.isArray(list))
    throw invalid('"artifacts" must be an array of tables', lineOfKey(text(), 'artifacts'));
  const seen = new Set<string>();
  const artifacts = list.map((table, index): ArtifactEntry => {
    const line = (): number | undefined => lineOfArrayTable(text(), 'artifacts', index);
    if (!isTable(table)) throw invalid(`artifacts[${index}] is not a table`, line);
    const str = (key: string, required: boolean): string | undefined => {
      const value = table[key];
      if (value === undefined) {
        if (required) throw invalid(`artifacts[${index}] has no "${key}"`, line);
        return undefined;
      }
      if (typeof value !== 'string') throw invalid(`artifacts[${index}].${key} must be a string`, line);
      return value;
    };
    const entryName = str('name', true) as string;
    const type = str('type', true) as string;
    const id = `${type}/${entryName}`;
    const problem = nameProblem(entryName);
    if (problem) throw invalid(`invalid artifact name "${shortened(entryName)}": ${problem}`, line, id);
    if (!isArtifactType(type)) throw invalid(`unknown artifact type "${type}"`, line, id);
    const relPath = str('path', true) as string;
    const badPath =
      pathProblem(relPath) ?? (root ? pathLengthProblem(root, normalisePath(relPath)) : undefined);
    if (badPath) throw invalid(`path "${shortened(relPath)}" ${badPath}`, line, id);
    const key = lockKey({ name: entryName, type });
    if (seen.has(key)) throw invalid(`duplicate artifact ${id}`, line, id);
    seen.add(key);
    // Assigned one by one in this order (not spread from small objects: 2,000 entries in cold code).
    const entry = {
      name: entryName,
      type: type as ArtifactType,
      path: normalisePath(relPath),
      origin: str('origin', false) ?? 'local',
    } as ArtifactEntry;
    const upstream = str('upstream', false);
    if (upstream !== undefined) entry.upstream = upstream;
    const versionSpec = str('version_spec', false);
    if (versionSpec !== undefined) entry.versionSpec = versionSpec;
    const resolvedSha = str('resolved_sha', false);
    if (resolvedSha !== undefined) entry.resolvedSha = resolvedSha;
    const resolvedVersion = str('resolved_version', false);
    if (resolvedVersion !== undefined) entry.resolvedVersion = resolvedVersion;
    const lastUpdated = str('last_updated', false);
    if (lastUpdated !== undefined) entry.lastUpdated = lastUpdated;
    entry.raw = table;
    return entry;
  });
  return { raw, name, artifacts };
}

export function serializeManifest(manifest: Manifest): string {
  return serializeToml(manifest.raw);
}

export function findEntry(manifest: Manifest, key: ArtifactKey): ArtifactEntry | undefined {
  return manifest.artifacts.find((a) => a.name === key.name && a.type === key.type);
}

/** The fields an update or an add may change; `undefined` removes the key. */
export interface ArtifactFields {
  path?: string;
  origin?: string;
  added?: string;
  upstream?: string | undefined;
  version_spec?: string | undefined;
  resolved_sha?: string | undefined;
  resolved_version?: string | undefined;
  last_updated?: string | undefined;
}

/** Sets keys on an artifact's raw table in SkillMeat's order, leaving every other key where it was. */
export function setArtifactFields(entry: ArtifactEntry, fields: ArtifactFields): void {
  const before = new Set(Object.keys(entry.raw));
  for (const [key, value] of Object.entries(fields) as [string, string | undefined][]) {
    if (value === undefined) delete entry.raw[key];
    else entry.raw[key] = value;
  }
  const added = Object.keys(entry.raw).filter((key) => !before.has(key));
  if (added.length > 0) replaceContents(entry.raw, reorder(entry.raw, ARTIFACT_KEY_ORDER, added));
  refreshEntry(entry);
}

export function addArtifact(
  manifest: Manifest,
  key: ArtifactKey,
  fields: ArtifactFields & { path: string },
): ArtifactEntry {
  const raw: TomlTable = { name: key.name, type: key.type };
  const entry: ArtifactEntry = { ...key, path: fields.path, origin: 'local', raw };
  setArtifactFields(entry, { origin: 'local', ...fields });
  if (!Array.isArray(manifest.raw.artifacts)) manifest.raw.artifacts = [];
  (manifest.raw.artifacts as TomlTable[]).push(entry.raw);
  manifest.artifacts.push(entry);
  return entry;
}

export function removeArtifact(manifest: Manifest, key: ArtifactKey): void {
  const entry = findEntry(manifest, key);
  if (!entry) return;
  manifest.artifacts = manifest.artifacts.filter((a) => a !== entry);
  const list = manifest.raw.artifacts;
  if (Array.isArray(list)) manifest.raw.artifacts = list.filter((t) => t !== entry.raw);
}

export function touchCollection(manifest: Manifest, now: string): void {
  if (!isTable(manifest.raw.collection)) manifest.raw.collection = {};
  (manifest.raw.collection as TomlTable).updated = now;
}

export function newManifest(name: string, now: string): Manifest {
  const raw: TomlTable = {
    collection: { name, version: '1.0.0', created: now, updated: now },
    artifacts: [],
  };
  return { raw, name, artifacts: [] };
}

function refreshEntry(entry: ArtifactEntry): void {
  const get = (key: string): string | undefined =>
    typeof entry.raw[key] === 'string' ? (entry.raw[key] as string) : undefined;
  entry.path = normalisePath(get('path') ?? entry.path);
  entry.origin = get('origin') ?? 'local';
  for (const [field, key] of [
    ['upstream', 'upstream'],
    ['versionSpec', 'version_spec'],
    ['resolvedSha', 'resolved_sha'],
    ['resolvedVersion', 'resolved_version'],
    ['lastUpdated', 'last_updated'],
  ] as const) {
    const value = get(key);
    if (value === undefined) delete entry[field];
    else entry[field] = value;
  }
}

/**
 * Moves `added` keys to their canonical place: right after the nearest present key that comes before
 * them in `order` (or before the first that comes after).
 * Keys that were already there keep their position, and unknown keys are never moved. The new table
 * keeps the old one's float marks (an unknown `score = 1.0` is still written `1.0`).
 */
export function reorder(table: TomlTable, order: string[], added: string[]): TomlTable {
  const result: [string, TomlValue][] = Object.entries(table).filter(([key]) => !added.includes(key));
  for (const key of added) {
    if (!(key in table)) continue;
    const rank = order.indexOf(key);
    let at = result.length;
    if (rank >= 0) {
      const ranks = result.map(([k]) => order.indexOf(k));
      const previous = ranks.reduce((last, r, i) => (r >= 0 && r < rank ? i : last), -1);
      const next = ranks.findIndex((r) => r > rank);
      at = previous >= 0 ? previous + 1 : next >= 0 ? next : result.length;
    }
    result.splice(at, 0, [key, table[key] as TomlValue]);
  }
  const reordered = Object.fromEntries(result) as TomlTable;
  copyFloatMarks(table, reordered);
  return reordered;
}

/** Keeps the table's identity (the manifest's raw array holds it) while changing its key order. */
function replaceContents(target: TomlTable, source: TomlTable): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

/** A path as messages show it: a hostile one can be thousands of bytes long. */
function shortened(text: string): string {
  return text.length > 120 ? `${[...text].slice(0, 100).join('')}…` : text;
}

/** Best-effort 1-based line of the `index`-th `[[name]]` header, for error messages. */
export function lineOfArrayTable(text: string, name: string, index: number): number | undefined {
  const lines = text.split('\n');
  let seen = -1;
  const header = new RegExp(`^\\s*\\[\\[\\s*${name}\\s*\\]\\]`);
  for (let i = 0; i < lines.length; i++) {
    if (header.test(lines[i] ?? '') && ++seen === index) return i + 1;
  }
  return undefined;
}

export function lineOfKey(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  const re = new RegExp(`^\\s*"?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*=`);
  const at = lines.findIndex((l) => re.test(l));
  return at >= 0 ? at + 1 : undefined;
}
