/**
 * The fault matrix through the CLI (faults.test.ts, projectFaults.test.ts): ARTIFACT_KEEPER_FAULT makes
 * the n-th call of one IO operation fail with ENOSPC, EACCES, EIO or EXDEV at each call site of an
 * operation (enumerated first by running it in-process with a counting FaultPlan). Every run must end exit
 * 4 with the before-tree, or exit 0 with the after-tree (always so once the commit point is passed) — of
 * both stores for a project move — print one line naming the path, leave no temp behind, and release the
 * writer lock and the project lock.
 *
 * MODE: `sample` (the unit run) every call site once, errnos rotating, the commit rename × every errno;
 * `sites` (AK_FAULTS_FULL=1, CI's torture suite) every site × every errno and each site's last call;
 * `every` (AK_FAULTS_FULL=every, on demand) every call × every errno.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { silentLogger } from '../../../src/core/base/changes.js';
import { FaultPlan, withFaults } from '../../../src/core/ports/faults.js';
import { nodeFs } from '../../../src/core/ports/fs.js';
import { projectLockPath } from '../../../src/core/projects/projectLock.js';
import { projectProfileRoot } from '../../../src/core/projects/profiles.js';
import { deployArtifacts } from '../../../src/core/transfer/deploy.js';
import { pullArtifacts } from '../../../src/core/transfer/pull.js';
import { restoreSnapshot } from '../../../src/core/transfer/restore.js';
import { updateArtifacts } from '../../../src/core/transfer/update.js';
import { listBoth, PINNED_CLOCK, pristineBoth, resetFixture, TRACKING_REL } from '../../torture/fixture.js';
import type { Fixture } from '../../torture/fixture.js';
import { describeDiff, leftovers, listTree, sameListing } from '../../torture/tree.js';
import type { Listing } from '../../torture/tree.js';

export const ERRNOS = ['ENOSPC', 'EACCES', 'EIO', 'EXDEV'] as const;
/**
 * How many cases: `sample` (the unit run) every call site once, errnos rotating; `sites`
 * (AK_FAULTS_FULL=1, CI) every call site × every errno, and the site's last call too; `every`
 * (AK_FAULTS_FULL=every, on demand) every call × every errno.
 */
export const MODE =
  process.env.AK_FAULTS_FULL === 'every' ? 'every' : process.env.AK_FAULTS_FULL === '1' ? 'sites' : 'sample';

export interface Site {
  op: string;
  /** The rule's `pathIncludes`: the stable part of the path (ids, pids and random suffixes left out). */
  needle: string;
  /** 1-based index among the calls of this op whose path includes the needle: the rule's `nth`. */
  nth: number;
  path: string;
  /** Position in the whole call sequence. */
  index: number;
}

/**
 * The part of a call's path that is the same in every run, so a rule still names the same call when the
 * number of other calls drifts (the snapshot store writes fewer objects once its caches are warm).
 */
function needleOf(op: string, target: string): string {
  if (op === 'git') return `${target.split(' ')[0] ?? ''}${target.includes(' ') ? ' ' : ''}`;
  // The snapshot store's own writes: loose objects (`objects/xx/…`, named by content) and new refs
  // (named by snapshot id) differ from run to run; their folder is the stable part.
  const store = /^(.*\/snapshots\.git\/(?:objects|refs\/[^/]+)\/)/.exec(target);
  if (store?.[1]) return store[1];
  const txn = /\/txn\/[a-z0-9]+(\/.*)?$/.exec(target);
  if (txn) return txn[1] ?? '/txn/';
  const temp = /^(.*\/\.?[^/]+?\.(json|jsonl|lock))\.[^/]*$/.exec(target);
  if (temp?.[1] && /(\.ak-tmp|\.tmp)$/.test(target)) return `${temp[1]}.`;
  return target;
}

export interface Enumerated {
  sites: Site[];
  /** Index of the rename of collection.lock into place (the commit point). */
  commitIndex: number;
  after: Listing;
}

/** The collection's moves, and the two that change a project too (DESIGN §10: faults in either store). */
export type Operation = 'update' | 'restore' | 'deploy-merge' | 'pull';

const twoStores = (operation: Operation): boolean => operation === 'deploy-merge' || operation === 'pull';

const argsOf = (fx: Fixture, operation: Operation): string[] =>
  operation === 'update' ? fx.args('update-overwrite') : fx.args(operation);

