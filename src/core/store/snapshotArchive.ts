/**
 * One snapshot as a portable `.tar.gz` (the collection under `collection/` plus a metadata file), and
 * import of such archives and of SkillMeat's own snapshot tarballs. An archive is read and vetted in full
 * before anything is written; extraction goes to a temp folder under `.artifact-keeper/`, always removed.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { Header, list, Pack, ReadEntry } from 'tar';
import { CoreError } from '../base/errors.js';
import { decodeName, isRawName, showName } from '../base/fileNames.js';
import { writeFileAtomic } from '../ports/fs.js';
import { parseToml } from '../model/toml.js';
import type { TomlValue } from '../model/toml.js';
import { comparePaths } from '../ports/walk.js';
import type { Logger } from '../base/changes.js';
import { ancestorsOf, io } from './snapshots.js';
import type { SnapshotInfo, SnapshotStore } from './snapshots.js';

export const EXPORT_META_FILE = 'artifact-keeper-snapshot.json';
export const EXPORT_ROOT = 'collection';
export const EXPORT_FORMAT = 'artifact-keeper-snapshot';
export const SKILLMEAT_INDEX = 'snapshots.toml';
/** An archive larger than this once unpacked is refused: Claude artifacts are text, not media libraries. */
export const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
export const MAX_ARCHIVE_ENTRIES = 200_000;

/** The metadata file of an export. */
export interface ExportMetadata {
  format: typeof EXPORT_FORMAT;
  version: 1;
  snapshot: {
    id: string;
    reason: string;
    trigger: string;
    artifacts: string[];
    time: string;
    tool: string;
    pinned: boolean;
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
    for (const parent of ancestorsOf(rel)) dirs.add(parent);
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

/** An archive read and vetted in full, ready to become a snapshot: all of an import but the writing. */
export interface PreparedImport {
  file: string;
  content: Map<string, ArchiveEntry>;
  options: Parameters<SnapshotStore['createFromFolder']>[1];
  /** The tree our export recorded, to warn when the imported content differs. */
  exportedTree?: string;
  exportedId?: string;
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

/** Turns a prepared archive into a new snapshot (trigger `import`) without touching the collection. */
export async function importPrepared(store: SnapshotStore, prepared: PreparedImport): Promise<SnapshotInfo> {
  const info = await extractAndSnapshot(store, prepared.file, prepared.content, prepared.options);
  if (prepared.exportedTree && prepared.exportedTree !== info.tree) {
    store.logger.warn(
      `[Snapshots] ${path.basename(prepared.file)}: content differs from the exported snapshot ${prepared.exportedId ?? ''} (tree ${info.tree})`,
    );
  }
  return info;
}

/** `prepareImport` then `importPrepared`; nothing is written when the archive is refused. */
export async function importSnapshot(store: SnapshotStore, file: string): Promise<SnapshotInfo> {
  return importPrepared(store, await prepareImport(file, store.logger));
}

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

// ---- reading and vetting archives -----------------------------------------------------------------

type EntryKind = 'file' | 'dir' | 'symlink';

interface ArchiveEntry {
  /** Normalized path in the archive (no leading `./`, no trailing `/`). */
  path: string;
  kind: EntryKind;
  mode: number;
  data: Buffer;
  linkpath?: string;
}

/** Reads the whole archive into memory, refusing anything unsafe before a byte is written anywhere. */
async function readArchive(file: string): Promise<Map<string, ArchiveEntry>> {
  const entries = new Map<string, ArchiveEntry>();
  let total = 0;
  let problem: CoreError | undefined;
  const refuse = (entryPath: string, reason: string): void => {
    problem ??= new CoreError({ code: 'snapshot-invalid', file, reason: `entry "${entryPath}": ${reason}` });
  };
  if (!nodeFs.statSync(file, { throwIfNoEntry: false })?.isFile())
    throw new CoreError({ code: 'snapshot-invalid', file, reason: 'no such file' });
  try {
    await list({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const raw = entry.path;
        const kind = kindOf(entry.type);
        if (typeof kind !== 'string') return refuse(raw, kind.reason);
        const normalized = normalizeEntryPath(raw);
        if (typeof normalized !== 'string') return refuse(raw, normalized.reason);
        if (normalized === '') return; // the archive's own `./`
        if (entries.size >= MAX_ARCHIVE_ENTRIES)
          return refuse(raw, `more than ${MAX_ARCHIVE_ENTRIES} entries`);
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > MAX_ARCHIVE_BYTES)
            refuse(raw, `the archive unpacks to more than ${MAX_ARCHIVE_BYTES} bytes`);
          else chunks.push(chunk);
        });
        entry.on('end', () => {
          entries.set(normalized, {
            path: normalized,
            kind,
            mode: entry.mode ?? 0o644,
            data: Buffer.concat(chunks),
            ...(kind === 'symlink' ? { linkpath: entry.linkpath ?? '' } : {}),
          });
        });
      },
    });
  } catch (err) {
    if (err instanceof CoreError) throw err;
    throw new CoreError(
      { code: 'snapshot-invalid', file, reason: `not a readable .tar.gz: ${(err as Error).message}` },
      { cause: err },
    );
  }
  if (problem) throw problem;
  return entries;
}

