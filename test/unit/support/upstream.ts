/**
 * Builds real local git repositories to stand in for upstreams in tests: a list of commits, each a file map
 * plus optional removals, branch and tag (lightweight or annotated), in a normal or a bare repository.
 * Synchronous and deterministic (fixed identity, one-second-apart dates, no user or system git config).
 *
 *   const up = makeUpstream(path.join(tempDir(), 'tools'), [
 *     { files: { 'skills/pdf/SKILL.md': 'v1\n', 'skills/pdf/run.sh': { content: '#!/bin/sh\n', executable: true } },
 *       tag: 'v1' },
 *     { files: { 'skills/pdf/SKILL.md': 'v2\n' }, tag: { name: 'v2', annotated: true } },
 *     { branch: 'dev', files: { 'commands/review.md': '# review\n' }, remove: ['skills/pdf/run.sh'] },
 *   ], { bare: true });
 *   up.url           // what a source names: the repository path (up.fileUrl is the file:// form)
 *   up.shas[1]       // commit of the second entry; up.tags.v2, up.branches.dev likewise
 *   commitUpstream(up, { files: { … } })   // later upstream changes, e.g. for update tests
 *
 * `serveUpstreams(root)` serves every repository below `root` over git:// (`git daemon` on 127.0.0.1), for
 * tests that need a remote transport: a server that git does not start itself, so the client cannot
 * loosen its settings (e.g. with `protocol.version=0` it refuses unadvertised commits, as old servers do).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after } from 'node:test';

/** A file's content; `executable` sets mode 755; `symlink` makes a symbolic link to that target. */
export type UpstreamFile =
  string | Buffer | { content: string | Buffer; executable?: boolean } | { symlink: string };

export interface UpstreamCommit {
  /** Files written (created or replaced) before committing; POSIX paths relative to the repository root. */
  files?: Record<string, UpstreamFile>;
  /** Files or folders removed before committing. */
  remove?: string[];
  /** Commit on this branch: switched to first, created from the current commit if new. Later commits stay on it. */
  branch?: string;
  /** Tag the new commit: a name (lightweight) or `{ name, annotated: true }`. */
  tag?: string | { name: string; annotated?: boolean; message?: string };
  message?: string;
}

export interface UpstreamOptions {
  /** Make `dir` a bare repository (commits are prepared in a sibling `<dir>.worktree`). */
  bare?: boolean;
  /** Default branch name (HEAD of the upstream); 'main' unless given. */
  defaultBranch?: string;
  /** Let clients use partial-clone filters (`uploadpack.allowFilter`), as GitHub does. */
  allowFilter?: boolean;
}

export interface Upstream {
  /** The repository a source names: the work tree root, or the bare repository. */
  dir: string;
  /** `dir`, the form a local-path source uses. */
  url: string;
  /** `file://…` form of the same repository. */
  fileUrl: string;
  bare: boolean;
  gitDir: string;
  /** Where commits are prepared (`dir` itself unless bare). */
  workTree: string;
  defaultBranch: string;
  /** The branch the next commit goes to. */
  currentBranch: string;
  /** Every commit made, in order (one per makeUpstream entry and commitUpstream call). */
  shas: string[];
  /** Tag name → the commit it points to (annotated tags peeled). */
  tags: Record<string, string>;
  /** Branch name → its current head. */
  branches: Record<string, string>;
}