/** What an operation's outcome is read from: the collection, or both stores for a project move. */
const listingOf = (fx: Fixture, operation: Operation): Listing =>
  twoStores(operation) ? listBoth(fx) : listTree(fx.dir);
const pristineOf = (fx: Fixture, operation: Operation): Listing =>
  twoStores(operation) ? pristineBoth(fx) : fx.pristine;

async function runInProcess(fx: Fixture, operation: Operation, plan: FaultPlan): Promise<void> {
  const opts = {
    fs: withFaults(nodeFs, plan),
    logger: silentLogger,
    tool: 'faults-test',
    faults: plan,
    clock: PINNED_CLOCK,
    exec: { allow: true },
  };
  const root = projectProfileRoot(fx.project);
  switch (operation) {
    case 'update':
      await updateArtifacts(fx.dir, 'all', { strategy: 'overwrite', to: 'v2' }, opts);
      return;
    case 'restore':
      await restoreSnapshot(fx.dir, fx.restoreId, opts);
      return;
    case 'deploy-merge':
      await deployArtifacts(fx.dir, root, ['up-00', 'upcmd-00'], opts, { strategy: 'merge' });
      return;
    case 'pull':
      await pullArtifacts(fx.dir, root, ['up-00'], opts, { strategy: 'merge' });
  }
}

/** Runs the operation in-process with a plan that never fires and records every IO call in order. */
export async function enumerate(fx: Fixture, operation: Operation): Promise<Enumerated> {
  resetFixture(fx);
  const plan = new FaultPlan([]);
  await runInProcess(fx, operation, plan);
  const after = listingOf(fx, operation);
  resetFixture(fx);
  const sites = plan.calls.map((call, index): Site => {
    const needle = needleOf(call.op, call.path);
    const nth = plan.calls
      .slice(0, index + 1)
      .filter((c) => c.op === call.op && c.path.includes(needle)).length;
    return { op: call.op, needle, nth, path: call.path, index };
  });
  // The commit point: collection.lock renamed into place; for a deploy, which leaves the lock alone, the
  // journal renamed into place as `committed` (its last rename).
  const lockFile = path.join(fx.dir, 'collection.lock');
  const journal = path.join(fx.dir, '.artifact-keeper', 'journal.json');
  const lockIndex = sites.findIndex((s) => s.op === 'rename' && s.path === lockFile);
  const commitIndex =
    operation === 'deploy-merge'
      ? Math.max(...sites.map((s, i) => (s.op === 'rename' && s.path === journal ? i : -1)))
      : lockIndex;
  assert.ok(commitIndex > 0, `${operation} has a commit point`);
  if (operation === 'deploy-merge') assert.equal(lockIndex, -1, 'a deploy leaves collection.lock alone');
  return { sites, commitIndex, after };
}

/**
 * A call site in the code's sense: the op, the kind of path (collection file, manifest, lock, root, or
 * the state file with ids and numbers masked; the git subcommand), and which side of the commit point.
 */
export function siteKey(fx: Fixture, site: Site, commitIndex: number): string {
  let target: string;
  const inProject = path.relative(fx.project, site.path);
  if (site.op === 'git') target = site.path.split(' ')[0] ?? '';
  else if (!inProject.startsWith('..') && !path.isAbsolute(inProject))
    target = inProject.split(path.sep).join('/') === TRACKING_REL ? '<tracking file>' : '<project path>';
  else {
    const rel = path.relative(fx.dir, site.path).split(path.sep).join('/');
    if (rel === '') target = '<root>';
    else if (rel === 'collection.toml' || rel === 'collection.lock') target = rel;
    else if (!rel.startsWith('.artifact-keeper')) target = '<collection path>';
    else
      target = rel
        // The store's own object and ref writes: one site each, whichever object or snapshot id.
        .replace(/(\/objects\/)[0-9a-f]{2}(\/.*)?$/, '$1OBJ')
        .replace(/(\/refs\/[^/]+\/)[^/]+$/, '$1ID')
        .replace(/txn\/[a-z0-9]+/, 'txn/ID')
        .replace(/[0-9a-f]{6,}/g, 'H')
        .replace(/\d+/g, 'N');
  }
  return `${site.op} ${target} ${site.index > commitIndex ? 'post' : 'pre'}`;
}

/** A write of the snapshot store's own objects or refs (not git's: those are `git` calls). */
function isStoreWrite(site: Site): boolean {
  return /\/snapshots\.git\/(objects|refs)\//.test(site.path);
}

