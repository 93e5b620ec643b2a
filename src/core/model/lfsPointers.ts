/**
 * Git LFS pointer files: what a repository using LFS holds in place of a large file when the content
 * was not fetched (`version https://git-lfs.github.com/spec/v1`, `oid sha256:…`, `size N`). Applied as
 * content, a skill would carry three lines of text where an image or a model should be, so an update or
 * an add names them.
 */
import type { Tree } from './artifactTree.js';
import { fileSize } from './largeFiles.js';

const POINTER =
  /^version https:\/\/git-lfs\.github\.com\/spec\/v1\r?\noid sha256:[0-9a-f]{64}\r?\nsize \d+\r?\n/;

/** True when `data` is an LFS pointer (they are small: the spec caps them at 1024 bytes). */
export function isLfsPointer(data: Uint8Array): boolean {
  return data.length <= 1024 && POINTER.test(Buffer.from(data).toString('utf8'));
}

/** The paths of a tree that are LFS pointers, sorted. */
export function lfsPointers(tree: Tree): string[] {
  return [...tree]
    .filter(([, file]) => file.mode !== 0o120000 && fileSize(file) <= 1024 && isLfsPointer(file.data))
    .map(([rel]) => rel)
    .sort();
}

/** The one-line warning for an artifact's pointers, or undefined when it has none. */
export function lfsWarning(id: string, tree: Tree): string | undefined {
  const pointers = lfsPointers(tree);
  if (pointers.length === 0) return undefined;
  return `${id}: ${pointers.length} file(s) from upstream are git LFS pointers, not their content (${pointers.join(', ')}); fetch them with git lfs, or they stay three lines of text`;
}
