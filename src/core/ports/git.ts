/**
 * The git port: every git process the core starts goes through here, with the owner mark of processes.ts,
 * the fault hook of faults.ts, hooks/autocrlf/auto-gc switched off, and user strings never in option
 * position. Two environments: our own repositories (the snapshot store, `createGit`) get a scrubbed one
 * and a fixed identity; upstream access (`createUpstreamGit`) keeps the user's (credentials, proxies, ssh
 * setup), restricted to safe transports, and runs cancellable in a process group of its own.
 * Ordinary commands run through simple-git; plumbing fed on stdin (or with binary output) and every
 * upstream command run through gitProcess.ts.
 */
import { spawn } from 'node:child_process';
import * as nodeFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import type { SimpleGit } from 'simple-git';
import { CoreError, firstLine } from '../base/errors.js';
import { traceCount } from '../base/trace.js';
import type { FaultPlan } from './faults.js';
import { BatchObjectReader } from './gitObjectReader.js';
import type { KeptObjectReaders } from './keptReaders.js';
import type { ObjectReader } from './gitObjectReader.js';
import { runGitProcess } from './gitProcess.js';
import { gitExecutableKey, recalledGitVersion, rememberGitVersion } from './gitVersionMemo.js';
import type { GitInput, GitProcessResult } from './gitProcess.js';
import { OWNER_ENV, ownerMark } from './processes.js';

export type { CatFileObject, ObjectReader, SpilledObject, SpillOptions } from './gitObjectReader.js';

export const GIT_MIN_VERSION = '2.30.0';

/** Passed to every git process, so a user's config can neither run code nor rewrite bytes. */
export const GIT_CONFIG_ARGS: readonly string[] = [
  'core.autocrlf=false',
  'core.safecrlf=false',
  'core.quotepath=off',
  'gc.auto=0',
  'maintenance.auto=false',
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.logAllRefUpdates=false',
  'commit.gpgSign=false',
];

/** Author and committer of every snapshot commit: fixed, so commits depend only on content, time and message. */
export const SNAPSHOT_IDENTITY = { name: 'Artifact Keeper', email: 'artifact-keeper@localhost' };

export interface CreateGitOptions {
  /** The repository (`GIT_DIR`); need not exist yet (for `git init`). */
  gitDir: string;
  /** Only for commands that really need a work tree; the snapshot store never does. */
  workTree?: string;
  /** Test hook: a 'git' rule makes the n-th git process fail before it starts. */
  fault?: FaultPlan;
  /** Base environment (default `process.env`); tests point PATH at a fake git here. */
  env?: NodeJS.ProcessEnv;
  /** The git executable (default `git`, looked up on PATH). */
  binary?: string;
  /** A process that lives on: object readers kept from one operation to the next (keptReaders.ts). */
  keptReaders?: KeptObjectReaders;
}

export interface GitPipeOptions {
  /** Bytes fed to stdin (then closed), or chunks made as git reads them. */
  input?: GitInput;
  /** Extra environment for this call (author date, …). */
  env?: Record<string, string>;
  /** Exit codes that are outcomes rather than failures (default only 0). */
  okExitCodes?: readonly number[];
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

export interface Git {
  readonly gitDir: string;
  readonly workTree: string | undefined;
  /**
   * An ordinary command (simple-git); resolves with stdout as text, rejects with CoreError git-failed.
   * Only for commands that print something: after one that printed nothing (update-ref, a quiet gc, a
   * search that found nothing) simple-git waits 50 ms more before it resolves (its completion plugin),
   * measured 56–59 ms against 5–6 for the same `update-ref` through `pipe`.
   */
  run(args: readonly string[]): Promise<string>;
  /** A command fed on stdin or with binary output (spawn). */
  pipe(args: readonly string[], options?: GitPipeOptions): Promise<GitResult>;
  /** Starts a persistent `cat-file --batch` reader; the caller closes it. */
  openObjectReader(): ObjectReader;
}

/** Environment for a git process: no GIT_* leaking from ours, no editor/pager, a fixed identity. */
export function gitEnvironment(
  options: Pick<CreateGitOptions, 'gitDir' | 'workTree' | 'env'>,
): Record<string, string> {
  const base = options.env ?? process.env;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    const lower = key.toLowerCase();
    // GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, GIT_CONFIG_* … set by a calling git (hooks!) would redirect us.
    // The editor/pager/askpass variables are never needed by plumbing, and simple-git refuses to run with them.
    if (lower.startsWith('git_') || UNWANTED_ENV.has(lower)) continue;
    env[key] = value;
  }
  env.GIT_DIR = options.gitDir;
  if (options.workTree !== undefined) env.GIT_WORK_TREE = options.workTree;
  // So that a killed writer's git children can be found and stopped before its lock passes on.
  env[OWNER_ENV] = ownerMark();
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_AUTHOR_NAME = SNAPSHOT_IDENTITY.name;
  env.GIT_AUTHOR_EMAIL = SNAPSHOT_IDENTITY.email;
  env.GIT_COMMITTER_NAME = SNAPSHOT_IDENTITY.name;
  env.GIT_COMMITTER_EMAIL = SNAPSHOT_IDENTITY.email;
  return env;
}

