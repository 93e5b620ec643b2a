/**
 * Plain git for building test upstreams outside node:test (the campaign is an ordinary script): a fixed
 * identity, fixed dates, and neither the user's nor the system's config.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

export function cleanGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GIT_')) env[key] = value;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Upstream Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Upstream Author',
    GIT_COMMITTER_EMAIL: 'author@example.com',
    ...extra,
  };
}

/** Runs git in `cwd` and returns stdout; throws with git's stderr on a non-zero exit. */
export function git(cwd: string | undefined, args: string[], extra: Record<string, string> = {}): string {
  const result = spawnSync('git', ['-c', 'core.autocrlf=false', ...args], {
    cwd: cwd ?? os.tmpdir(),
    env: cleanGitEnv(extra),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(
      `git ${args.join(' ')} failed (${result.status}): ${result.stderr || result.error?.message}`,
    );
  }
  return result.stdout;
}

/** Commits everything in the work tree `dir` at a fixed date, optionally tagging it; returns the sha. */
export function commitAll(dir: string, message: string, seconds: number, tag?: string): string {
  git(dir, ['add', '--all']);
  const date = `${seconds} +0000`;
  git(dir, ['commit', '--quiet', '--allow-empty', '-m', message], {
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
  });
  if (tag) git(dir, ['tag', tag]);
  return git(dir, ['rev-parse', 'HEAD']).trim();
}
