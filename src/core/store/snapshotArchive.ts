/**
 * One snapshot as our portable `.tar.gz` (the collection under `collection/` plus a metadata file): export,
 * and import of such archives and of SkillMeat's own snapshot tarballs, told apart by that metadata file.
 * An archive is read and vetted in full before anything is written (archiveImport.ts).
 */
import type { SnapshotMeta } from './snapshotRefs.js';
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { decodeName, isRawName, showName } from '../base/fileNames.js';
import { ancestors } from '../model/artifactTree.js';
import { writeFileAtomic } from '../ports/fs.js';
import { comparePaths } from '../ports/walk.js';
import { collectionEntries, importPrepared, loadTar, readArchive } from './archiveImport.js';
import type { ArchiveEntry, PreparedImport } from './archiveImport.js';
import { io } from './gitObjects.js';
import { prepareSkillmeatArchive, readSkillmeatIndex } from './skillmeatSnapshots.js';
import type { SnapshotInfo } from './snapshotRefs.js';
import type { SnapshotStore } from './snapshots.js';

export const EXPORT_META_FILE = 'artifact-keeper-snapshot.json';
export const EXPORT_ROOT = 'collection';
export const EXPORT_FORMAT = 'artifact-keeper-snapshot';

/** The metadata file of an export. */
export interface ExportMetadata {
  format: typeof EXPORT_FORMAT;
  version: 1;
  /** The snapshot's metadata as the store keeps it, with the git ids of its tree and commit. */
  snapshot: Pick<SnapshotMeta, 'id' | 'reason' | 'trigger' | 'artifacts' | 'time' | 'tool' | 'pinned'> & {
    tree: string;
    commit: string;
  };
}

export interface ExportResult {
  file: string;
  files: number;
  bytes: number;
}

/**
 * Writes snapshot `id` to `file` as a gzipped tar (atomically, through the store's Fs port): every file,
 * symlink and empty folder under `collection/`, plus `artifact-keeper-snapshot.json`. Deterministic:
 * the same snapshot always gives the same bytes. Throws `snapshot-not-found`, `git-failed`, `io-failed`,
 * and `snapshot-invalid` (nothing written) for a name or symlink target that is not UTF-8: the tar
 * writer only takes UTF-8 names and would change it silently.
 */
