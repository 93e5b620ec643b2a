import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  askDaemon,
  bundleBuild,
  DAEMON_PROTOCOL,
  daemonSocket,
  daemonRequestFor,
  environmentKey,
} from '../../src/cli/daemonSocket.js';
import { readTree } from '../support/files.js';
import { copySharedFixture, REPO_ROOT, tempDir } from './support/collections.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';
import type { Upstream } from './support/upstream.js';

/** The bin as shipped: the daemon answers clients of the built bundle only. Built by `npm run build`. */
const BIN = path.join(REPO_ROOT, 'dist/cli.js');
const BUNDLE = path.join(REPO_ROOT, 'dist/cli-main.js');
const SKILL_MD = 'skills/pdf-tools/SKILL.md';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    input: '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Without the daemon: what the CLI answers by itself. */
function inProcess(args: string[]): Run {
  return run(args, { ARTIFACT_KEEPER_NO_DAEMON: '1' });
}

const started = new Set<number>();
after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

interface DaemonState {
  running: boolean;
  pid?: number;
  answered?: number;
  handedBack?: number;
  recent?: { command: string; ms: number }[];
}

function daemonState(dir: string): DaemonState {
  const result = run(['daemon', 'status', '--collection', dir, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as DaemonState;
}

/** The `cat-file --batch` processes `pid` started that still run. */
function catFilesOf(pid: number): number[] {
  // `ps` exits 1 when it lists nothing.
  return spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line.includes('cat-file --batch'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

function startDaemon(dir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): number {
  const result = run(['daemon', 'start', '--collection', dir, '--json', ...extra], env);
  assert.equal(result.code, 0, result.stderr);
  const { pid } = JSON.parse(result.stdout) as { pid: number };
  started.add(pid);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`still waiting after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A status through the daemon, checked to have been answered by it, and the same without it. */
function statusBoth(dir: string, args: string[] = []): { viaDaemon: Run; alone: Run } {
  const before = daemonState(dir).answered ?? 0;
  const viaDaemon = run(['status', '--collection', dir, ...args]);
  assert.equal(daemonState(dir).answered, before + 1, 'the daemon answered');
  const alone = inProcess(['status', '--collection', dir, ...args]);
  return { viaDaemon, alone };
}

describe('the status daemon', () => {
  it('is built', () => assert.ok(fs.existsSync(BIN), `${BIN} is missing: run npm run build`));

  it('answers status as the CLI does by itself: clean, edited, as JSON, a lock entry gone, a journal left', () => {
    const dir = copySharedFixture();
    startDaemon(dir);

    let { viaDaemon, alone } = statusBoth(dir);
    assert.equal(viaDaemon.code, 0, viaDaemon.stderr);
    assert.deepEqual(viaDaemon, alone);

    fs.appendFileSync(path.join(dir, SKILL_MD), 'my edit\n');
    ({ viaDaemon, alone } = statusBoth(dir));
    assert.equal(viaDaemon.code, 1);
    assert.match(viaDaemon.stdout, /modified/);
    assert.deepEqual(viaDaemon, alone);
    ({ viaDaemon, alone } = statusBoth(dir, ['--json']));
    assert.deepEqual(viaDaemon, alone);

    // The lock changes under the daemon: its loaded collection must not be the answer any more.
    const lockFile = path.join(dir, 'collection.lock');
    const lock = fs.readFileSync(lockFile, 'utf8');
    const firstEntry = lock.indexOf('[lock.entries.');
    assert.ok(firstEntry > 0, 'the fixture lock has entries');
    fs.writeFileSync(lockFile, lock.slice(0, firstEntry));
    ({ viaDaemon, alone } = statusBoth(dir));
    assert.equal(viaDaemon.code, 2, viaDaemon.stdout);
    assert.deepEqual(viaDaemon, alone);

    fs.writeFileSync(lockFile, lock);
    fs.writeFileSync(path.join(dir, '.artifact-keeper', 'journal.json'), '{}\n');
    ({ viaDaemon, alone } = statusBoth(dir));
    assert.equal(viaDaemon.code, 2);
    assert.match(viaDaemon.stdout, /interrupted/);
    assert.deepEqual(viaDaemon, alone);
  });

  it('a daemon killed leaves its socket: status still answers alone, and start replaces it', async () => {
    const dir = copySharedFixture();
    const first = startDaemon(dir);
    process.kill(first, 'SIGKILL');
    await waitFor('the daemon to die', () => !alive(first));
    assert.ok(fs.existsSync(daemonSocket(dir) as string), 'the socket file stays behind');
    const viaStale = run(['status', '--collection', dir]);
    assert.deepEqual(viaStale, inProcess(['status', '--collection', dir]));
    assert.equal(viaStale.code, 0, viaStale.stderr);
    assert.deepEqual(daemonState(dir), { running: false });

    const second = startDaemon(dir);
    assert.notEqual(second, first);
    assert.deepEqual(statusBoth(dir).viaDaemon.code, 0);
  });

  it('answers no client of another build and then stops; answers for no other collection', async () => {
    const dir = copySharedFixture();
    const other = copySharedFixture();
    const pid = startDaemon(dir);
    const socket = daemonSocket(dir) as string;
    const build = bundleBuild(BUNDLE);

    const foreign = await askDaemon(socket, {
      protocol: DAEMON_PROTOCOL,
      kind: 'status',
      build,
      collection: other,
      json: false,
    });
    assert.deepEqual(foreign, { ok: false, reason: 'collection' });
    const ours = await askDaemon(socket, {
      protocol: DAEMON_PROTOCOL,
      kind: 'status',
      build,
      collection: dir,
      json: true,
    });
    assert.equal(ours?.ok, true);

    const older = await askDaemon(socket, {
      protocol: DAEMON_PROTOCOL,
      kind: 'status',
      build: `${build}x`,
      collection: dir,
      json: false,
    });
    assert.deepEqual(older, { ok: false, reason: 'build' });
    await waitFor('the daemon to stop', () => !alive(pid));
    assert.equal(fs.existsSync(socket), false, 'its socket is removed');
  });

  it('stops when asked, when idle, and when its socket is removed', async () => {
    const dir = copySharedFixture();
    const socket = daemonSocket(dir) as string;
    const asked = startDaemon(dir);
    const stop = run(['daemon', 'stop', '--collection', dir]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`daemon stopped \\(pid ${asked}\\)`));
    await waitFor('the stopped daemon to exit', () => !alive(asked));
    assert.equal(fs.existsSync(socket), false);

    const idle = startDaemon(dir, ['--idle-minutes', '0.02']);
    await waitFor('the idle daemon to exit', () => !alive(idle));
    assert.equal(fs.existsSync(socket), false);

    const orphaned = startDaemon(dir);
    fs.rmSync(socket);
    await waitFor('the daemon without a socket to exit', () => !alive(orphaned));
    assert.deepEqual(daemonState(dir), { running: false });
  });

  it('a socket path it cannot listen on is named, and what holds it is left alone', () => {
    const dir = copySharedFixture();
    const socket = daemonSocket(dir) as string;
    fs.mkdirSync(path.join(socket, 'mine'), { recursive: true });
    const foreground = run(['daemon', 'run', '--collection', dir]);
    assert.equal(foreground.code, 69, foreground.stderr);
    assert.match(foreground.stderr, /^artifact-keeper daemon: cannot listen on .*daemon\.sock: /);
    const background = run(['daemon', 'start', '--collection', dir]);
    assert.equal(background.code, 69, background.stderr);
    assert.match(background.stderr, /exited before it answered/);
    assert.ok(fs.statSync(path.join(socket, 'mine')).isDirectory(), 'the folder in the way is kept');
    assert.equal(run(['status', '--collection', dir]).code, 0, 'status runs by itself');
  });

  it('start is refused for a folder that is no collection, and for one too deep for a socket', () => {
    const notOne = tempDir();
    const refused = run(['daemon', 'start', '--collection', notOne]);
    assert.equal(refused.code, 66, refused.stderr);
    assert.equal(fs.existsSync(path.join(notOne, '.artifact-keeper')), false, 'nothing written');

    const deep = path.join(tempDir(), 'a'.repeat(60), 'b'.repeat(40));
    fs.mkdirSync(path.dirname(deep), { recursive: true });
    fs.cpSync(copySharedFixture(), deep, { recursive: true });
    assert.equal(daemonSocket(deep), undefined);
    const tooDeep = run(['daemon', 'start', '--collection', deep]);
    assert.equal(tooDeep.code, 69);
    assert.match(tooDeep.stderr, /too deep for a Unix socket/);
    assert.equal(run(['status', '--collection', deep]).code, 0, 'status runs by itself there');
  });
});

describe('which commands the launcher asks a daemon', () => {
  const dir = copySharedFixture();
  const socket = daemonSocket(dir) as string;
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  const listening = net.createServer();
  before(async () => {
    listening.listen(socket);
    await once(listening, 'listening');
  });
  after(() => listening.close());

  it('status with --json and --collection, from any folder, by any spelling', () => {
    for (const argv of [
      ['status', '--collection', dir],
      ['status', '-C', dir, '--json'],
      ['status', `--collection=${dir}`],
    ]) {
      const asked = daemonRequestFor(argv, '/', {}, BUNDLE);
      assert.equal(asked?.socket, socket, argv.join(' '));
      assert.equal(asked?.request.kind, 'status');
    }
    const fromInside = daemonRequestFor(['status'], dir, {}, BUNDLE);
    assert.deepEqual(fromInside?.request, {
      protocol: DAEMON_PROTOCOL,
      kind: 'status',
      build: bundleBuild(BUNDLE),
      collection: dir,
      json: false,
    });
  });

  it('not another command or flag, not under an ARTIFACT_KEEPER_ setting, not without a socket', () => {
    assert.equal(daemonRequestFor(['check', '-C', dir], '/', {}, BUNDLE), undefined);
    assert.equal(daemonRequestFor(['status', '-C', dir, '--project', '/p'], '/', {}, BUNDLE), undefined);
    assert.equal(daemonRequestFor(['status', '-C', dir, '--json', '--json'], '/', {}, BUNDLE), undefined);
    assert.equal(
      daemonRequestFor(['status', '-C', dir], '/', { ARTIFACT_KEEPER_NOW: '0' }, BUNDLE),
      undefined,
    );
    assert.equal(
      daemonRequestFor(['status', '-C', dir], '/', { ARTIFACT_KEEPER_NO_DAEMON: '1' }, BUNDLE),
      undefined,
    );
    assert.equal(daemonRequestFor(['status', '-C', tempDir()], '/', {}, BUNDLE), undefined);
  });

  it("update with its arguments as given, the client's folder, environment and terminal", () => {
    const env = { HOME: '/home/someone', PATH: '/usr/bin' };
    const asked = daemonRequestFor(
      ['update', 'pdf', '--strategy', 'merge', '-C', dir],
      '/tmp',
      env,
      BUNDLE,
      () => true,
    );
    assert.equal(asked?.socket, socket);
    assert.deepEqual(asked?.request, {
      protocol: DAEMON_PROTOCOL,
      kind: 'run',
      build: bundleBuild(BUNDLE),
      collection: dir,
      command: 'update',
      argv: ['pdf', '--strategy', 'merge', '-C', dir],
      cwd: '/tmp',
      environment: environmentKey(env, process.umask()),
      terminal: true,
    });
    assert.equal(daemonRequestFor(['update', '--all'], dir, env, BUNDLE)?.request.kind, 'run', 'from inside');
    // What a command may read differs: another key. The shell's own bookkeeping does not count.
    const key = (e: NodeJS.ProcessEnv, umask = 0o022): string => environmentKey(e, umask);
    assert.notEqual(key(env), key({ ...env, GIT_SSH_COMMAND: 'ssh -i other' }));
    assert.notEqual(key(env), key(env, 0o077));
    assert.equal(
      key(env),
      key({ ...env, _: '/usr/bin/artifact-keeper', PWD: '/x', OLDPWD: '/y', SHLVL: '3' }),
    );
    assert.equal(
      daemonRequestFor(['update', 'pdf', '-C', dir], '/', { ARTIFACT_KEEPER_LOG: 'debug' }, BUNDLE),
      undefined,
    );
    assert.equal(daemonRequestFor(['restore', 'latest', '-C', dir], '/', env, BUNDLE), undefined);
    assert.equal(daemonRequestFor(['update', 'pdf', '-C', tempDir()], '/', env, BUNDLE), undefined);
  });

  it('not through a socket path that is a file, or a link to a socket elsewhere', () => {
    const copied = copySharedFixture();
    const copiedSocket = daemonSocket(copied) as string;
    fs.mkdirSync(path.dirname(copiedSocket), { recursive: true });
    fs.symlinkSync(socket, copiedSocket);
    assert.equal(daemonRequestFor(['status', '-C', copied], '/', {}, BUNDLE), undefined, 'a link');
    fs.rmSync(copiedSocket);
    fs.writeFileSync(copiedSocket, '');
    assert.equal(daemonRequestFor(['status', '-C', copied], '/', {}, BUNDLE), undefined, 'a file');
    assert.equal(run(['status', '--collection', copied]).code, 0, 'status runs by itself');
  });
});

/** A skill's SKILL.md with valid front matter and `body`. */
const skill = (body: string): string => `---\nname: pdf\ndescription: PDF tools\n---\n# pdf\n\n${body}\n`;

/**
 * A collection holding skill/pdf from a local upstream that has moved on (SKILL.md changed there), and a
 * copy of it made before anything ran: one for the daemon, one for the CLI by itself.
 */
function twoCollections(): { viaDaemon: string; alone: string; upstream: Upstream } {
  const upstream = makeUpstream(upstreamTempDir(), [
    {
      files: {
        'skills/pdf/SKILL.md': skill('usage: one\n\nnotes: one'),
        'skills/pdf/reference.md': 'ref one\n',
      },
    },
  ]);
  const viaDaemon = path.join(tempDir(), 'team');
  fs.mkdirSync(viaDaemon);
  for (const args of [['init'], ['add', `${upstream.url}#skills/pdf`]]) {
    const done = inProcess([...args, '--collection', viaDaemon]);
    assert.equal(done.code, 0, done.stderr);
  }
  commitUpstream(upstream, { files: { 'skills/pdf/SKILL.md': skill('usage: two\n\nnotes: one') } });
  const alone = path.join(tempDir(), 'team');
  fs.cpSync(viaDaemon, alone, { recursive: true });
  return { viaDaemon, alone, upstream };
}

/** Output with what differs between two runs of the same command (snapshot ids, times) left out. */
const normalized = (result: Run): Run => {
  const strip = (text: string): string =>
    text.replace(/\bs0[0-9a-z]{11}\b/g, '<snapshot>').replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, '<time>');
  return { code: result.code, stdout: strip(result.stdout), stderr: strip(result.stderr) };
};

/** Every file of a collection but our state folder, manifest and lock with their times left out. */
function contentOf(dir: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readTree(dir)).map(([rel, text]) => [
      rel,
      text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, '<time>'),
    ]),
  );
}

/** A `git` that takes 3 s over every `ls-remote`, first in PATH: an update that is surely still running. */
function slowGitPath(): string {
  const bin = tempDir();
  const real = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
  fs.writeFileSync(
    path.join(bin, 'git'),
    `#!/bin/sh\nfor a in "$@"; do [ "$a" = ls-remote ] && sleep 3; done\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  return `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
}

/** Runs the CLI in the background; resolves with its outcome. */
function spawnCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : -2), stdout, stderr })),
  );
  return { child, done };
}