const UNWANTED_ENV = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass', 'less']);

/** Builds the port for one repository. Creating it starts nothing; each call is one process. */
export function createGit(options: CreateGitOptions): Git {
  const binary = options.binary ?? 'git';
  const baseEnv = gitEnvironment(options);
  const configArgs = GIT_CONFIG_ARGS.flatMap((c) => ['-c', c]);
  let simple: SimpleGit | undefined;

  const hitFault = (args: readonly string[]): void => injectFault(options.fault, args);

  const simpleClient = (): SimpleGit => {
    // simple-git insists that its base folder exists; git itself finds the repository through GIT_DIR.
    // The environment is fixed per instance: simple-git's env() mutates the shared client, so a per-call
    // environment (commit dates) goes through pipe() instead.
    simple ??= simpleGit({
      baseDir: existingAncestor(options.workTree ?? options.gitDir),
      binary,
      config: [...GIT_CONFIG_ARGS],
      maxConcurrentProcesses: 4,
      trimmed: false,
      // Done when git's output is closed, not 50 ms after it exits as well: that timer outlived the
      // command and held every CLI process open for up to 50 ms more (simple-git 3's own advice).
      completion: { onClose: true, onExit: false },
      // These two "unsafe" settings are the ones that switch hooks and the fsmonitor off.
      unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true },
    }).env(baseEnv);
    return simple;
  };

  return {
    gitDir: options.gitDir,
    workTree: options.workTree,

    async run(args) {
      hitFault(args);
      try {
        return await simpleClient().raw([...args]);
      } catch (err) {
        throw gitFailed(args, err);
      }
    },

    async pipe(args, pipeOptions = {}) {
      hitFault(args);
      const env = pipeOptions.env ? { ...baseEnv, ...pipeOptions.env } : baseEnv;
      const result = signalNoted(
        await runGitProcess(binary, [...configArgs, ...args], { env, input: pipeOptions.input }),
      );
      const ok = pipeOptions.okExitCodes ?? [0];
      if (!ok.includes(result.exitCode)) {
        throw new CoreError({
          code: 'git-failed',
          command: args[0] ?? '',
          reason: firstLine(result.stderr) || `exit code ${result.exitCode}`,
        });
      }
      return result;
    },

    openObjectReader() {
      const args = ['cat-file', '--batch'];
      // A kept reader lent again starts no process: only a new one meets the fault plan and the trace.
      const open = (): ObjectReader => {
        hitFault(args);
        const reader = new BatchObjectReader(spawn(binary, [...configArgs, ...args], { env: baseEnv }));
        // The reader takes ids on stdin, a line each: guarded like every id the port hands to git.
        return {
          read: (sha) => reader.read(assertObjectId(sha)),
          readRef: (ref) => reader.read(assertRefName(ref)),
          readSpilling: (sha, spill) => reader.readSpilling(assertObjectId(sha), spill),
          healthy: () => reader.healthy(),
          idle: () => reader.idle(),
          close: () => reader.close(),
        };
      };
      return options.keptReaders ? options.keptReaders.lend(`${binary}\0${options.gitDir}`, open) : open();
    },
  };
}

/** Config for every upstream git process: no code from the user's config runs, no bytes are rewritten. */
export const UPSTREAM_CONFIG_ARGS: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.autocrlf=false',
  'core.symlinks=true',
  'gc.auto=0',
  'maintenance.auto=false',
  'fetch.recurseSubmodules=false',
  'protocol.ext.allow=never',
  // Keep what a fetch receives as the pack it came in (index-pack), never unpacked into loose objects:
  // unpacking re-compresses every blob. A server that ignores `--filter` sends a 50 MB blob in the first
  // fetch, which then took 1.9 s instead of 0.9 s. (The lazy fetch of a partial clone keeps its pack.)
  'fetch.unpackLimit=1',
];

export interface CreateUpstreamGitOptions {
  /**
   * The repository (`GIT_DIR`): a fetch workspace's, or one that does not exist for commands that need
   * none (ls-remote), so that git never discovers a repository around its working folder.
   */
  gitDir: string;
  /** Test hook: a 'git' rule makes the n-th git process fail before it starts. */
  fault?: FaultPlan | undefined;
  /** Base environment (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The git executable (default `git`, looked up on PATH). */
  binary?: string;
}

