/**
 * Resolving a source's version spec to a commit without a clone: the upstream's refs from
 * `git ls-remote --symref`, matched in SkillMeat's order, and for a sha the remote does not advertise a
 * commits-only fetch into a temp workspace that is removed again whatever happens. An unreachable upstream
 * is an error, never "up to date".
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { makeWorkspace } from '../ports/tempSpace.js';
import { DEFAULT_REF, assertSafeSource, displaySource, versionFromRef } from './sourceSpec.js';
import type { RemoteSource } from './sourceSpec.js';
import { runContext, runGit, unreachable } from './upstreamGit.js';
import type { RunContext, SourceOptions } from './upstreamGit.js';
import { ALL_REFS, FETCH_FLAGS, FULL_SHA, NOT_SERVED, initWorkspaceRepo } from './workspaceRepo.js';
import type { UpstreamRefs } from './pins.js';

export interface ResolvedSource {
  /** Full 40-hex commit id. */
  sha: string;
  /** What the version spec matched: `refs/tags/v1`, `refs/heads/main`, the default branch for
   *  `latest` (or `HEAD` when the remote does not name it), or the sha itself. */
  ref: string;
  /** The version spec as asked (`latest` when none was given): what the manifest keeps as version_spec. */
  versionSpec: string;
  /** SkillMeat's heuristic: the spec when it starts with `v` or contains `.`. */
  resolvedVersion?: string;
}

export interface ResolveOptions extends SourceOptions {
  /** Where a short sha that the remote does not advertise is looked up (default os.tmpdir()). */
  workDir?: string;
}

/**
 * Resolves the source's version spec to a commit, in SkillMeat's order: `latest` (any case) → the default
 * branch's head; 7–40 hex → that commit; a tag (annotated tags peeled); a branch. A full `refs/…` name
 * matches exactly. A hex spec the remote does not advertise is looked for by fetching commits only.
 * Does IO (git). Throws CoreError `upstream-unreachable`, `source-invalid` (ref not found), `cancelled`,
 * `git-missing`.
 */
export async function resolveSource(
  source: RemoteSource,
  options: ResolveOptions = {},
): Promise<ResolvedSource> {
  return (await resolveSourceWithRefs(source, options)).resolved;
}

/**
 * resolveSource, plus the upstream's tags and default branch from the same `ls-remote` (no further
 * remote call), for telling what a pinned spec misses (pins.ts). Same IO and failures as resolveSource.
 */
export async function resolveSourceWithRefs(
  source: RemoteSource,
  options: ResolveOptions = {},
): Promise<{ resolved: ResolvedSource; refs: UpstreamRefs }> {
  assertSafeSource(source);
  const logger = options.logger ?? silentLogger;
  const ctx = runContext(options, logger);
  const started = Date.now();
  const listing = await listRemote(source, ctx);
  const resolved = await resolveFromListing(source, listing, { ...options, ...ctx, started });
  return { resolved, refs: upstreamRefs(listing) };
}

async function resolveFromListing(
  source: RemoteSource,
  listing: RemoteListing,
  options: ResolveOptions & RunContext & { started: number },
): Promise<ResolvedSource> {
  const { logger, started } = options;
  const ctx = runContext(options, logger);
  const spec = source.ref;
  const result = (sha: string, ref: string): ResolvedSource => {
    const resolved: ResolvedSource = { sha, ref, versionSpec: spec };
    const version = versionFromRef(spec);
    if (version !== undefined) resolved.resolvedVersion = version;
    logger.debug(
      `[Sources] resolved ${displaySource(source)} to ${sha} (${ref}) in ${Date.now() - started} ms`,
    );
    return resolved;
  };
  const notFound = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: displaySource(source), reason });

  if (spec.toLowerCase() === DEFAULT_REF) {
    const head = listing.refs.get('HEAD');
    if (!head) throw notFound('ref not found: the upstream has no default branch (HEAD)');
    return result(head, listing.headTarget ?? 'HEAD');
  }
  if (/^[0-9a-fA-F]{7,40}$/.test(spec)) {
    const wanted = spec.toLowerCase();
    // An annotated tag's object id counts too, and stands for the commit it points to.
    const commitOf = new Map<string, string>();
    for (const [name, sha] of listing.refs) commitOf.set(sha, listing.peeled.get(name) ?? sha);
    for (const sha of listing.peeled.values()) commitOf.set(sha, sha);
    const matches = new Set(
      [...commitOf].filter(([advertised]) => advertised.startsWith(wanted)).map(([, commit]) => commit),
    );
    if (matches.size > 1) throw notFound(`the short sha "${spec}" is ambiguous`);
    const [only] = matches;
    if (only) return result(only, only);
    // Not a tip: a tag or branch that happens to look like hex wins over a history search.
    const named = findNamedRef(listing, spec);
    if (named) return result(named.sha, named.ref);
    const sha = await findCommit(source, wanted, { ...ctx, workDir: options.workDir ?? os.tmpdir() });
    if (!sha) throw notFound(`ref not found: no commit "${spec}" upstream`);
    return result(sha, sha);
  }
  const named = findNamedRef(listing, spec);
  if (!named) throw notFound(`ref not found: "${spec}" is neither a tag nor a branch upstream`);
  return result(named.sha, named.ref);
}

