/**
 * One update run's shared view of its upstreams (`update --all`): each upstream is resolved once per
 * URL and version spec, and for an artifact whose locked commit differs from the new one, the two commits
 * are fetched once per repository (trees only, shallow, blob-less) and diffed in one git call, so an
 * artifact whose path did not change is known to be up to date without a fetch of its own. Anything this
 * cannot tell (a fetch or diff the server or git refuses with an exit code) is not an answer: the caller
 * plans that artifact the ordinary way, which reports any failure against the artifact. A local failure
 * (full disk, a permission, git failing to run, cancellation) is thrown, and stops the update as it would
 * anywhere else. The workspace is removed by
 * `dispose`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import { ioFailure, isCoreError } from '../base/errors.js';
import { traceCount } from '../base/trace.js';
import { makeWorkspace } from '../ports/tempSpace.js';
import type { Workspace } from '../ports/tempSpace.js';
import type { ArtifactHint } from './contentShape.js';
import { checkOutArtifact } from './gitFetch.js';
import { resolveSource } from './resolve.js';
import type { ResolvedSource } from './resolve.js';
import { displaySource } from './sourceSpec.js';
import type { RemoteSource } from './sourceSpec.js';
import { parseTreeEntries } from './upstreamTree.js';
import { runContext } from './upstreamGit.js';
import type { SourceOptions } from './upstreamGit.js';
import { FETCH_FLAGS, FULL_SHA, initWorkspaceRepo } from './workspaceRepo.js';
import type { FetchedSource } from './sources.js';
import type { WorkspaceRepo } from './workspaceRepo.js';

export interface UpstreamBatch {
  /** resolveSource, once per URL and version spec for the whole run (its failure too). */
  resolve(source: RemoteSource): Promise<ResolvedSource>;
  /**
   * Whether `source.subpath` is the same at commit `from` as at `to`: true (up to date without a fetch),
   * false (changed), or undefined when it could not be told. Cancellation is rethrown.
   */
  unchanged(source: RemoteSource, from: string, to: string): Promise<boolean | undefined>;
  /**
   * The artifact at commit `sha`, checked out of the repository `unchanged` fetched it into, when it did
   * (its blobs fetched then, in one batch): no repository, negotiation or commit fetch of its own. For
   * `update --all`, whose changed artifacts and their bases are all in that one shallow repository.
   * Undefined when the commit is not there or anything fails (the caller fetches the ordinary way, which
   * reports it); cancellation is rethrown. The caller disposes what it gets.
   */
  fetch(source: RemoteSource, sha: string, artifact?: ArtifactHint): Promise<FetchedSource | undefined>;
  /**
   * Brings the blobs of these artifacts at these commits into the shared repository in one fetch per
   * repository, so the checkouts `fetch` makes next find them there: each `read-tree -u` would otherwise
   * start a lazy fetch of its own (about 60 ms apiece). Only commits `unchanged` fetched count. What git
   * refuses with an exit code only leaves the lazy fetches to do it; a local failure (full disk, git
   * failing to run, cancellation) is thrown.
   */
  prefetch(wanted: readonly { source: RemoteSource; sha: string }[]): Promise<void>;
  /** Removes the shared workspace; safe to call twice. */
  dispose(): Promise<void>;
}

/** Object ids per `fetch` command line (41 bytes each: far below any system's argument limit). */
const PREFETCH_CHUNK = 1000;

interface RepoState {
  repo: WorkspaceRepo;
  /** Commits fetched into it so far. */
  commits: Set<string>;
  /** `from..to` → the paths that differ (files, NUL-free utf8). */
  diffs: Map<string, Promise<string[] | undefined>>;
}

