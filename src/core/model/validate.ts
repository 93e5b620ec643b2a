/**
 * Validates an artifact's final content before the commit point (DESIGN §5 step 7): paths stay inside
 * the artifact, symlinks do not escape it, a skill has a non-empty SKILL.md whose frontmatter (if any)
 * parses. Returns the problems as sentences; the caller turns them into `validation-failed`.
 * Also the check of each upstream entry before anything is checked out or copied (`entryProblem`).
 */
import * as path from 'node:path';
import { NAME_MAX, PATH_MAX } from './artifact.js';
import type { ArtifactType } from './artifact.js';
import type { Tree } from './artifactTree.js';
import { fileSize } from './largeFiles.js';

/** What an upstream entry is: git's modes, or what lstat says of a local folder's entry. */
export type EntryKind =
  | 'file'
  | 'symlink'
  | 'folder'
  | 'submodule (gitlink)'
  | 'FIFO'
  | 'socket'
  | 'character device'
  | 'block device'
  | 'special file';

const ACCEPTED_KINDS: ReadonlySet<EntryKind> = new Set(['file', 'symlink', 'folder']);

/**
 * The problem, if any, of one upstream entry before it is checked out or copied into `root`: it must be
 * a file, folder or symlink, inside the artifact (no empty, `.`, `..` or `.git` part, not absolute), with
 * every name at most 255 bytes and the whole path under `root` within PATH_MAX. `rel` may be the raw
 * bytes of a git path, so names that are not UTF-8 are measured exactly.
 */
export function entryProblem(rel: string | Uint8Array, kind: EntryKind, root: string): string | undefined {
  const bytes = typeof rel === 'string' ? Buffer.from(rel, 'utf8') : Buffer.from(rel);
  const text = bytes.toString('utf8');
  const shown = shortened(text);
  if (!ACCEPTED_KINDS.has(kind)) return `"${shown}" is a ${kind}, not a file, folder or symlink`;
  const parts = text.split('/');
  if (text.startsWith('/') || parts.some((part) => part === '' || part === '.' || part === '..'))
    return `path "${shown}" is not inside the artifact`;
  if (bytes.includes(0)) return `path "${shown}" has a NUL byte`;
  if (parts.some((part) => part.toLowerCase() === '.git')) return `path "${shown}" is inside a .git folder`;
  return lengthProblem(bytes, root);
}

/** Names longer than NAME_MAX, or a path under `root` longer than PATH_MAX; undefined when it fits. */
function lengthProblem(rel: Buffer, root: string): string | undefined {
  let start = 0;
  while (start <= rel.length) {
    let end = rel.indexOf(0x2f, start);
    if (end < 0) end = rel.length;
    if (end - start > NAME_MAX) {
      return `path "${shortened(rel.toString('utf8'))}" has a name of ${end - start} bytes (at most ${NAME_MAX})`;
    }
    start = end + 1;
  }
  const total = Buffer.byteLength(root) + 1 + rel.length;
  if (total >= PATH_MAX) {
    return `path "${shortened(rel.toString('utf8'))}" is too long: ${total} bytes with the folder it goes into (at most ${PATH_MAX - 1})`;
  }
  return undefined;
}

/** A path short enough for a one-line message: its start and end around an ellipsis. */
export function shortened(text: string, max = 120): string {
  if (text.length <= max) return text;
  const half = Math.floor((max - 1) / 2);
  return `${text.slice(0, half)}…${text.slice(-half)}`;
}

/**
 * `installRoot` is the folder the tree's paths will live in (the artifact's folder, or a single file's
 * parent); when given, every path must fit the file system's name and path limits there.
 */
export function validateArtifact(
  type: ArtifactType,
  tree: Tree,
  isFolder: boolean,
  installRoot?: string,
  /** Files committed with conflict markers: their content is checked only once resolved. */
  conflicted: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  for (const [rel, file] of tree) {
    if (
      rel === '' ||
      rel.startsWith('/') ||
      rel.split('/').some((part) => part === '..' || part === '' || part === '.')
    ) {
      problems.push(`path "${rel}" is not inside the artifact`);
      continue;
    }
    if (rel.includes('\0') || rel.includes('\\')) problems.push(`path "${rel}" has an illegal character`);
    if (rel.split('/').includes('.git')) problems.push(`path "${rel}" is inside a .git folder`);
    const tooLong = installRoot === undefined ? undefined : lengthProblem(Buffer.from(rel), installRoot);
    if (tooLong) problems.push(tooLong);
    if (file.mode === 0o120000) {
      const target = file.data.toString('utf8');
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (path.posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
        problems.push(`symlink "${rel}" points outside the artifact (${target})`);
      }
    }
  }
  if (type === 'skill') {
    if (!isFolder) problems.push('a skill must be a folder');
    const skillMd = tree.get('SKILL.md') ?? tree.get('skill.md');
    if (!skillMd) problems.push('SKILL.md is missing');
    else if (skillMd.mode === 0o120000) problems.push('SKILL.md is a symlink');
    else if (fileSize(skillMd) === 0) problems.push('SKILL.md is empty');
    else if (!conflicted.has('SKILL.md') && !conflicted.has('skill.md')) {
      const problem = frontmatterProblem(skillMd.data.toString('utf8'));
      if (problem) problems.push(`SKILL.md: ${problem}`);
    }
  } else if ((type === 'command' || type === 'agent') && !isFolder) {
    const only = [...tree.values()][0];
    if (!only || fileSize(only) === 0) problems.push(`the ${type} file is empty`);
  }
  return problems;
}

/**
 * A conservative check of YAML frontmatter without a YAML library: a block opened by `---` must be
 * closed, and every top-level line must be `key:`-shaped (values, lists and indented blocks pass).
 */
export function frontmatterProblem(text: string): string | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '---') return undefined;
  const end = lines.findIndex((line, i) => i > 0 && (line.trim() === '---' || line.trim() === '...'));
  if (end < 0) return 'frontmatter is not closed by "---"';
  for (let i = 1; i < end; i++) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.trimStart().startsWith('#') || /^\s/.test(line) || line.startsWith('- '))
      continue;
    if (!/^("[^"]*"|'[^']*'|[^\s:#][^:]*?)\s*:(\s|$)/.test(line))
      return `frontmatter line ${i + 1} is not "key: value"`;
  }
  return undefined;
}
