/**
 * An archive from file to snapshot, whatever wrote it: read whole into memory and vetted before a byte is
 * written (no absolute or `..` paths, hard links, devices, or symlinks that leave the collection), then
 * extracted to a temp folder under `.artifact-keeper/`, always removed, and snapshotted from there.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import type * as Tar from 'tar';
import { CoreError } from '../base/errors.js';
import { ancestors } from '../model/artifactTree.js';
import { comparePaths } from '../ports/walk.js';
import { io } from './gitObjects.js';
import type { SnapshotInfo } from './snapshotRefs.js';
import type { SnapshotStore } from './snapshots.js';

/**
 * tar, loaded on first use: only export and import read archives, and loading it (with the streams,
 * zlib and assert it brings) would otherwise be paid by every CLI start, `status` included.
 */
export function loadTar(): typeof Tar {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('tar') as typeof Tar;
}

/** An archive larger than this once unpacked is refused: Claude artifacts are text, not media libraries. */
export const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
export const MAX_ARCHIVE_ENTRIES = 200_000;

/** An archive read and vetted in full, ready to become a snapshot: all of an import but the writing. */
export interface PreparedImport {
  file: string;
  content: Map<string, ArchiveEntry>;
  options: Parameters<SnapshotStore['createFromFolder']>[1];
  /** The tree our export recorded, to warn when the imported content differs. */
  exportedTree?: string;
  exportedId?: string;
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

type EntryKind = 'file' | 'dir' | 'symlink';

export interface ArchiveEntry {
  /** Normalized path in the archive (no leading `./`, no trailing `/`). */
  path: string;
  kind: EntryKind;
  mode: number;
  data: Buffer;
  linkpath?: string;
}

/** Reads the whole archive into memory, refusing anything unsafe before a byte is written anywhere. */
export async function readArchive(file: string): Promise<Map<string, ArchiveEntry>> {
  const entries = new Map<string, ArchiveEntry>();
  let total = 0;
  let problem: CoreError | undefined;
  const refuse = (entryPath: string, reason: string): void => {
    problem ??= new CoreError({ code: 'snapshot-invalid', file, reason: `entry "${entryPath}": ${reason}` });
  };
  if (!nodeFs.statSync(file, { throwIfNoEntry: false })?.isFile())
    throw new CoreError({ code: 'snapshot-invalid', file, reason: 'no such file' });
  try {
    await loadTar().list({
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
export function collectionEntries(
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
    for (const parent of ancestors(rel)) {
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