/**
 * The unit run: one case per call site (see siteKey), errnos rotating, plus the commit rename with every
 * errno. AK_FAULTS_FULL=1: every site × every errno (and its last call); =every: every call × every errno.
 */
export function sample(
  fx: Fixture,
  found: Enumerated,
  covered: Set<string>,
): { site: Site; errno: string; key: string }[] {
  const { sites, commitIndex } = found;
  const keyed = sites.map((site) => ({ site, key: siteKey(fx, site, commitIndex) }));
  if (MODE === 'every')
    return keyed.flatMap(({ site, key }) => ERRNOS.map((errno) => ({ site, errno, key })));
  // The unit run does not run twice a site another operation already exercised (the transaction
  // engine's, mostly); CI's run takes every operation's sites whole.
  const first = new Map<string, Site>();
  const last = new Map<string, Site>();
  for (const { site, key } of keyed) {
    if (MODE === 'sample' && covered.has(key)) continue;
    if (!first.has(key)) first.set(key, site);
    last.set(key, site);
  }
  for (const key of first.keys()) covered.add(key);
  const cases =
    MODE === 'sites'
      ? [...first.entries()].flatMap(([key, site], i) => [
          ...ERRNOS.map((errno) => ({ site, key, errno: errno as string })),
          // The same site's last call: a rollback with more to undo. Not for git, nor the store's own
          // object and ref writes: how many objects a run writes depends on what the store already
          // holds (the enumeration's run filled it), so a later call may not happen at all; the first
          // always does (a snapshot's commit is always new).
          ...(last.get(key) !== site && site.op !== 'git' && !isStoreWrite(site)
            ? [{ site: last.get(key) as Site, key, errno: ERRNOS[i % ERRNOS.length] as string }]
            : []),
        ])
      : [...first.entries()].map(([key, site], i) => ({
          site,
          key,
          errno: ERRNOS[i % ERRNOS.length] as string,
        }));
  const commit = sites[commitIndex] as Site;
  const commitKey = siteKey(fx, commit, commitIndex);
  for (const errno of ERRNOS) {
    if (!cases.some((c) => c.site === commit && c.errno === errno))
      cases.push({ site: commit, errno, key: commitKey });
  }
  return cases;
}

/** stderr without the logger's `[warn]`/`[error]` lines: what a user reads as the error message. */
export const messageLines = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\[(trace|debug|info|warn|error)\] /.test(line));

