/**
 * The shallow partial fetch of one commit's artifact into a temp workspace: the commit alone (no tags,
 * blob-less where the server allows), falling back to the ref it was resolved from and then to the whole
 * history for servers that refuse a sha, then a checkout of just the subpath after its tree was vetted
 * (upstreamTree.ts). Executable bits are kept, symlinks stay symlinks, bytes are checked out raw.
 * The caller owns the workspace and removes it whenever this throws.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { CoreError, ioFailure } from '../base/errors.js';
import { entryProblem } from '../model/validate.js';
import { contentLabel } from './contentShape.js';
import type { ArtifactHint, FetchedContent, Shape } from './contentShape.js';
import type { ResolvedSource } from './resolve.js';
import { displaySource } from './sourceSpec.js';
import type { RemoteSource } from './sourceSpec.js';
import { failedCheckout, gitFailed, gitReason, unreachable } from './upstreamGit.js';
import type { RunContext } from './upstreamGit.js';
import { kindOfMode, listArtifact, vetTree } from './upstreamTree.js';
import type { Refuse } from './upstreamTree.js';
import { ALL_REFS, FETCH_FLAGS, NOT_SERVED, initWorkspaceRepo } from './workspaceRepo.js';
import type { WorkspaceRepo } from './workspaceRepo.js';

/** Fetches `resolved.sha` of `source` into `workspace` (partial first, whole commits if blobs are refused). */
export async function fetchGit(
  source: RemoteSource,
  resolved: ResolvedSource,
  workspace: string,
  artifact: ArtifactHint | undefined,
  ctx: RunContext,
): Promise<FetchedContent> {
  const into = (mode: 'partial' | 'whole'): Promise<FetchedContent> =>
    fetchGitInto(source, resolved.sha, resolved.ref, workspace, mode, artifact, ctx);
  try {
    return await into('partial');
  } catch (err) {
    if (!(err instanceof BlobsRefused)) throw err;
    // A server that honours filters but will not hand out blobs by id (protocol v0): start again with
    // whole commits, in a fresh repository, since git would not fetch objects it believes it has.
    ctx.logger.debug(
      `[Sources] ${displaySource(source)} refused the blobs of a partial fetch; fetching whole commits`,
    );
    try {
      await fsp.rm(path.join(workspace, 'git'), { recursive: true, force: true });
      await fsp.rm(path.join(workspace, 'content'), { recursive: true, force: true });
    } catch (rmErr) {
      throw ioFailure('remove', workspace, rmErr);
    }
    return await into('whole');
  }
}

/** How fetched content of `source` is refused: `upstream-invalid`, naming the artifact (or the source). */
function refusing(source: RemoteSource, artifact: ArtifactHint | undefined): Refuse {
  return (reason, shape) =>
    new CoreError({ code: 'upstream-invalid', artifact: contentLabel(source, artifact, shape), reason });
}

/** Thrown by a partial fetch whose blobs the server will not serve on demand; fetchGit retries whole. */
class BlobsRefused extends Error {}