const lockFileOf = (dir: string): string => path.join(dir, '.artifact-keeper', 'writer.lock');

describe('updates through the daemon', () => {
  it('run as the CLI runs them by itself: merged, conflicted, up to date, as JSON; each counted', () => {
    const { viaDaemon, alone } = twoCollections();
    startDaemon(viaDaemon);
    const both = (args: string[], edit?: (dir: string) => void): void => {
      for (const dir of [viaDaemon, alone]) edit?.(dir);
      const before = daemonState(viaDaemon).answered ?? 0;
      const there = run(['update', ...args, '--collection', viaDaemon]);
      assert.equal(daemonState(viaDaemon).answered, before + 1, `the daemon ran update ${args.join(' ')}`);
      const here = inProcess(['update', ...args, '--collection', alone]);
      assert.deepEqual(normalized(there), normalized(here), args.join(' '));
      assert.deepEqual(contentOf(viaDaemon), contentOf(alone));
    };
    // A local edit of another file: merged.
    both(['skill/pdf'], (dir) => fs.appendFileSync(path.join(dir, 'skills/pdf/reference.md'), 'mine\n'));
    assert.match(fs.readFileSync(path.join(viaDaemon, 'skills/pdf/reference.md'), 'utf8'), /mine/);
    both(['skill/pdf', '--json']);
    both(['--all']);
    assert.match(fs.readFileSync(path.join(viaDaemon, 'skills/pdf/SKILL.md'), 'utf8'), /usage: two/);
  });

  it('a conflict is left as the CLI leaves it (exit 3, markers); `--strategy prompt` runs in the client', () => {
    const { viaDaemon, alone, upstream } = twoCollections();
    startDaemon(viaDaemon);
    commitUpstream(upstream, { files: { 'skills/pdf/SKILL.md': skill('usage: three\n\nnotes: one') } });
    for (const dir of [viaDaemon, alone])
      fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), skill('usage: mine\n\nnotes: one'));
    const before = daemonState(viaDaemon).answered ?? 0;
    const there = run(['update', 'skill/pdf', '--collection', viaDaemon]);
    const here = inProcess(['update', 'skill/pdf', '--collection', alone]);
    assert.equal(there.code, 3, there.stderr);
    assert.deepEqual(normalized(there), normalized(here));
    assert.deepEqual(contentOf(viaDaemon), contentOf(alone));
    assert.match(fs.readFileSync(path.join(viaDaemon, 'skills/pdf/SKILL.md'), 'utf8'), /^<<<<<<< /m);

    // A question for the terminal is not run there: the client runs it and says what it says by itself.
    const prompt = run(['update', 'skill/pdf', '--strategy', 'prompt', '--collection', viaDaemon]);
    assert.equal(prompt.code, 64);
    assert.match(prompt.stderr, /--strategy prompt needs a terminal/);
    assert.equal(daemonState(viaDaemon).answered, before + 1, 'the prompt strategy ran in the client');
    const unknown = run(['update', 'skill/pdf', '--strategy', 'sideways', '--collection', viaDaemon]);
    assert.equal(unknown.code, 64);
    assert.match(unknown.stderr, /unknown strategy "sideways"/);
    const help = run(['update', '--help', '--collection', viaDaemon]);
    assert.match(help.stdout, /^usage: artifact-keeper update /);
  });

  it('after an answered update: the next command sees what it wrote, and the parse cache learnt it by then', () => {
    const { viaDaemon, alone } = twoCollections();
    const daemon = startDaemon(viaDaemon);
    const started = performance.now();
    const there = run(['update', 'skill/pdf', '--collection', viaDaemon]);
    const wall = performance.now() - started;
    const ran = daemonState(viaDaemon);
    assert.equal(ran.answered, 1, 'the daemon ran the update');
    assert.equal(there.code, 0, there.stderr);
    // Its time there is shown, and is part of what the client waited.
    assert.equal(ran.recent?.length, 1);
    assert.equal(ran.recent?.[0]?.command, 'update');
    const took = ran.recent?.[0]?.ms ?? -1;
    assert.ok(took > 0 && took < wall, `the daemon's ${took} ms within the client's ${wall} ms`);
    // The store's object reader outlives the update, for the next command to read through.
    const readers = catFilesOf(daemon);
    assert.equal(readers.length, 1, 'one cat-file kept');
    assert.equal(inProcess(['update', 'skill/pdf', '--collection', alone]).code, 0);
    // The status waits for what the update left to write after its answer (the parse cache entry).
    const status = run(['status', '--json', '--collection', viaDaemon]);
    const after = daemonState(viaDaemon);
    assert.equal(after.answered, 2, 'the daemon answered the status');
    assert.deepEqual(
      after.recent?.map((r) => r.command),
      ['update', 'status'],
    );
    assert.match(
      run(['daemon', 'status', '--collection', viaDaemon]).stdout,
      /2 commands answered \(the last, status, in [\d.]+ ms\)/,
    );
    assert.deepEqual(catFilesOf(daemon), readers, 'the same one');
    const own = inProcess(['status', '--json', '--collection', alone]);
    const inFolder = (result: Run, dir: string): Run =>
      normalized({ ...result, stdout: result.stdout.replaceAll(dir, 'DIR') });
    assert.deepEqual(inFolder(status, viaDaemon), inFolder(own, alone));
    const manifest = fs.readFileSync(path.join(viaDaemon, 'collection.toml'));
    const hash = createHash('sha256').update(manifest).digest('hex');
    assert.ok(
      fs.existsSync(path.join(viaDaemon, '.artifact-keeper', `parse-cache-${hash}.json`)),
      'the parse cache holds the manifest the update wrote',
    );
  });

  it('only for a client with its environment: another one runs the update itself', () => {
    const { viaDaemon } = twoCollections();
    startDaemon(viaDaemon);
    const before = daemonState(viaDaemon).answered ?? 0;
    const other = run(['update', 'skill/pdf', '--collection', viaDaemon], { GIT_TRACE2_EVENT_NESTING: '2' });
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /updated skill\/pdf/);
    assert.equal(daemonState(viaDaemon).answered, before, 'not run by the daemon');
  });

  it('Ctrl-C cancels it there as it would here: exit 130, nothing written, the lock released', async () => {
    const { viaDaemon, alone } = twoCollections();
    const PATH = slowGitPath();
    startDaemon(viaDaemon, [], { PATH });
    const outcomes: Run[] = [];
    for (const [dir, extra] of [
      [viaDaemon, {}],
      [alone, { ARTIFACT_KEEPER_NO_DAEMON: '1' }],
    ] as const) {
      const before = contentOf(dir);
      const { child, done } = spawnCli(['update', 'skill/pdf', '--collection', dir], { PATH, ...extra });
      await waitFor('the update to take the writer lock', () => fs.existsSync(lockFileOf(dir)));
      child.kill('SIGINT');
      const result = await done;
      assert.equal(result.code, 130, result.stderr);
      assert.deepEqual(contentOf(dir), before, 'nothing written');
      await waitFor('the writer lock to be released', () => !fs.existsSync(lockFileOf(dir)));
      outcomes.push(normalized(result));
    }
    assert.deepEqual(outcomes[0], outcomes[1]);
    assert.equal(daemonState(viaDaemon).answered, 1, 'the daemon ran the cancelled one');
  });

  it('a client killed while its update runs: the daemon cancels it, and answers the next one', async () => {
    const { viaDaemon } = twoCollections();
    const PATH = slowGitPath();
    const pid = startDaemon(viaDaemon, [], { PATH });
    const before = contentOf(viaDaemon);
    const { child, done } = spawnCli(['update', 'skill/pdf', '--collection', viaDaemon], { PATH });
    await waitFor('the update to take the writer lock', () => fs.existsSync(lockFileOf(viaDaemon)));
    child.kill('SIGKILL');
    await done;
    await waitFor('the writer lock to be released', () => !fs.existsSync(lockFileOf(viaDaemon)));
    assert.deepEqual(contentOf(viaDaemon), before, 'cancelled before anything was written');
    assert.ok(alive(pid), 'the daemon lives on');
    const next = run(['update', 'skill/pdf', '--collection', viaDaemon], { PATH });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /updated skill\/pdf/);
    assert.equal(daemonState(viaDaemon).answered, 2);
  });
});