const made: string[] = [];
const daemons = new Set<GitDaemon>();
// Registered when this module is first imported, so it runs at the end of the importing test file.
after(async () => {
  for (const daemon of daemons) await daemon.close();
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed when the test file ends. */
export function upstreamTempDir(prefix = 'ak-upstream-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Creates the repository at `dir` (which must not exist or be empty) and makes `commits` in order. */
export function makeUpstream(
  dir: string,
  commits: UpstreamCommit[],
  options: UpstreamOptions = {},
): Upstream {
  const bare = options.bare ?? false;
  const defaultBranch = options.defaultBranch ?? 'main';
  const gitDir = bare ? dir : path.join(dir, '.git');
  const workTree = bare ? `${dir}.worktree` : dir;
  fs.mkdirSync(workTree, { recursive: true });
  runGit(null, [
    'init',
    '--quiet',
    `--initial-branch=${defaultBranch}`,
    ...(bare ? ['--bare'] : []),
    '--',
    dir,
  ]);
  const up: Upstream = {
    dir,
    url: dir,
    fileUrl: pathToFileURL(dir).href,
    bare,
    gitDir,
    workTree,
    defaultBranch,
    currentBranch: defaultBranch,
    shas: [],
    tags: {},
    branches: {},
  };
  if (options.allowFilter) gitIn(up, ['config', 'uploadpack.allowFilter', 'true']);
  for (const commit of commits) commitUpstream(up, commit);
  return up;
}

/** Makes one more commit in `up` and returns its sha. */
export function commitUpstream(up: Upstream, commit: UpstreamCommit): string {
  if (commit.branch !== undefined && commit.branch !== up.currentBranch) {
    const exists = up.branches[commit.branch] !== undefined;
    if (up.shas.length === 0) gitIn(up, ['symbolic-ref', 'HEAD', `refs/heads/${commit.branch}`]);
    else gitIn(up, ['checkout', '--quiet', ...(exists ? [] : ['-b']), commit.branch]);
    up.currentBranch = commit.branch;
  }
  for (const rel of commit.remove ?? [])
    fs.rmSync(path.join(up.workTree, rel), { recursive: true, force: true });
  for (const [rel, file] of Object.entries(commit.files ?? {}))
    writeUpstreamFile(path.join(up.workTree, rel), file);
  gitIn(up, ['add', '--all']);
  const seconds = 1_700_000_000 + up.shas.length;
  gitIn(up, ['commit', '--quiet', '--allow-empty', '-m', commit.message ?? `commit ${up.shas.length + 1}`], {
    GIT_AUTHOR_DATE: `${seconds} +0000`,
    GIT_COMMITTER_DATE: `${seconds} +0000`,
  });
  const sha = gitIn(up, ['rev-parse', 'HEAD']).trim();
  up.shas.push(sha);
  up.branches[up.currentBranch] = sha;
  if (commit.tag !== undefined) {
    const tag = typeof commit.tag === 'string' ? { name: commit.tag } : commit.tag;
    const annotated = 'annotated' in tag && tag.annotated === true;
    const message = ('message' in tag ? tag.message : undefined) ?? `release ${tag.name}`;
    gitIn(up, ['tag', ...(annotated ? ['-a', '-m', message] : []), '--', tag.name, sha], {
      GIT_COMMITTER_DATE: `${seconds} +0000`,
    });
    up.tags[tag.name] = sha;
  }
  return sha;
}

export interface GitDaemon {
  /** The loopback port it listens on. */
  port: number;
  /** `git://127.0.0.1:<port>/<path of the repository below the served root>`. */
  url(up: Upstream): string;
  close(): Promise<void>;
}

/** Starts `git daemon` exporting every repository below `root`; stopped by `close()` or when the test file ends. */
export async function serveUpstreams(root: string): Promise<GitDaemon> {
  const port = await freePort();
  const daemon = spawn(
    'git',
    [
      'daemon',
      '--reuseaddr',
      '--listen=127.0.0.1',
      `--port=${port}`,
      `--base-path=${root}`,
      '--export-all',
      '--informative-errors',
      '--verbose',
      root,
    ],
    { env: cleanGitEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`git daemon did not start: ${output}`)), 10_000);
    daemon.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to rumble')) {
        clearTimeout(timer);
        resolve();
      }
    });
    daemon.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`git daemon exited (${code}): ${output}`));
    });
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= daemon.exitCode === null ? (daemon.kill('SIGTERM'), exited) : Promise.resolve();
    return closed;
  };
  const served: GitDaemon = {
    port,
    url: (up) => `git://127.0.0.1:${port}/${path.relative(root, up.dir).split(path.sep).join('/')}`,
    close,
  };
  daemons.add(served);
  return served;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs git in the upstream (with its work tree) and returns stdout; throws on a non-zero exit. */
export function gitIn(up: Upstream, args: string[], env: Record<string, string> = {}): string {
  return runGit(up, args, env);
}

function writeUpstreamFile(abs: string, file: UpstreamFile): void {
  fs.rmSync(abs, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  if (typeof file === 'object' && !Buffer.isBuffer(file) && 'symlink' in file) {
    fs.symlinkSync(file.symlink, abs);
    return;
  }
  const content = typeof file === 'string' || Buffer.isBuffer(file) ? file : file.content;
  const executable = typeof file === 'object' && !Buffer.isBuffer(file) && file.executable === true;
  fs.writeFileSync(abs, content, { mode: executable ? 0o755 : 0o644 });
  fs.chmodSync(abs, executable ? 0o755 : 0o644);
}

/** Neither the user's nor the system's config, nor any GIT_* variable of the calling process. */
function cleanGitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  return env;
}

function runGit(up: Upstream | null, args: string[], extraEnv: Record<string, string> = {}): string {
  const env = cleanGitEnv();
  Object.assign(env, {
    GIT_AUTHOR_NAME: 'Upstream Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Upstream Author',
    GIT_COMMITTER_EMAIL: 'author@example.com',
    ...extraEnv,
  });
  const location = up ? [`--git-dir=${up.gitDir}`, `--work-tree=${up.workTree}`] : [];
  const result = spawnSync('git', ['-c', 'core.autocrlf=false', ...location, ...args], {
    cwd: up?.workTree ?? os.tmpdir(),
    env,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(
      `git ${args.join(' ')} failed (${result.status}): ${result.stderr || result.error?.message}`,
    );
  }
  return result.stdout;
}
