/**
 * Local sources: telling a local git repository from a plain folder or file (for the SOURCE grammar), and
 * copying a folder or file that is not a repository into a temp workspace. The source is walked with
 * lstat (links never followed) and every entry checked before anything is created, so a FIFO (which would
 * block the copy), a device or a socket is refused by name instead of copied.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { isNoiseName } from '../base/noise.js';
import { entryProblem } from '../model/validate.js';
import type { EntryKind } from '../model/validate.js';
import { contentLabel } from './contentShape.js';
import type { ArtifactHint, FetchedContent, Shape } from './contentShape.js';
import type { FolderSource, PathKind } from './sourceSpec.js';
import { throwIfAborted } from '../base/abort.js';

/** A local git repository (work tree with `.git`, or bare: HEAD + objects + refs), folder, file, or nothing. */
export function probePath(absolutePath: string): PathKind {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolutePath);
  } catch {
    return 'missing';
  }
  if (stat.isFile()) return 'file';
  if (!stat.isDirectory()) return 'missing';
  if (fs.existsSync(path.join(absolutePath, '.git'))) return 'git';
  const isFile = (name: string): boolean =>
    fs.statSync(path.join(absolutePath, name), { throwIfNoEntry: false })?.isFile() ?? false;
  const isDir = (name: string): boolean =>
    fs.statSync(path.join(absolutePath, name), { throwIfNoEntry: false })?.isDirectory() ?? false;
  return isFile('HEAD') && isDir('objects') && isDir('refs') ? 'git' : 'folder';
}

/** A local source as inspected before the copy. */
export interface LocalInspection {
  stat: fs.Stats;
}

/**
 * Names a local folder's copy leaves out below its root: noise (its repository, `.DS_Store`,
 * `__pycache__`…, never part of an artifact) and our state folder (temp workspaces).
 */
function isSkippedLocal(name: string): boolean {
  return name === STATE_DIR || isNoiseName(name);
}

/**
 * Looks at a local source before anything is written: it must exist, and every entry of a folder (walked
 * with lstat, links never followed) must pass entryProblem when copied under `contentDir`, so a FIFO
 * (which would block the copy), a device or a socket is refused by name instead of copied.
 */
export async function inspectLocal(
  source: FolderSource,
  contentDir: string,
  options: { signal?: AbortSignal | undefined; artifact?: ArtifactHint | undefined },
): Promise<LocalInspection> {
  const stat = await fsp.stat(source.path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
      throw new CoreError(
        { code: 'upstream-unreachable', source: source.path, reason: 'no such file or folder' },
        { cause: err },
      );
    }
    throw ioFailure('stat', source.path, err);
  });
  throwIfAborted(options.signal);
  const fileName = path.basename(source.path);
  const shape: Shape = { isFile: stat.isFile(), fileName, hasFile: () => false, sourcePath: source.path };
  const refuse = (problem: string): CoreError =>
    new CoreError({
      code: 'upstream-invalid',
      artifact: contentLabel(source, options.artifact, shape),
      reason: problem,
    });
  if (stat.isFile()) {
    const problem = entryProblem(fileName, 'file', contentDir);
    if (problem) throw refuse(problem);
    return { stat };
  }
  if (!stat.isDirectory()) throw refuse(`"${source.path}" is not a file or folder`);
  const topFiles = new Set<string>();
  shape.hasFile = (name) => topFiles.has(name);
  const visit = async (dir: string, rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG')
        throw refuse(`the folder "${rel || source.path}" is too deep to read`);
      throw ioFailure('read', dir, err);
    }
    throwIfAborted(options.signal);
    const kept = entries.filter((entry) => !isSkippedLocal(entry.name));
    if (rel === '') for (const entry of kept) if (entry.isFile()) topFiles.add(entry.name);
    const folders: string[] = [];
    for (const entry of kept) {
      const kind = kindOfDirent(entry);
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const problem = entryProblem(childRel, kind, contentDir);
      if (problem) throw refuse(problem);
      if (kind === 'folder') folders.push(entry.name);
    }
    for (const name of folders) await visit(path.join(dir, name), rel === '' ? name : `${rel}/${name}`);
  };
  await visit(source.path, '');
  return { stat };
}

function kindOfDirent(entry: fs.Dirent): EntryKind {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice()) return 'character device';
  if (entry.isBlockDevice()) return 'block device';
  return 'special file';
}

/** Copies an inspected local folder (without noise and our state folder) or a single file into the workspace. */
export async function copyLocal(
  source: FolderSource,
  inspected: LocalInspection,
  workspace: string,
  signal: AbortSignal | undefined,
): Promise<FetchedContent> {
  throwIfAborted(signal);
  const contentDir = path.join(workspace, 'content');
  try {
    if (inspected.stat.isFile()) {
      await fsp.mkdir(contentDir);
      const target = path.join(contentDir, path.basename(source.path));
      await fsp.copyFile(source.path, target);
      await fsp.chmod(target, inspected.stat.mode & 0o777);
      return { root: target, isFile: true, sourcePath: source.path };
    }
    await fsp.cp(source.path, contentDir, {
      recursive: true,
      verbatimSymlinks: true,
      errorOnExist: true,
      force: false,
      // The workspace may live inside the source (adding a collection's own folder); never copy it into itself.
      filter: (from) => from === source.path || (!isSkippedLocal(path.basename(from)) && from !== workspace),
    });
  } catch (err) {
    throw ioFailure(`copy ${source.path} to`, contentDir, err);
  }
  return { root: contentDir, isFile: false, sourcePath: source.path };
}