/**
 * Runs the CLI on a pseudo-terminal (stdin and stdout a terminal, as a person's shell), answering `answer`
 * to its `[y/N]` question: what it printed there, and its exit code.
 */
function onTerminal(args: string[], answer: string): Run {
  const script = [
    'import json, os, pty, sys',
    'pid, fd = pty.fork()',
    'if pid == 0:',
    // This process's environment exactly (a python3 shim may add to its own): the daemon's.
    "    os.execve(sys.argv[1], sys.argv[1:-1], json.loads(os.environ['AK_CHILD_ENV']))",
    "out, answered = b'', False",
    'while True:',
    '    try:',
    '        data = os.read(fd, 4096)',
    '    except OSError:',
    '        break',
    '    if not data:',
    '        break',
    '    out += data',
    "    if not answered and b'[y/N]' in out:",
    "        os.write(fd, sys.argv[-1].encode() + b'\\n')",
    '        answered = True',
    'sys.stdout.buffer.write(out)',
    'sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, process.execPath, BIN, ...args, answer], {
    env: { ...process.env, AK_CHILD_ENV: JSON.stringify(process.env) },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout.replace(/\r\n/g, '\n'), stderr: result.stderr };
}

describe('an update through the daemon that needs a yes', () => {
  it('stops there before writing, and the client asks on its terminal', () => {
    const { viaDaemon, upstream } = twoCollections();
    startDaemon(viaDaemon);
    commitUpstream(upstream, {
      files: { 'skills/pdf/scripts/setup.sh': { content: '#!/bin/sh\necho set up\n', executable: true } },
    });
    const before = contentOf(viaDaemon);
    const { answered, handedBack } = daemonState(viaDaemon);
    assert.equal(handedBack, 0);
    const no = onTerminal(['update', 'skill/pdf', '--collection', viaDaemon], 'n');
    assert.equal(no.code, 6, no.stdout);
    assert.equal(no.stdout.match(/apply these executable changes\? \[y\/N\]/g)?.length, 1, no.stdout);
    assert.equal(no.stdout.match(/^executable changes \(/gm)?.length, 1, 'the findings printed once');
    assert.deepEqual(contentOf(viaDaemon), before, 'nothing written');
    const after = daemonState(viaDaemon);
    assert.deepEqual(
      { answered: after.answered, handedBack: after.handedBack },
      { answered, handedBack: 1 },
      'the daemon took the update and handed it back at the question',
    );

    const yes = onTerminal(['update', 'skill/pdf', '--collection', viaDaemon], 'y');
    assert.equal(yes.code, 0, yes.stdout);
    assert.match(yes.stdout, /updated skill\/pdf/);
    assert.ok(fs.existsSync(path.join(viaDaemon, 'skills/pdf/scripts/setup.sh')));
  });
});