function kindOf(type: string): EntryKind | { reason: string } {
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
    case 'GNUDumpDir':
      return 'dir';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return { reason: 'hard links are not accepted' };
    case 'CharacterDevice':
    case 'BlockDevice':
      return { reason: 'device files are not accepted' };
    case 'FIFO':
      return { reason: 'named pipes are not accepted' };
    default:
      return { reason: `unsupported entry type ${type}` };
  }
}

function normalizeEntryPath(raw: string): string | { reason: string } {
  if (raw.includes('\0')) return { reason: 'NUL in path' };
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw) || raw.startsWith('\\'))
    return { reason: 'absolute path' };
  const parts = raw.split(process.platform === 'win32' ? /[\\/]/ : '/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { reason: 'path with ".." leaves the archive' };
  return parts.join('/');
}

/**
 * Checks the entries below `root` as a collection: symlinks stay inside it, nothing sits below a file or
 * symlink, and returns them relative to `root`.
 */
function collectionEntries(
  file: string,
  entries: Map<string, ArchiveEntry>,
  root: string,
): Map<string, ArchiveEntry> {
  const out = new Map<string, ArchiveEntry>();
  const prefix = `${root}/`;
  for (const [entryPath, entry] of entries) {
    if (entryPath === root) {
      if (entry.kind !== 'dir') throw invalid(file, entryPath, `"${root}" is not a folder`);
      continue;
    }
    if (!entryPath.startsWith(prefix)) throw invalid(file, entryPath, `outside "${root}/"`);
    out.set(entryPath.slice(prefix.length), entry);
  }
  for (const [rel, entry] of out) {
    for (const parent of ancestorsOf(rel)) {
      const above = out.get(parent);
      if (above && above.kind !== 'dir')
        throw invalid(
          file,
          entry.path,
          `below ${above.kind === 'symlink' ? 'a symlink' : 'a file'} "${above.path}"`,
        );
    }
    if (entry.kind === 'symlink') {
      const target = entry.linkpath ?? '';
      if (target === '' || target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\0')) {
        throw invalid(file, entry.path, `symlink to "${target}" leaves the collection`);
      }
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (resolved === '..' || resolved.startsWith('../'))
        throw invalid(file, entry.path, `symlink to "${target}" leaves the collection`);
    }
  }
  return out;
}

function invalid(file: string, entryPath: string, reason: string): CoreError {
  return new CoreError({ code: 'snapshot-invalid', file, reason: `entry "${entryPath}": ${reason}` });
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

interface SkillmeatListing {
  id: string;
  collection: string;
  message?: string;
  time?: Date;
  artifactCount?: number;
  tarballPath?: string;
}

function prepareSkillmeatArchive(
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

async function extractAndSnapshot(
  store: SnapshotStore,
  file: string,
  content: Map<string, ArchiveEntry>,
  options: Parameters<SnapshotStore['createFromFolder']>[1],
): Promise<SnapshotInfo> {
  const fs = store.fs;
  const temp = path.join(store.stateDir, `import-${process.pid}-${randomBytes(4).toString('hex')}`);
  const root = path.join(temp, 'collection');
  try {
    await io('mkdir', root, () => fs.mkdir(root));
    for (const rel of [...content.keys()].sort(comparePaths)) {
      const entry = content.get(rel) as ArchiveEntry;
      const abs = path.join(root, ...rel.split('/'));
      await io('extract', abs, async () => {
        if (entry.kind === 'dir') return fs.mkdir(abs);
        await fs.mkdir(path.dirname(abs));
        if (entry.kind === 'symlink') await fs.symlink(entry.linkpath ?? '', abs);
        else await fs.writeFile(abs, entry.data, entry.mode & 0o111 ? 0o755 : 0o644);
      });
    }
    const info = await store.createFromFolder(root, options);
    store.logger.info(`[Snapshots] imported ${path.basename(file)} as ${info.id}`);
    return info;
  } finally {
    await fs.rm(temp).catch((err: unknown) => {
      store.logger.warn(`[Snapshots] could not remove ${temp}: ${(err as Error).message}`);
    });
  }
}

/** SkillMeat's `snapshots.toml`: `[[snapshots]]` with id, timestamp (naive UTC), message, artifact_count, tarball_path. */
function readSkillmeatIndex(folder: string, logger: Logger): SkillmeatListing[] {
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