interface RemoteListing {
  /** ref name (and `HEAD`) → sha as advertised; for an annotated tag that is the tag object. */
  refs: Map<string, string>;
  /** ref name → the commit an annotated tag points to (the `^{}` lines). */
  peeled: Map<string, string>;
  /** The branch HEAD points to, when the remote says (`ref: refs/heads/main	HEAD`). */
  headTarget?: string;
}

/** Tags peeled to their commits, and the default branch. */
function upstreamRefs(listing: RemoteListing): UpstreamRefs {
  const tags = new Map<string, string>();
  for (const [name, sha] of listing.refs) {
    if (name.startsWith('refs/tags/'))
      tags.set(name.slice('refs/tags/'.length), listing.peeled.get(name) ?? sha);
  }
  const refs: UpstreamRefs = { tags };
  const head = listing.refs.get('HEAD');
  if (head) refs.headSha = head;
  if (listing.headTarget?.startsWith('refs/heads/'))
    refs.headBranch = listing.headTarget.slice('refs/heads/'.length);
  return refs;
}

async function listRemote(source: RemoteSource, ctx: RunContext): Promise<RemoteListing> {
  const run = await runGit(['ls-remote', '--symref', '--', source.url], ctx);
  if (run.code !== 0) throw unreachable(source, run);
  const listing: RemoteListing = { refs: new Map(), peeled: new Map() };
  for (const line of run.stdout.split('\n')) {
    const symref = /^ref: (\S+)\tHEAD$/.exec(line);
    if (symref) {
      listing.headTarget = symref[1];
      continue;
    }
    const match = /^([0-9a-f]{40})\t(\S+)$/.exec(line);
    if (!match) continue;
    const [, sha = '', name = ''] = match;
    if (name.endsWith('^{}')) listing.peeled.set(name.slice(0, -3), sha);
    else listing.refs.set(name, sha);
  }
  return listing;
}

/** A full `refs/…` name exactly, else `refs/tags/<spec>` (peeled), else `refs/heads/<spec>`. */
function findNamedRef(listing: RemoteListing, spec: string): { sha: string; ref: string } | undefined {
  const candidates = spec.startsWith('refs/') ? [spec] : [`refs/tags/${spec}`, `refs/heads/${spec}`];
  for (const ref of candidates) {
    const sha = listing.peeled.get(ref) ?? listing.refs.get(ref);
    if (sha) return { sha, ref };
  }
  return undefined;
}

/**
 * Looks for a commit the remote does not advertise: a full sha by fetching it alone (v2 servers allow
 * that), otherwise, or for a short sha, by fetching every branch's and tag's commits (no trees or blobs
 * where the server supports filters) and asking rev-parse. Returns the full sha, or undefined.
 */
async function findCommit(
  source: RemoteSource,
  wanted: string,
  ctx: RunContext & { workDir: string },
): Promise<string | undefined> {
  const created = await makeWorkspace(ctx.workDir, 'resolve-');
  const workspace = created.path;
  try {
    const repo = await initWorkspaceRepo(source, path.join(workspace, 'git'), true, ctx);
    if (FULL_SHA.test(wanted)) {
      const single = await repo.git([
        'fetch',
        ...FETCH_FLAGS,
        '--depth=1',
        '--filter=tree:0',
        '--',
        'origin',
        wanted,
      ]);
      if (single.code === 0) return (await repo.hasCommit(wanted)) ? wanted : undefined;
      if (!NOT_SERVED.test(single.stderr)) throw unreachable(source, single);
    }
    const all = await repo.git(['fetch', ...FETCH_FLAGS, '--filter=tree:0', '--', 'origin', ...ALL_REFS]);
    if (all.code !== 0) throw unreachable(source, all);
    const parsed = await repo.git(['rev-parse', '--verify', '--quiet', `${wanted}^{commit}`]);
    const sha = parsed.stdout.trim();
    return parsed.code === 0 && FULL_SHA.test(sha) ? sha : undefined;
  } finally {
    await created.remove().catch((err: unknown) => {
      ctx.logger.warn(`[Sources] could not remove ${workspace}: ${String(err)}`);
    });
  }
}
