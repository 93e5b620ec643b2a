/**
 * Artifact identity and layout: the types SkillMeat knows, where each lives in a collection, the name
 * rules, and the three string forms of an identity (`type/name` for people, `name::type` in the lock).
 */
import * as path from 'node:path';
import { CoreError } from '../base/errors.js';

export const ARTIFACT_TYPES = ['skill', 'command', 'agent', 'hook', 'mcp', 'workflow', 'composite'] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

/** Where `add` puts a new artifact and whether it is one file or a folder. */
export const LAYOUT: Record<ArtifactType, { folder: string; shape: 'dir' | 'file' }> = {
  skill: { folder: 'skills', shape: 'dir' },
  command: { folder: 'commands', shape: 'file' },
  agent: { folder: 'agents', shape: 'file' },
  hook: { folder: 'hooks', shape: 'dir' },
  mcp: { folder: 'mcp', shape: 'dir' },
  workflow: { folder: 'workflows', shape: 'dir' },
  composite: { folder: 'composites', shape: 'dir' },
};

export interface ArtifactKey {
  name: string;
  type: ArtifactType;
}

export function isArtifactType(value: unknown): value is ArtifactType {
  return typeof value === 'string' && (ARTIFACT_TYPES as readonly string[]).includes(value);
}

/** `skill/pdf`: the form used in messages, the CLI and JSON output. */
export function artifactId(key: ArtifactKey): string {
  return `${key.type}/${key.name}`;
}

/** `pdf::skill`: the key of the artifact's entry in `collection.lock`. */
export function lockKey(key: ArtifactKey): string {
  return `${key.name}::${key.type}`;
}

/** Splits a lock key on its first `::`, as SkillMeat's reader does. */
export function parseLockKey(key: string): { name: string; type: string } | undefined {
  const at = key.indexOf('::');
  if (at < 0) return undefined;
  return { name: key.slice(0, at), type: key.slice(at + 2) };
}

/** Returns the reason a name is illegal, or undefined when it is fine. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator';
  if (name.includes('..')) return 'it contains ".."';
  if (name.startsWith('.')) return 'it starts with "."';
  if (name.includes('\0')) return 'it contains a NUL byte';
  // C0, DEL and C1: a name is printed in status lines, and C1 holds the 8-bit terminal escapes.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'it contains a control character';
  if (Buffer.byteLength(name) > 255) return 'it is longer than 255 bytes';
  return undefined;
}

export function assertValidName(name: string): void {
  const reason = nameProblem(name);
  if (reason) throw new CoreError({ code: 'artifact-name-invalid', name, reason });
}

/** The longest name of one folder entry (NAME_MAX on every file system we run on), in UTF-8 bytes. */
export const NAME_MAX = 255;
/** The longest path one system call accepts (PATH_MAX, its terminating NUL included), in bytes. */
export const PATH_MAX = process.platform === 'darwin' ? 1024 : 4096;

/**
 * Returns the reason a manifest `path` is illegal, or undefined when it is fine. Paths that are absolute,
 * leave the collection, point into our own state folder, hold control characters, or are longer than a
 * file system can hold (a segment over NAME_MAX, the whole over PATH_MAX) are rejected.
 */
export function pathProblem(relPath: string): string | undefined {
  if (relPath.length === 0) return 'is empty';
  if (relPath.includes('\0')) return 'contains a NUL byte';
  if (/[\u0001-\u001f\u007f-\u009f]/.test(relPath)) return 'contains a control character';
  if (relPath.includes('\\')) return 'contains a backslash';
  if (path.posix.isAbsolute(relPath) || /^[A-Za-z]:/.test(relPath)) return 'is absolute';
  const normal = normalPosix(relPath);
  if (normal === '.' || normal === '..' || normal.startsWith('../')) return 'leaves the collection';
  const segments = normal.split('/');
  if (segments.includes('..')) return 'leaves the collection';
  const first = segments[0];
  if (first === '.artifact-keeper' || first === '.git') return 'points into a reserved folder';
  if (normal === 'collection.toml' || normal === 'collection.lock') return 'names a collection file';
  if (segments.some((segment) => Buffer.byteLength(segment) > NAME_MAX))
    return `has a folder or file name longer than ${NAME_MAX} bytes`;
  return pathLengthProblem('', normal);
}

/**
 * The reason `relPath` under the collection folder `root` ('' for the path alone) is too long for one
 * system call, or undefined. Every file operation of the core passes absolute paths.
 */
export function pathLengthProblem(root: string, relPath: string): string | undefined {
  const bytes = (root ? Buffer.byteLength(root) + 1 : 0) + Buffer.byteLength(relPath);
  if (bytes < PATH_MAX) return undefined;
  return root
    ? `is too long for the file system here (${bytes} bytes with the collection folder's path; at most ${PATH_MAX - 1})`
    : `is too long for the file system (${bytes} bytes; at most ${PATH_MAX - 1})`;
}

export function normalisePath(relPath: string): string {
  return normalPosix(relPath).replace(/\/+$/, '');
}

/** Anything `path.posix.normalize` may change: an empty, `.` or `..` segment. */
const MAY_NOT_BE_NORMAL = /\/\/|(?:^|\/)\.\.?(?:\/|$)/;

/**
 * `path.posix.normalize(relPath)`, without its work for a path that is normal already (nearly all: a
 * manifest's paths are checked three times each, and 6,000 calls in cold code cost a status 15 ms).
 */
export function normalPosix(relPath: string): string {
  return relPath.length > 0 && !MAY_NOT_BE_NORMAL.test(relPath) ? relPath : path.posix.normalize(relPath);
}

export function defaultPath(key: ArtifactKey): string {
  const layout = LAYOUT[key.type];
  return layout.shape === 'dir' ? `${layout.folder}/${key.name}` : `${layout.folder}/${key.name}.md`;
}

/** Parses `type/name` (or `name` alone, resolved later against the collection). */
export function parseArtifactRef(text: string): { type?: ArtifactType; name: string } {
  const slash = text.indexOf('/');
  if (slash > 0) {
    const type = text.slice(0, slash);
    if (isArtifactType(type)) return { type, name: text.slice(slash + 1) };
  }
  return { name: text };
}
