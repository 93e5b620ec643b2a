/**
 * The git port: every git process the core starts goes through here, with a scrubbed environment,
 * hooks/autocrlf/auto-gc switched off, and user strings never in option position. Ordinary commands
 * run through simple-git; plumbing fed on stdin (or with binary output) runs through child_process.spawn.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { simpleGit } from 'simple-git';
import type { SimpleGit } from 'simple-git';
import { CoreError, firstLine } from '../base/errors.js';
import type { FaultPlan } from './faults.js';
import { OWNER_ENV, ownerMark } from './processes.js';

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
}

export interface GitPipeOptions {
  /** Bytes fed to stdin (then closed). */
  input?: string | Uint8Array;
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

export interface CatFileObject {
  type: string;
  data: Buffer;
}

/** A long-lived `git cat-file --batch`: one process answers any number of reads, in order. */
export interface ObjectReader {
  /** The object, or undefined when the repository does not have it. */
  read(sha: string): Promise<CatFileObject | undefined>;
  close(): void;
}

export interface Git {
  readonly gitDir: string;
  readonly workTree: string | undefined;
  /** An ordinary command (simple-git); resolves with stdout as text, rejects with CoreError git-failed. */
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

  const hitFault = (args: readonly string[]): void => {
    try {
      options.fault?.hit('git', args.join(' '));
    } catch (err) {
      throw gitFailed(args, err);
    }
  };

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
      const result = await spawnGit(binary, [...configArgs, ...args], env, pipeOptions.input);
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
      hitFault(args);
      return new BatchObjectReader(spawn(binary, [...configArgs, ...args], { env: baseEnv }));
    },
  };
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
  const key = `${options.binary ?? 'git'}\0${(options.env ?? process.env).PATH ?? ''}`;
  const known = checkedVersions.get(key);
  if (known) return known;
  const version = await probeGitVersion(options);
  checkedVersions.set(key, version);
  return version;
}

const checkedVersions = new Map<string, string>();

async function probeGitVersion(options: { env?: NodeJS.ProcessEnv; binary?: string }): Promise<string> {
  const env = { ...(options.env ?? process.env) };
  let result: GitResult;
  try {
    result = await spawnGit(options.binary ?? 'git', ['--version'], env, undefined);
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

/** Rejects only when the process cannot start (ENOENT …); a non-zero exit is reported in the result. */
function spawnGit(
  binary: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input: string | Uint8Array | undefined,
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    // EPIPE when git exits early (bad input); the exit code then tells the story.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8') || (signal ? `killed by ${signal}` : ''),
        exitCode: code ?? 128,
      });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

interface PendingRead {
  sha: string;
  resolve: (value: CatFileObject | undefined) => void;
  reject: (err: unknown) => void;
}

/** Parses `<sha> <type> <size>\n<bytes>\n` / `<sha> missing\n` answers in request order. */
class BatchObjectReader implements ObjectReader {
  private readonly pending: PendingRead[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private closed = false;
  private stderr = '';

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => this.fail(err));
    child.on('close', () =>
      this.fail(
        new CoreError({
          code: 'git-failed',
          command: 'cat-file',
          reason: firstLine(this.stderr) || 'cat-file exited',
        }),
      ),
    );
  }

  read(sha: string): Promise<CatFileObject | undefined> {
    assertObjectId(sha);
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('object reader is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ sha, resolve, reject });
      this.child.stdin.write(`${sha}\n`);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
  }

  private drain(): void {
    for (;;) {
      const head = this.pending[0];
      if (!head) return;
      const eol = this.buffer.indexOf(0x0a);
      if (eol < 0) return;
      const header = this.buffer.subarray(0, eol).toString('utf8');
      const parts = header.split(' ');
      if (parts[1] === 'missing') {
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift();
        head.resolve(undefined);
        continue;
      }
      const size = Number(parts[2]);
      if (parts.length !== 3 || !Number.isInteger(size)) {
        this.fail(
          new CoreError({ code: 'git-failed', command: 'cat-file', reason: `unexpected answer "${header}"` }),
        );
        return;
      }
      if (this.buffer.length < eol + 1 + size + 1) return;
      const data = Buffer.from(this.buffer.subarray(eol + 1, eol + 1 + size));
      this.buffer = this.buffer.subarray(eol + 1 + size + 1);
      this.pending.shift();
      head.resolve({ type: parts[1] ?? '', data });
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const request of this.pending.splice(0)) request.reject(err);
  }
}
