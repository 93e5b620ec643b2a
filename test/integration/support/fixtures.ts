/**
 * Real collections and real upstreams for the integration tests, built in temp folders: upstream git
 * repositories made with plain `git`, collections made and filled by the real CLI (`dist/cli.js`, a
 * separate process, so its writer lock is a foreign one as far as the extension is concerned).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAt } from '../../support/files.js';

/** The repository root, from out/test/integration/support. */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const CLI = path.join(REPO_ROOT, 'dist/cli.js');
const LOCK_CHILD = path.join(REPO_ROOT, 'out/test/unit/support/lockChild.js');

const made: string[] = [];

export function tempDir(prefix = 'ak-it-'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Upstream Author',
  GIT_AUTHOR_EMAIL: 'upstream@example.invalid',
  GIT_COMMITTER_NAME: 'Upstream Author',
  GIT_COMMITTER_EMAIL: 'upstream@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
};

export function git(cwd: string, ...args: string[]): string {
  const result = spawnSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgSign=false', ...args], {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${result.stderr}`);
  return result.stdout.trim();
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`node dist/cli.js …`) in a child process. */
export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export function cliOk(args: string[], env: Record<string, string> = {}): string {
  const result = cli(args, env);
  if (result.status !== 0)
    throw new Error(
      `artifact-keeper ${args.join(' ')} exited ${result.status}: ${result.stderr}${result.stdout}`,
    );
  return result.stdout;
}

/** Writes files below `root`; `null` deletes one. */
export function writeFiles(root: string, files: Record<string, string | null>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    if (content === null) {
      fs.rmSync(abs, { force: true });
      continue;
    }
    writeFileAt(root, rel, content);
  }
}

export function read(root: string, rel: string): string {
  return fs.readFileSync(path.join(root, rel), 'utf8');
}

export interface Upstream {
  dir: string;
  /** Writes the files, commits, optionally tags; returns the commit sha. */
  commit(files: Record<string, string | null>, message: string, tag?: string): string;
}

export function makeUpstream(files: Record<string, string | null>): Upstream {
  const dir = tempDir('ak-upstream-');
  git(dir, 'init', '-q');
  const upstream: Upstream = {
    dir,
    commit(changes, message, tag) {
      writeFiles(dir, changes);
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', message);
      if (tag) git(dir, 'tag', tag);
      return git(dir, 'rev-parse', 'HEAD');
    },
  };
  upstream.commit(files, 'first version', 'v1.0.0');
  return upstream;
}

export function makeCollection(name = 'test-collection'): string {
  const dir = path.join(tempDir('ak-collection-'), name);
  fs.mkdirSync(dir);
  cliOk(['init', '--name', name, '--collection', dir]);
  return dir;
}

/** SKILL.md of the sample skill; `notes` and `usage` are the two lines the scenarios edit. */
export function skillMd(usage: string, notes: string): string {
  return [
    '---',
    'name: pdf',
    'description: Read, fill and split PDF files.',
    '---',
    '# PDF',
    '',
    '## Usage',
    usage,
    '',
    '## Limits',
    'Files up to 100 MB.',
    '',
    '## Notes',
    notes,
    '',
  ].join('\n');
}

export const V1 = {
  'skills/pdf/SKILL.md': skillMd('Use the pdf tool.', 'Version one notes.'),
  'skills/pdf/reference.md': 'Reference, version one.\n',
  'commands/review.md': '---\ndescription: Review a change\n---\nReview the change carefully.\n',
};

export const V2 = {
  'skills/pdf/SKILL.md': skillMd('Use the pdf tool.', 'Version two notes.'),
  'skills/pdf/reference.md': 'Reference, version two.\n',
  'skills/pdf/scripts/extract.sh': '#!/bin/sh\necho extract\n',
};

export type LocalEdit = 'none' | 'separate' | 'conflict';

export interface Scenario {
  collection: string;
  upstream: Upstream;
  skill: string;
  v1: string;
  v2: string;
}

/**
 * A collection holding skill/pdf and command/review from an upstream at v1, optionally with a local edit
 * of the skill, and an upstream that has moved on to v2 (which changes the skill only).
 */
export function outdatedCollection(edit: LocalEdit = 'none', name = 'test-collection'): Scenario {
  const upstream = makeUpstream(V1);
  const v1 = git(upstream.dir, 'rev-parse', 'HEAD');
  const collection = makeCollection(name);
  cliOk(['add', `${upstream.dir}#skills/pdf`, '--collection', collection]);
  cliOk(['add', `${upstream.dir}#commands/review.md`, '--collection', collection]);
  const skill = path.join(collection, 'skills/pdf');
  if (edit === 'separate')
    writeFiles(collection, {
      'skills/pdf/SKILL.md': skillMd(
        'Use the pdf tool, and check the page count first.',
        'Version one notes.',
      ),
    });
  if (edit === 'conflict')
    writeFiles(collection, {
      'skills/pdf/SKILL.md': skillMd('Use the pdf tool.', 'My own notes about PDFs.'),
    });
  const v2 = upstream.commit(V2, 'second version', 'v2.0.0');
  return { collection, upstream, skill, v1, v2 };
}

/** Another process holding the collection's writer lock until `release()`. */
export async function holdWriterLock(collection: string): Promise<{ pid: number; release(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [LOCK_CHILD, 'hold', collection], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return {
    pid: child.pid ?? 0,
    release: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

export function lockEntry(collection: string, name: string): string {
  const text = read(collection, 'collection.lock');
  const start = text.indexOf(`"${name}::`);
  return start < 0
    ? ''
    : text.slice(start, text.indexOf('\n[', start) < 0 ? undefined : text.indexOf('\n[', start));
}
