/**
 * Noise files (DESIGN §5 step 6): what operating systems, editors and tools leave inside an artifact
 * folder. They are never edits, never copied from upstream and never conflicts, so every walk of an
 * artifact's content (the hash we write, status, update, add) asks this one rule. Snapshots do not:
 * they keep the folder as it was (minus `.git`), so a restore gives back exactly what was there.
 */

/** Names that are noise wherever they appear; a `.git` or `__pycache__` folder with all it holds. */
const NOISE_NAMES: ReadonlySet<string> = new Set(['.DS_Store', 'Thumbs.db', '.git', '__pycache__']);

/**
 * Endings that are noise: vim's swap files (`.swo` is the one vim writes when a `.swp` is taken, the
 * same thing) and the backups of Emacs and others (`notes~`). fnmatch-style, so `.swp` alone matches too.
 */
const NOISE_ENDINGS: readonly string[] = ['.swp', '.swo', '~'];

/** Whether one path component (a file or folder name) is noise. */
export function isNoiseName(name: string): boolean {
  return NOISE_NAMES.has(name) || NOISE_ENDINGS.some((ending) => name.endsWith(ending));
}

/**
 * Whether a POSIX path relative to an artifact folder is noise: any of its components is a noise name.
 * Components, not substrings: `my.git.md` and `a~b` are content, `.git/config` and `x/__pycache__/a.pyc`
 * are noise. Only folder artifacts have noise; a single-file artifact is its file, whatever its name.
 */
export function isNoisePath(rel: string): boolean {
  return rel.split('/').some(isNoiseName);
}
