/**
 * Running git against an upstream, for the other sources modules, and naming its failures as a user
 * must read them: the upstream unreachable (exit 69, never "up to date"), our own disk full (ENOSPC,
 * exit 4), or a local git failure. Every process goes through the git port's upstream flavour
 * (ports/git.ts), so it carries the owner mark, meets the fault hook and is cancellable with its whole
 * process group. Credentials in URLs never reach a log line or a message.
 */
import { throwIfAborted } from '../base/abort.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import { CoreError, isCoreError } from '../base/errors.js';
import type { FaultPlan } from '../ports/faults.js';
import { createUpstreamGit } from '../ports/git.js';
import type { GitResult } from '../ports/git.js';
import { displaySource, redactCredentials } from './sourceSpec.js';
import type { RemoteSource } from './sourceSpec.js';

export interface SourceOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** Fault injection: a 'git' rule fails the n-th git process of the operation (tests and campaigns). */
  faults?: FaultPlan | undefined;
}

/** What every git run of one resolve or fetch shares. */
export interface RunContext {
  signal?: AbortSignal | undefined;
  logger: Logger;
  faults?: FaultPlan | undefined;
}

export function runContext(options: SourceOptions, logger: Logger): RunContext {
  return { signal: options.signal, logger, faults: options.faults };
}

export interface GitRun {
  code: number;
  stdout: string;
  /** stdout as bytes, for paths that need not be UTF-8. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Where a command runs: a workspace repository (and a work tree), or no repository at all. */
export interface GitPlace {
  gitDir?: string | undefined;
  workTree?: string | undefined;
}

/** A repository that does not exist, for commands that need none (ls-remote): stops repository discovery. */
const NO_REPOSITORY = path.join(os.tmpdir(), 'artifact-keeper-no-repository', 'none.git');

/**
 * Runs git and resolves with its exit code and output (a failing exit code is not an exception here).
 * On abort the process group is terminated and the promise rejects with CoreError `cancelled` only after
 * git has exited, so the caller can remove its folders safely.
 */
export async function runGit(
  args: readonly string[],
  ctx: RunContext,
  place: GitPlace = {},
): Promise<GitRun> {
  throwIfAborted(ctx.signal);
  ctx.logger.trace(`[Sources] git ${redactCredentials(args.join(' '))}`);
  // Without a repository of ours, git would look for one around its working folder and read its config
  // (a collection that is itself a git work tree, or any repository above the temp folder).
  const git = createUpstreamGit({ gitDir: place.gitDir ?? NO_REPOSITORY, fault: ctx.faults });
  let result: GitResult;
  try {
    result = await git.exec(args, { workTree: place.workTree, signal: ctx.signal });
  } catch (err) {
    // An injected fault quotes the command line, and with it the upstream's URL.
    if (!isCoreError(err, 'git-failed')) throw err;
    throw new CoreError(
      { ...err.failure, reason: redactCredentials(err.failure.reason) },
      { cause: err.cause },
    );
  }
  return {
    code: result.exitCode,
    stdout: result.stdout.toString('utf8'),
    stdoutBytes: result.stdout,
    stderr: result.stderr,
  };
}

/** The most telling line of git's stderr: the first `fatal:`/`error:` line that is not boilerplate. */
export function gitReason(run: GitRun): string {
  const lines = run.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !BOILERPLATE.test(line));
  const at = Math.max(
    0,
    lines.findIndex((line) => /^(fatal|error):/.test(line)),
  );
  let telling = lines[at];
  // "fatal: unable to connect to host:" puts the cause on the next line.
  if (telling?.endsWith(':') && lines[at + 1] !== undefined) telling = `${telling} ${lines[at + 1]}`;
  const reason = telling ? telling.replace(/^(fatal|error):\s*/, '') : `git exited with code ${run.code}`;
  return redactCredentials(reason);
}

/** git's generic advice after a failed connection; the line before it (ssh's, the path's) says more. */
const BOILERPLATE =
  /^(fatal: )?Could not read from remote repository\.$|^Please make sure you have the correct access rights$|^and the repository exists\.$/;

export function unreachable(source: RemoteSource, run: GitRun): CoreError {
  return new CoreError({
    code: 'upstream-unreachable',
    source: displaySource(source),
    reason: gitReason(run),
  });
}

/** A checkout that fails while fetching missing blobs means the upstream went away; anything else is local. */
export function failedCheckout(source: RemoteSource, run: GitRun): CoreError {
  if (/promisor|could not fetch|unable to read|does not appear to be a git repository/i.test(run.stderr)) {
    return unreachable(source, run);
  }
  return gitFailed('checkout', run);
}

export function gitFailed(command: string, run: GitRun): CoreError {
  return new CoreError({ code: 'git-failed', command, reason: gitReason(run) });
}

/** git's own words for a full disk or quota (index-pack says "Out of diskspace"). */
const NO_SPACE = /no space left on device|out of diskspace|disk quota exceeded/i;

/** A local write that failed without saying why ("unable to write file X", "failed to write new config"). */
const LOCAL_WRITE =
  /unable to write|failed to write|could not write|write error|short write|unable to create|cannot create|could not create|fsync/i;

/** Below this much free space, a write git could not make is taken to have run out of room. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/**
 * Whether a failed git command ran out of space in our workspace. We decided on two tests. git's own
 * words first ("No space left on device", index-pack's "Out of diskspace", "Disk quota exceeded"), from
 * lines that are not the server's (`remote:` lines are about the upstream's disk). Many of git's writes
 * fail with a bare "unable to write file X" or "failed to write new configuration file" though, so for
 * a failed local write we then ask the file system: git removes its temp files when it gives up, so the
 * free space seen afterwards is what the write had to work with, and under 1 MiB (or no free inodes)
 * we call it a full disk. A failure that names no local write is never blamed on the disk, so an
 * upstream that is unreachable or vanishes mid-transfer is still reported as such (exit 69).
 */
export function isOutOfSpace(run: GitRun, workspace: string): boolean {
  const ours = run.stderr
    .split('\n')
    .filter((line) => !/^\s*(remote:|fatal: remote error)/i.test(line))
    .join('\n');
  if (NO_SPACE.test(ours)) return true;
  if (!LOCAL_WRITE.test(ours)) return false;
  try {
    const stats = fs.statfsSync(workspace);
    return stats.bavail * stats.bsize < NEARLY_FULL_BYTES || (stats.files > 0 && stats.ffree === 0);
  } catch {
    return false;
  }
}

export function noSpace(command: string, workspace: string, run: GitRun): CoreError {
  const quota = /disk quota exceeded/i.test(run.stderr);
  return new CoreError({
    code: 'io-failed',
    op: `git ${command} in`,
    path: workspace,
    errno: quota ? 'EDQUOT' : 'ENOSPC',
    reason: quota ? 'disk quota exceeded' : 'no space left on device',
  });
}