async function fetchGitInto(
  source: RemoteSource,
  sha: string,
  resolvedRef: string | undefined,
  workspace: string,
  mode: 'partial' | 'whole',
  artifact: ArtifactHint | undefined,
  ctx: RunContext,
): Promise<FetchedContent> {
  const repo = await initWorkspaceRepo(source, path.join(workspace, 'git'), mode === 'partial', ctx);
  const shown = displaySource(source);
  const filter = mode === 'partial' ? ['--filter=blob:none'] : [];

  // 1. The commit alone (protocol v2 servers serve any reachable commit); blobs are left for step 4.
  let fetch = await repo.git(['fetch', ...FETCH_FLAGS, '--depth=1', ...filter, '--', 'origin', sha]);
  if (
    fetch.code !== 0 &&
    NOT_SERVED.test(fetch.stderr) &&
    resolvedRef &&
    /^(HEAD|refs\/[^\s]+)$/.test(resolvedRef)
  ) {
    // 2. The ref it was resolved from, when it still points there.
    ctx.logger.debug(`[Sources] ${shown} refused commit ${sha}; fetching ${resolvedRef} instead`);
    fetch = await repo.git(['fetch', ...FETCH_FLAGS, '--depth=1', ...filter, '--', 'origin', resolvedRef]);
    if (fetch.code === 0 && !(await repo.hasCommit(sha))) {
      fetch = { ...fetch, code: 1, stderr: 'not our ref (the ref moved)' };
    }
  }
  if (fetch.code !== 0 && NOT_SERVED.test(fetch.stderr)) {
    // 3. Every branch and tag, and look for the commit in their history.
    ctx.logger.debug(`[Sources] fetching the full history of ${shown} to find ${sha}`);
    const unshallow = fs.existsSync(path.join(repo.gitDir, 'shallow')) ? ['--unshallow'] : [];
    fetch = await repo.git(['fetch', ...FETCH_FLAGS, ...unshallow, ...filter, '--', 'origin', ...ALL_REFS]);
    if (fetch.code === 0 && !(await repo.hasCommit(sha))) {
      throw refusing(source, artifact)(`commit ${sha} is no longer available upstream`);
    }
  }
  if (fetch.code !== 0) throw unreachable(source, fetch);

  // 4. The artifact's files out of the commit.
  const contentDir = path.join(workspace, 'content');
  try {
    fs.mkdirSync(contentDir); // synchronous, as the workspace's other small writes (workspaceRepo.ts)
  } catch (err) {
    throw ioFailure('mkdir', contentDir, err);
  }
  return checkOutArtifact(repo, source, sha, contentDir, mode, artifact);
}

/**
 * Finds `source.subpath` in commit `sha` (already in `repo`) and checks out just that into the existing,
 * empty `contentDir`: a tree with read-tree -u after its listing was vetted, which fetches the missing
 * blobs in one batch; a file through a one-entry index. Uses the repository's index, which it replaces.
 */
export async function checkOutArtifact(
  repo: WorkspaceRepo,
  source: RemoteSource,
  sha: string,
  contentDir: string,
  mode: 'partial' | 'whole',
  artifact: ArtifactHint | undefined,
): Promise<FetchedContent> {
  const invalid = refusing(source, artifact);
  const subpath = source.subpath;
  // An index left by an earlier checkout in the same repository must not add its files to this one.
  const index = path.join(repo.gitDir, 'index');
  try {
    fs.rmSync(index, { force: true });
  } catch (err) {
    throw ioFailure('remove', index, err);
  }
  const listed = await listArtifact(repo, sha, subpath, invalid);
  if (!listed) throw invalid(`path "${subpath}" not found at ${sha}`);
  const { entry } = listed;
  const checkOut = async (args: string[]): Promise<void> => {
    const run = await repo.git(args, contentDir);
    if (run.code === 0) return;
    if (mode === 'partial' && NOT_SERVED.test(run.stderr)) throw new BlobsRefused(gitReason(run));
    throw failedCheckout(source, run);
  };
  if (entry.type === 'tree') {
    vetTree(listed.below ?? [], subpath, contentDir, invalid);
    await checkOut(['read-tree', '--reset', '-u', entry.oid]);
    return { root: contentDir, isFile: false, sha, sourcePath: subpath };
  }
  if (entry.mode === '120000')
    throw invalid(`path "${subpath}" at ${sha} is a symbolic link, not an artifact`);
  if (entry.type !== 'blob') throw invalid(`path "${subpath}" at ${sha} is a submodule, not an artifact`);
  const base = path.posix.basename(subpath);
  const fileShape: Shape = { isFile: true, fileName: base, hasFile: () => false, sourcePath: subpath };
  const fileProblem = entryProblem(base, kindOfMode(entry.mode), contentDir);
  if (fileProblem) throw invalid(fileProblem, fileShape);
  const add = await repo.git(
    ['update-index', '--add', '--cacheinfo', `${entry.mode},${entry.oid},${base}`],
    contentDir,
  );
  if (add.code !== 0) throw gitFailed('update-index', add);
  await checkOut(['checkout-index', '--all']);
  return { root: path.join(contentDir, base), isFile: true, sha, sourcePath: subpath };
}