export async function exportSnapshot(store: SnapshotStore, id: string, file: string): Promise<ExportResult> {
  const info = await store.resolve(id);
  const tree = await store.readTree(info.id);
  const mtime = new Date(info.time);
  const meta: ExportMetadata = {
    format: EXPORT_FORMAT,
    version: 1,
    snapshot: {
      id: info.id,
      reason: info.reason,
      trigger: info.trigger,
      artifacts: info.artifacts,
      time: info.time,
      tool: info.tool,
      pinned: info.pinned,
      tree: info.tree,
      commit: info.commit,
    },
  };
  const dirs = new Set<string>();
  for (const [rel, entry] of tree) {
    for (const parent of ancestors(rel)) dirs.add(parent);
    if (entry.kind === 'dir') dirs.add(rel);
  }
  const paths = [
    ...new Set([...dirs, ...[...tree.keys()].filter((rel) => tree.get(rel)?.kind !== 'dir')]),
  ].sort(comparePaths);
  const notUtf8 = (rel: string, what: string): CoreError =>
    new CoreError({
      code: 'snapshot-invalid',
      file: `snapshot ${info.id}`,
      reason: `${showName(rel)}: ${what} is not UTF-8, which an exported archive cannot carry (restore the snapshot instead)`,
    });
  const raw = paths.find(isRawName);
  if (raw !== undefined) throw notUtf8(raw, 'the name');
  const linkTargets = new Map<string, string>();
  for (const rel of paths) {
    const entry = tree.get(rel);
    if (entry?.kind !== 'symlink') continue;
    const target = decodeName(await store.readBlob(entry.sha));
    if (isRawName(target)) throw notUtf8(rel, 'the symlink target');
    linkTargets.set(rel, target);
  }

  const { Header, Pack, ReadEntry } = loadTar();
  const pack = new Pack({ gzip: true, portable: true });
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const add = (
    entryPath: string,
    type: 'File' | 'Directory' | 'SymbolicLink',
    mode: number,
    data?: Buffer,
    linkpath?: string,
  ): void => {
    const header = new Header({
      path: entryPath,
      type,
      mode,
      size: data?.length ?? 0,
      mtime,
      ...(linkpath ? { linkpath } : {}),
    });
    const entry = new ReadEntry(header);
    pack.write(entry);
    if (data) entry.end(data);
    else entry.end();
  };
  add(EXPORT_META_FILE, 'File', 0o644, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
  add(`${EXPORT_ROOT}/`, 'Directory', 0o755);
  let files = 0;
  for (const rel of paths) {
    const entry = tree.get(rel);
    const name = `${EXPORT_ROOT}/${rel}`;
    if (!entry || entry.kind === 'dir') {
      add(`${name}/`, 'Directory', 0o755);
    } else if (entry.kind === 'symlink') {
      add(name, 'SymbolicLink', 0o777, undefined, linkTargets.get(rel));
      files++;
    } else {
      add(name, 'File', entry.mode === '100755' ? 0o755 : 0o644, await store.readBlob(entry.sha));
      files++;
    }
  }
  pack.end();
  await finished;
  const bytes = Buffer.concat(chunks);
  await io('write', file, () => writeFileAtomic(store.fs, file, bytes));
  store.logger.info(`[Snapshots] exported ${info.id} to ${file} (${files} files, ${bytes.length} bytes)`);
  return { file, files, bytes: bytes.length };
}

/**
 * Reads and vets an archive without writing anything: one of our exports, or a SkillMeat snapshot tarball
 * (its `snapshots.toml` beside it supplies message and time). Throws `snapshot-invalid` naming the file,
 * and the entry for absolute or `..` paths, hard links, devices, symlinks that leave the collection.
 */
export async function prepareImport(file: string, logger: Logger): Promise<PreparedImport> {
  const entries = await readArchive(file);
  if (entries.has(EXPORT_META_FILE)) return prepareExport(file, entries);
  const id = path.basename(file).replace(/\.(tar\.gz|tgz)$/, '');
  const listed = readSkillmeatIndex(path.dirname(file), logger).find((s) => s.id === id);
  return prepareSkillmeatArchive(
    file,
    entries,
    listed ?? { id, collection: path.basename(path.dirname(file)) },
  );
}

/** `prepareImport` then `importPrepared`; nothing is written when the archive is refused. */
export async function importSnapshot(store: SnapshotStore, file: string): Promise<SnapshotInfo> {
  return importPrepared(store, await prepareImport(file, store.logger));
}

// ---- importing ------------------------------------------------------------------------------------

function prepareExport(file: string, entries: Map<string, ArchiveEntry>): PreparedImport {
  const metaEntry = entries.get(EXPORT_META_FILE) as ArchiveEntry;
  let meta: ExportMetadata;
  try {
    meta = JSON.parse(metaEntry.data.toString('utf8')) as ExportMetadata;
  } catch (err) {
    throw new CoreError(
      { code: 'snapshot-invalid', file, reason: `${EXPORT_META_FILE} is not JSON` },
      { cause: err },
    );
  }
  if (meta.format !== EXPORT_FORMAT || typeof meta.snapshot?.id !== 'string') {
    throw new CoreError({
      code: 'snapshot-invalid',
      file,
      reason: `${EXPORT_META_FILE} is not ${EXPORT_FORMAT} metadata`,
    });
  }
  const rest = new Map([...entries].filter(([p]) => p !== EXPORT_META_FILE));
  const content = collectionEntries(file, rest, EXPORT_ROOT);
  return {
    file,
    content,
    options: {
      reason: `imported ${meta.snapshot.id}${meta.snapshot.reason ? `: ${meta.snapshot.reason}` : ''}`,
      trigger: 'import',
      artifacts: Array.isArray(meta.snapshot.artifacts)
        ? meta.snapshot.artifacts.filter((a) => typeof a === 'string')
        : [],
      origin: { kind: 'export', id: meta.snapshot.id, file: path.basename(file) },
    },
    ...(meta.snapshot.tree ? { exportedTree: meta.snapshot.tree } : {}),
    exportedId: meta.snapshot.id,
  };
}
