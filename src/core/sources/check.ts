/**
 * `check`: which artifacts have an update, judged by commit and then by content (a new upstream commit
 * that leaves the artifact's files as they were is no update), never by version strings. An unreachable
 * upstream is reported as an error, never as "up to date". A spec pinned to a tag or a commit is told
 * what upstream has beyond it (pins.ts, from the same ls-remote), which is never an update. Writes only
 * derived data: the parse cache and `.artifact-keeper/check.json`, atomically through the Fs port.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId } from '../model/artifact.js';
import { readTree, treeDigest, withoutNoise } from '../model/artifactTree.js';
import { STATE_DIR } from '../base/changes.js';
import { loadCollectionCaching } from '../model/collection.js';
import { throwIfAborted } from '../base/abort.js';
import { CoreError } from '../base/errors.js';
import { getEntry } from '../model/lock.js';
import type { OperationOptions } from '../transfer/operations.js';
import { storeOptions } from '../transfer/operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { fetchSource, sourceFromUpstream } from './sources.js';
import { artifactFindings } from '../exec/approval.js';
import type { ExecFinding } from '../exec/approval.js';
import { resolveSourceWithRefs } from './resolve.js';
import { pinnedInfo } from './pins.js';
import type { PinnedInfo } from './pins.js';
import { releaseTmpDir, sweepStaleTemp, tmpDir } from '../ports/tempSpace.js';
import { writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';

export interface CheckResult {
  id: string;
  currentSha?: string;
  latestSha?: string;
  latestVersion?: string;
  available: boolean;
  /** Set when the upstream could not be reached or read; `available` is then false but unknown. */
  error?: string;
  errorCode?: string;
  /**
   * Set when the version spec pins a tag or a commit: what upstream has beyond the pin (newer version
   * tags, the default branch). Never counts as an update: `available` stays about the pinned ref itself.
   */
  pinned?: PinnedInfo;
  /** What the update brings that runs (DESIGN §11), upstream's change against the stored base. */
  executable?: ExecFinding[];
}

const CHECK_FILE = 'check.json';

export async function checkUpdates(
  collectionDir: string,
  opts: Pick<OperationOptions, 'fs' | 'logger' | 'signal' | 'faults' | 'clock'>,
): Promise<CheckResult[]> {
  const dir = path.resolve(collectionDir);
  const collection = await loadCollectionCaching(dir, opts.fs);
  sweepStaleTemp(dir);
  const results: CheckResult[] = [];
  const store = await openSnapshotStore(dir, storeOptions(opts));
  try {
    for (const entry of collection.manifest.artifacts) {
      if (!entry.upstream) continue;
      throwIfAborted(opts.signal);
      const id = artifactId(entry);
      const currentSha = getEntry(collection.lock, entry)?.resolvedSha ?? entry.resolvedSha;
      const result: CheckResult = { id, available: false, ...(currentSha ? { currentSha } : {}) };
      results.push(result);
      try {
        const source = sourceFromUpstream(entry.upstream, entry.versionSpec);
        const { resolved, refs } = await resolveSourceWithRefs(source, {
          signal: opts.signal,
          logger: opts.logger,
          faults: opts.faults,
          workDir: tmpDir(dir),
        });
        const pinned = pinnedInfo(resolved, refs);
        if (pinned) result.pinned = pinned;
        result.latestSha = resolved.sha;
        if (resolved.resolvedVersion) result.latestVersion = resolved.resolvedVersion;
        if (resolved.sha === currentSha) continue;
        const base = currentSha ? await store.readUpstream(entry.type, entry.name, currentSha) : undefined;
        if (!base) {
          result.available = true;
          continue;
        }
        const fetched = await fetchSource(source, resolved, {
          workDir: tmpDir(dir),
          signal: opts.signal,
          logger: opts.logger,
          faults: opts.faults,
        });
        try {
          const upstream = readTree(fetched.root, !fetched.isFile).tree;
          const comparable = fetched.isFile
            ? new Map([...upstream.values()].map((f) => [[...base.keys()][0] ?? '', f]))
            : upstream;
          result.available =
            treeDigest(comparable) !== treeDigest(fetched.isFile ? base : withoutNoise(base));
          const executable = artifactFindings(id, entry.path, !fetched.isFile, base, comparable);
          if (result.available && executable.length > 0) result.executable = executable;
        } finally {
          await fetched.dispose();
        }
      } catch (err) {
        if (err instanceof CoreError && err.failure.code === 'cancelled') throw err;
        result.error = (err as Error).message;
        result.errorCode = err instanceof CoreError ? err.failure.code : 'internal';
      }
    }
  } finally {
    store.close();
    releaseTmpDir(dir);
  }
  await saveCheckResults(opts.fs, dir, results);
  return results;
}

/** The last check's findings, so a restarted window still shows `update-available`. */
export function loadCheckResults(collectionDir: string): CheckResult[] {
  try {
    return JSON.parse(
      fs.readFileSync(path.join(collectionDir, STATE_DIR, CHECK_FILE), 'utf8'),
    ) as CheckResult[];
  } catch {
    return [];
  }
}

/** Atomically through the Fs port: a reader of check.json sees the last check whole, or the one before. */
async function saveCheckResults(fsPort: Fs, dir: string, results: CheckResult[]): Promise<void> {
  try {
    await fsPort.mkdir(path.join(dir, STATE_DIR));
    await writeFileAtomic(fsPort, path.join(dir, STATE_DIR, CHECK_FILE), JSON.stringify(results));
  } catch {
    // Best effort: a read-only collection can still be checked.
  }
}
