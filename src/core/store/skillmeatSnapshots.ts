/**
 * SkillMeat's own snapshots: its `snapshots.toml` index (id, naive UTC timestamp, message, artifact count,
 * tarball path) and tarballs holding one collection folder at the top, imported as our snapshots with
 * SkillMeat's time and id as their origin. Each import is vetted in full before anything is written.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { parseToml } from '../model/toml.js';
import type { TomlValue } from '../model/toml.js';
import { collectionEntries, importPrepared, readArchive } from './archiveImport.js';
import type { ArchiveEntry, PreparedImport } from './archiveImport.js';
import type { SnapshotInfo } from './snapshotRefs.js';
import type { SnapshotStore } from './snapshots.js';

export const SKILLMEAT_INDEX = 'snapshots.toml';

/**
 * Checks that `dir` (or the toml file itself) is a SkillMeat snapshot folder, without writing anything.
 * Throws `snapshot-invalid`.
 */
export function checkSkillmeatFolder(dir: string, logger: Logger): void {
  const folder = dir.endsWith('.toml') ? path.dirname(dir) : dir;
  if (!nodeFs.existsSync(path.join(folder, SKILLMEAT_INDEX))) {
    throw new CoreError({
      code: 'snapshot-invalid',
      file: folder,
      reason: `no ${SKILLMEAT_INDEX} here (not a SkillMeat snapshot folder)`,
    });
  }
  readSkillmeatIndex(folder, logger);
}

/**
 * Imports every snapshot listed in a SkillMeat `snapshots.toml` (`dir` is
 * `~/.skillmeat/snapshots/<collection>/` or the toml file itself), oldest first, skipping ones imported
 * before. Snapshots keep SkillMeat's time, so they sort into history where they belong.
 */
export async function importSkillmeatSnapshots(store: SnapshotStore, dir: string): Promise<SnapshotInfo[]> {
  checkSkillmeatFolder(dir, store.logger);
  const folder = dir.endsWith('.toml') ? path.dirname(dir) : dir;
  const listed = readSkillmeatIndex(folder, store.logger).sort(
    (a, b) => (a.time?.getTime() ?? 0) - (b.time?.getTime() ?? 0),
  );
  const already = new Set(
    (await store.list())
      .filter((s) => s.origin?.kind === 'skillmeat')
      .map((s) => `${s.origin?.collection ?? ''}\0${s.origin?.id ?? ''}`),
  );
  const imported: SnapshotInfo[] = [];
  for (const item of listed) {
    if (already.has(`${item.collection}\0${item.id}`)) continue;
    const tarball = [path.join(folder, `${item.id}.tar.gz`), item.tarballPath].find(
      (p) => p && nodeFs.existsSync(p),
    );
    if (!tarball) {
      store.logger.warn(`[Snapshots] SkillMeat snapshot ${item.id}: its tarball is missing, skipped`);
      continue;
    }
    imported.push(
      await importPrepared(store, prepareSkillmeatArchive(tarball, await readArchive(tarball), item)),
    );
  }
  return imported;
}

export interface SkillmeatListing {
  id: string;
  collection: string;
  message?: string;
  time?: Date;
  artifactCount?: number;
  tarballPath?: string;
}

export function prepareSkillmeatArchive(
  file: string,
  entries: Map<string, ArchiveEntry>,
  listing: SkillmeatListing,
): PreparedImport {
  // SkillMeat's tarfile.add(collection_path, arcname=collection_name): one folder at the top.
  const tops = new Set([...entries.keys()].map((p) => p.split('/', 1)[0] as string));
  const [top] = tops;
  if (tops.size !== 1 || top === undefined) {
    throw new CoreError({
      code: 'snapshot-invalid',
      file,
      reason: `expected one collection folder at the top, found ${tops.size === 0 ? 'nothing' : [...tops].slice(0, 3).join(', ')}`,
    });
  }
  const content = collectionEntries(file, entries, top);
  const count = listing.artifactCount !== undefined ? ` (${listing.artifactCount} artifacts)` : '';
  return {
    file,
    content,
    options: {
      reason: `SkillMeat snapshot ${listing.id}${listing.message ? `: ${listing.message}` : ''}${count}`,
      trigger: 'import',
      artifacts: [],
      origin: {
        kind: 'skillmeat',
        id: listing.id,
        file: path.basename(file),
        collection: listing.collection || top,
      },
      ...(listing.time ? { time: listing.time } : {}),
    },
  };
}

/** SkillMeat's `snapshots.toml`: `[[snapshots]]` with id, timestamp (naive UTC), message, artifact_count, tarball_path. */
export function readSkillmeatIndex(folder: string, logger: Logger): SkillmeatListing[] {
  const file = path.join(folder, SKILLMEAT_INDEX);
  if (!nodeFs.existsSync(file)) return [];
  const table = parseToml(nodeFs.readFileSync(file), file);
  const rows = Array.isArray(table.snapshots) ? table.snapshots : [];
  const out: SkillmeatListing[] = [];
  for (const row of rows) {
    if (typeof row !== 'object' || row === null || Array.isArray(row) || row instanceof Date) continue;
    const id = row.id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9._-]+$/.test(id) || id.startsWith('.')) {
      logger.warn(`[Snapshots] ${file}: skipping a snapshot with an unusable id`);
      continue;
    }
    const time = parseSkillmeatTime(row.timestamp);
    const collection = typeof row.collection_name === 'string' ? row.collection_name : path.basename(folder);
    out.push({
      id,
      collection,
      ...(typeof row.message === 'string' ? { message: row.message } : {}),
      ...(time ? { time } : {}),
      ...(typeof row.artifact_count === 'number' ? { artifactCount: row.artifact_count } : {}),
      ...(typeof row.tarball_path === 'string' ? { tarballPath: row.tarball_path } : {}),
    });
  }
  return out;
}

/** SkillMeat writes `datetime.utcnow().isoformat()`: naive UTC, microseconds. */
function parseSkillmeatTime(value: TomlValue | undefined): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  const fraction = (m[2] ?? '.0').slice(0, 4);
  const date = new Date(`${m[1]}${fraction}${m[3] ?? 'Z'}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