export function holderIsDead(lockFile: string): boolean {
  try {
    const holder = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as {
      pid: number;
    };
    process.kill(holder.pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** One faulted CLI run and every check; returns the problems found (empty: the case passed). */
export function checkFault(
  fx: Fixture,
  operation: Operation,
  found: Enumerated,
  site: Site,
  errno: string,
): string[] {
  resetFixture(fx);
  const problems: string[] = [];
  const spec = `${site.op}:${site.nth}:${errno}:${site.needle}`;
  const run = fx.run(argsOf(fx, operation), { ARTIFACT_KEEPER_FAULT: spec });
  const pristine = pristineOf(fx, operation);
  const tree = listingOf(fx, operation);
  const isBefore = sameListing(tree, pristine);
  const isAfter = sameListing(tree, found.after);
  const postCommit = site.index > found.commitIndex;
  const where = `${operation} ${site.op}:${site.nth}:${errno} at ${site.path.replace(fx.dir, '<collection>').replace(fx.project, '<project>')}`;
  if (!isBefore && !isAfter) problems.push(`${where}: INCONSISTENT, ${describeDiff(tree, pristine)}`);
  const outside = listTree(fx.dotfiles, new Set());
  if (!sameListing(outside, fx.outside))
    problems.push(`${where}: wrote outside the collection, ${describeDiff(outside, fx.outside)}`);
  if (postCommit) {
    if (run.code !== 0 || !isAfter)
      problems.push(
        `${where}: after the commit point, wanted exit 0 and the after-tree, got exit ${run.code}${isBefore ? ' and the before-tree' : ''}`,
      );
  } else if (site.op === 'git') {
    // Every git call of the snapshot store before the commit is needed: its failure must stop the command.
    if (run.code !== 4 || !isBefore)
      problems.push(
        `${where}: wanted exit 4 and the before-tree, got exit ${run.code}${isAfter ? ' and the after-tree (the fault never reached git)' : ''}`,
      );
  } else if (site.op === 'rm' || site.op === 'unlink') {
    // Removing a temp may fail harmlessly (the next recovery removes strays); anything else must stop.
    if (!((run.code === 4 && isBefore) || (run.code === 0 && isAfter))) {
      problems.push(
        `${where}: wanted exit 4 with the before-tree (or 0 with the after-tree), got exit ${run.code}: ${run.stderr.trim()}`,
      );
    }
  } else if (run.code !== 4 || !isBefore) {
    problems.push(
      `${where}: wanted exit 4 and the before-tree, got exit ${run.code}${isAfter ? ' and the after-tree' : ''}: ${run.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  if (run.code === 4) {
    const lines = messageLines(run.stderr);
    const message = lines[0] ?? '';
    if (lines.length !== 1)
      problems.push(`${where}: ${lines.length} message lines: ${JSON.stringify(lines)}`);
    const namesPath =
      site.op === 'git'
        ? /git /.test(message)
        : (message.includes(fx.dir) || message.includes(fx.project)) && message.includes(errno);
    if (!namesPath || !message.startsWith('artifact-keeper: '))
      problems.push(`${where}: unclear message: ${message}`);
  }
  const lock = path.join(fx.dir, '.artifact-keeper', 'writer.lock');
  if (fs.existsSync(lock) && !(site.op === 'unlink' && site.path === lock && holderIsDead(lock))) {
    problems.push(`${where}: the writer lock was not released`);
  }
  // Its own removal faulted: a dead holder's lock, which the next move reclaims.
  const projectLock = projectLockPath(projectProfileRoot(fx.project).dir);
  if (
    twoStores(operation) &&
    fs.existsSync(projectLock) &&
    !(site.op === 'unlink' && site.path === projectLock && holderIsDead(projectLock))
  )
    problems.push(`${where}: the project lock was not released`);
  // That dead holder's lock is removed here, so the next case's first unlink of the lock is its own
  // release again (taking over a dead holder's lock is the writer lock's code, tested in writerLock.test).
  if (twoStores(operation) && fs.existsSync(projectLock) && holderIsDead(projectLock))
    fs.rmSync(projectLock, { force: true });
  // A fault in the cleanup after the commit may leave the journal and work area for recovery, by design.
  const left = leftovers(fx.dir, { allowLock: true, allowJournal: postCommit });
  if (left.length > 0) problems.push(`${where}: left behind ${left.join(', ')}`);
  // Whatever is left for recovery (a journal after a cleanup fault, a dead holder's lock) it must finish.
  if (leftovers(fx.dir).length > 0) {
    const recover = fx.run(['recover']);
    if (recover.code !== 0) {
      problems.push(`${where}: recover afterwards exited ${recover.code}: ${recover.stderr.trim()}`);
    }
    const healed = listingOf(fx, operation);
    if (!sameListing(healed, isAfter ? found.after : pristine)) {
      problems.push(`${where}: recover changed the outcome`);
    }
    const rest = leftovers(fx.dir);
    if (rest.length > 0) problems.push(`${where}: still left after recover: ${rest.join(', ')}`);
  }
  return problems;
}

/** One operation's matrix: every case run and judged; returns the diagnostic line and the problems. */
export async function runMatrix(
  fx: Fixture,
  operation: Operation,
  covered: Set<string>,
): Promise<{ diagnostic: string; kinds: string[]; problems: string[] }> {
  const found = await enumerate(fx, operation);
  const cases = sample(fx, found, covered);
  const problems: string[] = [];
  for (const { site, errno } of cases) problems.push(...checkFault(fx, operation, found, site, errno));
  resetFixture(fx);
  const kinds = [...new Set(found.sites.map((s) => s.op))].sort();
  const how =
    MODE === 'every'
      ? ' (every call × every errno)'
      : MODE === 'sites'
        ? ' (every site × every errno, and its last call; the commit rename × every errno)'
        : ' (every site once, errnos rotating; the commit rename × every errno)';
  const diagnostic = `${found.sites.length} IO calls (${kinds.map((k) => `${k} ${found.sites.filter((s) => s.op === k).length}`).join(', ')}), ${new Set(found.sites.map((site) => siteKey(fx, site, found.commitIndex))).size} distinct call sites (${new Set(cases.map((c) => c.key)).size} not run before), commit at call ${found.commitIndex}; ${cases.length} cases run${how}`;
  return { diagnostic, kinds, problems };
}