export function upstreamBatch(options: SourceOptions & { workDir: string; logger: Logger }): UpstreamBatch {
  const ctx = runContext(options, options.logger);
  const resolved = new Map<string, Promise<ResolvedSource>>();
  const repos = new Map<string, Promise<RepoState | undefined>>();
  let workspace: Promise<Workspace> | undefined;

  const repoFor = (source: RemoteSource): Promise<RepoState | undefined> => {
    let state = repos.get(source.url);
    if (!state) {
      const index = repos.size;
      state = (async () => {
        workspace ??= makeWorkspace(options.workDir, 'batch-');
        const dir = path.join((await workspace).path, `repo-${index}`);
        await fsp.mkdir(dir).catch((err: unknown) => {
          throw ioFailure('mkdir', dir, err);
        });
        const repo = await initWorkspaceRepo(source, path.join(dir, 'git'), true, ctx);
        return { repo, commits: new Set<string>(), diffs: new Map() };
      })();
      repos.set(source.url, state);
    }
    return state;
  };

  const changedPaths = async (
    source: RemoteSource,
    from: string,
    to: string,
  ): Promise<string[] | undefined> => {
    const state = await repoFor(source);
    if (!state) return undefined;
    const key = `${from}..${to}`;
    let diff = state.diffs.get(key);
    if (!diff) {
      diff = (async () => {
        const missing = [from, to].filter((sha) => !state.commits.has(sha));
        if (missing.length > 0) {
          options.logger.debug(`[Sources] shared fetch of ${displaySource(source)}: ${missing.join(' ')}`);
          const fetch = await state.repo.git([
            'fetch',
            ...FETCH_FLAGS,
            '--depth=1',
            '--filter=blob:none',
            '--',
            'origin',
            ...missing,
          ]);
          if (fetch.code !== 0) return undefined;
          for (const sha of missing) state.commits.add(sha);
        }
        const run = await state.repo.git(['diff-tree', '-r', '-z', '--no-renames', '--name-only', from, to]);
        if (run.code !== 0) return undefined;
        return run.stdoutBytes
          .toString('utf8')
          .split('\0')
          .filter((p) => p !== '');
      })();
      state.diffs.set(key, diff);
    }
    return diff;
  };

  /** Checkouts share the repository's index, and a prefetch its objects: they take turns. */
  let turns: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turns.then(work);
    turns = run.catch(() => undefined);
    return run;
  };
  let checkoutCount = 0;
  const checkOut = async (
    source: RemoteSource,
    sha: string,
    artifact: ArtifactHint | undefined,
  ): Promise<FetchedSource | undefined> => {
    const state = FULL_SHA.test(sha) ? await repos.get(source.url) : undefined;
    if (!state?.commits.has(sha) || !workspace) return undefined;
    const contentDir = path.join((await workspace).path, `content-${checkoutCount++}`);
    const dispose = (): Promise<void> => fsp.rm(contentDir, { recursive: true, force: true });
    try {
      await fsp.mkdir(contentDir);
      const content = await checkOutArtifact(state.repo, source, sha, contentDir, 'partial', artifact);
      traceCount('shared checkout');
      return { ...content, workspace: contentDir, dispose };
    } catch (err) {
      await dispose().catch(() => undefined);
      if (isCoreError(err, 'cancelled')) throw err;
      options.logger.debug(
        `[Sources] shared checkout of ${displaySource(source)} at ${sha} failed (${(err as Error).message}); fetching it alone`,
      );
      return undefined;
    }
  };

  const prefetchBlobs = async (wanted: readonly { source: RemoteSource; sha: string }[]): Promise<void> => {
    /** url → commit → subpaths. */
    const asked = new Map<string, Map<string, Set<string>>>();
    for (const { source, sha } of wanted) {
      if (!FULL_SHA.test(sha)) continue;
      const commits = asked.get(source.url) ?? new Map<string, Set<string>>();
      asked.set(source.url, commits);
      commits.set(sha, (commits.get(sha) ?? new Set()).add(source.subpath));
    }
    for (const [url, commits] of asked) {
      const state = await repos.get(url);
      if (!state) continue;
      const blobs = new Set<string>();
      for (const [sha, subpaths] of commits) {
        if (!state.commits.has(sha)) continue;
        const paths = subpaths.has('') ? [] : ['--', ...subpaths];
        const listing = await state.repo.git(['ls-tree', '-r', '-z', '--full-tree', sha, ...paths]);
        if (listing.code !== 0) continue;
        for (const entry of parseTreeEntries(listing.stdoutBytes))
          if (entry.type === 'blob') blobs.add(entry.oid);
      }
      const ids = [...blobs];
      for (let at = 0; at < ids.length; at += PREFETCH_CHUNK) {
        const chunk = ids.slice(at, at + PREFETCH_CHUNK);
        const run = await state.repo.git([
          'fetch',
          ...FETCH_FLAGS,
          '--filter=blob:none',
          '--',
          'origin',
          ...chunk,
        ]);
        if (run.code !== 0) {
          options.logger.debug(`[Sources] prefetching blobs of ${url} failed; each checkout fetches its own`);
          break;
        }
        traceCount('blobs prefetched', chunk.length);
      }
    }
  };

  return {
    prefetch: (wanted) => inTurn(() => prefetchBlobs(wanted)),
    fetch: (source, sha, artifact) => inTurn(() => checkOut(source, sha, artifact)),
    resolve(source) {
      const key = `${source.url}\0${source.ref}`;
      let found = resolved.get(key);
      if (!found) {
        found = resolveSource(source, { ...options, workDir: options.workDir });
        resolved.set(key, found);
      }
      return found;
    },
    async unchanged(source, from, to) {
      if (!FULL_SHA.test(from) || !FULL_SHA.test(to)) return undefined;
      if (from === to) return true;
      const paths = await changedPaths(source, from, to);
      if (!paths) return undefined;
      const sub = source.subpath;
      return !paths.some((p) => sub === '' || p === sub || p.startsWith(`${sub}/`));
    },
    async dispose() {
      if (workspace) await (await workspace).remove();
    },
  };
}