export interface UpstreamExecOptions {
  /** A work tree for this call (`GIT_WORK_TREE`, and git's working folder); default none, in os.tmpdir(). */
  workTree?: string | undefined;
  /** Aborting kills git's whole process group; the call rejects with `cancelled` once git has exited. */
  signal?: AbortSignal | undefined;
}

/** The port for a repository that talks to an upstream (a fetch workspace), or for ls-remote. */
export interface UpstreamGit {
  readonly gitDir: string;
  /**
   * One command. Its exit code is an outcome, not an exception: the caller tells an unreachable upstream
   * from a full disk by git's words. Rejects with CoreError `cancelled`, `git-missing` (no git on PATH) or
   * `git-failed` (git could not start, or an injected fault).
   */
  exec(args: readonly string[], options?: UpstreamExecOptions): Promise<GitResult>;
}

/** Variables a calling git (a hook) may have set that would point our commands at another repository. */
const REPOSITORY_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_QUARANTINE_PATH',
  'GIT_SHALLOW_FILE',
  'GIT_CEILING_DIRECTORIES',
];

/**
 * Environment for upstream access: the user's (credentials, proxies, ssh setup keep working) minus
 * repository redirections, plus: only the file/git/http(s)/ssh transports (no ext::, fd::), no terminal
 * prompts, literal pathspecs, and C-locale messages (callers match on them).
 */
export function upstreamEnvironment(
  options: Pick<CreateUpstreamGitOptions, 'gitDir' | 'env'>,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  for (const key of REPOSITORY_ENV) delete env[key];
  env.GIT_ALLOW_PROTOCOL = 'file:git:http:https:ssh';
  env.GIT_PROTOCOL_FROM_USER = '0';
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_LITERAL_PATHSPECS = '1';
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  // So that a killed writer's git children can be found and stopped before its lock passes on.
  env[OWNER_ENV] = ownerMark();
  env.GIT_DIR = options.gitDir;
  return env;
}

/**
 * Builds the upstream port for one repository. Not simple-git: upstream access needs the user's
 * environment (askpass, ssh command, EDITOR) passed through, which simple-git refuses to run with, and
 * cancellation must kill git's whole process group and wait for it before the caller removes its folders.
 */
export function createUpstreamGit(options: CreateUpstreamGitOptions): UpstreamGit {
  const binary = options.binary ?? 'git';
  const baseEnv = upstreamEnvironment(options);
  const configArgs = UPSTREAM_CONFIG_ARGS.flatMap((c) => ['-c', c]);
  return {
    gitDir: options.gitDir,
    async exec(args, execOptions = {}) {
      injectFault(options.fault, args);
      const { workTree, signal } = execOptions;
      const env = workTree === undefined ? baseEnv : { ...baseEnv, GIT_WORK_TREE: workTree };
      try {
        const { stdout, stderr, exitCode } = await runGitProcess(binary, [...configArgs, ...args], {
          env,
          cwd: workTree ?? os.tmpdir(),
          signal,
          ownProcessGroup: true,
        });
        return { stdout, stderr, exitCode };
      } catch (err) {
        if (err instanceof CoreError) throw err;
        const startError = err as NodeJS.ErrnoException;
        throw startError.code === 'ENOENT'
          ? new CoreError({ code: 'git-missing', reason: 'no git executable on PATH' }, { cause: err })
          : new CoreError(
              { code: 'git-failed', command: args[0] ?? 'git', reason: startError.message },
              { cause: err },
            );
      }
    },
  };
}

/** Our own repositories' commands: a git killed without a word says by which signal. */
function signalNoted({ stdout, stderr, exitCode, signal }: GitProcessResult): GitResult {
  return { stdout, stderr: stderr || (signal ? `killed by ${signal}` : ''), exitCode };
}

/**
 * The fault hook of every git process: a 'git' rule of the plan fails it before it starts. Also where
 * the trace counts git processes (`git`, and per command: `git cat-file`).
 */
function injectFault(fault: FaultPlan | undefined, args: readonly string[]): void {
  countGit(args);
  try {
    fault?.hit('git', args.join(' '));
  } catch (err) {
    throw gitFailed(args, err);
  }
}

/**
 * Checks that git runs and is at least 2.30. Throws CoreError `git-missing` (not found or not runnable)
 * or `git-too-old`; writes nothing. Resolves with the version text, e.g. "2.39.5".
 */
