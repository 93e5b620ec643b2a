/**
 * The version of a git executable, remembered across processes: `git --version` costs a process (13 ms
 * from the CLI, about 30 ms from the extension host) on every command that opens the snapshot store, for
 * an answer that changes only when the executable does. An entry is keyed by the file PATH resolves to
 * and that file's identity (device, inode, size, mtime, ctime): installing, upgrading or re-pointing a
 * symlink to another git gives another key, and the next command asks git again. Only versions that
 * passed the minimum are remembered, so a failure (git missing, too old) is always asked afresh.
 *
 * Derived data in the user's cache folder, chosen by the front end (`rememberGitVersionsIn`): any failure
 * to resolve, read or write it only means `git --version` runs, as before. Off on Windows, where PATH
 * lookup also involves PATHEXT and the current folder.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

/** Keys kept: one per git executable a user's PATHs lead to; the oldest go first. */
const KEEP = 16;

let memoFile: string | undefined;

/** Where the front end keeps the memo (undefined: none, every process asks git). */
export function rememberGitVersionsIn(file: string | undefined): void {
  memoFile = file;
}

/** The memo's key for `binary` under this PATH: the file that would run, and its identity. */
export function gitExecutableKey(binary: string, pathVar: string): string | undefined {
  if (!memoFile || process.platform === 'win32') return undefined;
  const candidates = binary.includes('/')
    ? [path.resolve(binary)]
    : pathVar
        .split(path.delimiter)
        .filter((dir) => path.isAbsolute(dir))
        .map((dir) => path.join(dir, binary));
  for (const file of candidates) {
    let st: nodeFs.Stats;
    try {
      st = nodeFs.statSync(file);
      if (!st.isFile()) continue;
      nodeFs.accessSync(file, nodeFs.constants.X_OK);
    } catch {
      continue;
    }
    // A relative PATH entry would depend on the current folder: such a PATH is never remembered.
    return `${file}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  }
  return undefined;
}

function readMemo(): Record<string, { version: string; at: number }> {
  if (!memoFile) return {};
  try {
    const raw = JSON.parse(nodeFs.readFileSync(memoFile, 'utf8')) as unknown;
    return typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? (raw as Record<string, { version: string; at: number }>)
      : {};
  } catch {
    return {};
  }
}

/** The remembered version for `key`, if any. */
export function recalledGitVersion(key: string): string | undefined {
  const entry = readMemo()[key];
  return typeof entry?.version === 'string' && /^\d+\.\d+\.\d+$/.test(entry.version)
    ? entry.version
    : undefined;
}

/** Remembers `version` for `key` (temp + rename; never throws). */
export function rememberGitVersion(key: string, version: string): void {
  const file = memoFile;
  if (!file) return;
  try {
    const memo = readMemo();
    memo[key] = { version, at: Date.now() };
    const kept = Object.entries(memo)
      .sort(([, a], [, b]) => b.at - a.at)
      .slice(0, KEEP);
    nodeFs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    nodeFs.writeFileSync(temp, JSON.stringify(Object.fromEntries(kept)), { mode: 0o600 });
    nodeFs.renameSync(temp, file);
  } catch {
    // Best effort: the next command asks git again.
  }
}