export async function checkGitVersion(
  options: { env?: NodeJS.ProcessEnv; binary?: string } = {},
): Promise<string> {
  // Once per process and PATH: the extension opens a store per operation. Failures are not remembered,
  // so installing git fixes a running session.
  const binary = options.binary ?? 'git';
  const pathVar = (options.env ?? process.env).PATH ?? '';
  const key = `${binary}\0${pathVar}`;
  const known = checkedVersions.get(key);
  if (known) return known;
  // Across processes too, while the executable is the same file (see gitVersionMemo.ts).
  const executable = gitExecutableKey(binary, pathVar);
  const recalled = executable ? recalledGitVersion(executable) : undefined;
  if (recalled && compareVersions(recalled, GIT_MIN_VERSION) >= 0) {
    traceCount('remembered git version');
    checkedVersions.set(key, recalled);
    return recalled;
  }
  const version = await probeGitVersion(options);
  checkedVersions.set(key, version);
  if (executable) rememberGitVersion(executable, version);
  return version;
}

const checkedVersions = new Map<string, string>();

/** Counts one git process for the trace, under `git` and under its command (`-c` settings skipped). */
function countGit(args: readonly string[]): void {
  traceCount('git');
  let i = 0;
  while (args[i] === '-c') i += 2;
  traceCount(`git ${args[i] ?? ''}`);
}

async function probeGitVersion(options: { env?: NodeJS.ProcessEnv; binary?: string }): Promise<string> {
  const env = { ...(options.env ?? process.env) };
  let result: GitResult;
  try {
    countGit(['--version']);
    result = signalNoted(await runGitProcess(options.binary ?? 'git', ['--version'], { env }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new CoreError(
      {
        code: 'git-missing',
        reason: code === 'ENOENT' ? 'no git executable on PATH' : firstLine(String(err)),
      },
      { cause: err },
    );
  }
  const text = result.stdout.toString('utf8');
  const match = /git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (result.exitCode !== 0 || !match) {
    throw new CoreError({
      code: 'git-missing',
      reason: `"git --version" did not answer as git does (${firstLine(result.stderr || text) || `exit ${result.exitCode}`})`,
    });
  }
  const version = `${match[1]}.${match[2]}.${match[3] ?? '0'}`;
  if (compareVersions(version, GIT_MIN_VERSION) < 0) throw new CoreError({ code: 'git-too-old', version });
  return version;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** One record of `git ls-tree -z`: `<mode> <type> <oid>\t<path>`, the path as the bytes git stores. */
export interface LsTreeRecord {
  mode: string;
  type: string;
  oid: string;
  /** A view into the output (not necessarily UTF-8). */
  path: Buffer;
}

/** The records of `git ls-tree -z` output; anything not shaped `<mode> <type> <oid>\t<path>` is skipped. */
export function parseLsTree(out: Buffer): LsTreeRecord[] {
  const records: LsTreeRecord[] = [];
  for (let start = 0; start < out.length;) {
    const found = out.indexOf(0, start);
    const end = found < 0 ? out.length : found;
    // Only the path may hold a tab.
    const tab = out.indexOf(0x09, start);
    if (tab >= 0 && tab < end) {
      const head = /^(\d+) (\w+) ([0-9a-f]+)$/.exec(out.toString('latin1', start, tab));
      if (head) {
        const [, mode = '', type = '', oid = ''] = head;
        records.push({ mode, type, oid, path: out.subarray(tab + 1, end) });
      }
    }
    start = end + 1;
  }
  return records;
}

const OBJECT_ID = /^[0-9a-f]{40}$/;

/** Guards an object id before it becomes an argument: never an option, never a revision expression. */
export function assertObjectId(sha: string): string {
  if (!OBJECT_ID.test(sha))
    throw new CoreError({ code: 'git-failed', command: 'internal', reason: `not an object id: "${sha}"` });
  return sha;
}

export function isObjectId(text: string): boolean {
  return OBJECT_ID.test(text);
}

/** Guards a ref we built ourselves: `refs/…`, no option-like or special characters. */
export function assertRefName(ref: string): string {
  if (
    !/^refs\/[A-Za-z0-9%._\-/]+$/.test(ref) ||
    ref.includes('..') ||
    ref.includes('//') ||
    ref.endsWith('.lock')
  ) {
    throw new CoreError({ code: 'git-failed', command: 'internal', reason: `not a safe ref name: "${ref}"` });
  }
  return ref;
}

function gitFailed(args: readonly string[], err: unknown): CoreError {
  if (err instanceof CoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CoreError(
    { code: 'git-failed', command: args[0] ?? '', reason: firstLine(message) || 'failed' },
    { cause: err },
  );
}

function existingAncestor(dir: string): string {
  let current = path.resolve(dir);
  while (!nodeFs.existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}
