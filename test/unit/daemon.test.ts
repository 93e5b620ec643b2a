import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
  statusRequestFor,
} from '../../src/cli/daemonSocket.js';
import { copySharedFixture, REPO_ROOT, tempDir } from './support/collections.js';

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
}

function daemonState(dir: string): DaemonState {
  const result = run(['daemon', 'status', '--collection', dir, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as DaemonState;
}

function startDaemon(dir: string, extra: string[] = []): number {
  const result = run(['daemon', 'start', '--collection', dir, '--json', ...extra]);
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

describe('which statuses the launcher asks a daemon', () => {
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
      const asked = statusRequestFor(argv, '/', {}, BUNDLE);
      assert.equal(asked?.socket, socket, argv.join(' '));
      assert.equal(asked?.request.kind, 'status');
    }
    const fromInside = statusRequestFor(['status'], dir, {}, BUNDLE);
    assert.deepEqual(fromInside?.request, {
      protocol: DAEMON_PROTOCOL,
      kind: 'status',
      build: bundleBuild(BUNDLE),
      collection: dir,
      json: false,
    });
  });

  it('not another command or flag, not under an ARTIFACT_KEEPER_ setting, not without a socket', () => {
    assert.equal(statusRequestFor(['check', '-C', dir], '/', {}, BUNDLE), undefined);
    assert.equal(statusRequestFor(['status', '-C', dir, '--project', '/p'], '/', {}, BUNDLE), undefined);
    assert.equal(statusRequestFor(['status', '-C', dir, '--json', '--json'], '/', {}, BUNDLE), undefined);
    assert.equal(
      statusRequestFor(['status', '-C', dir], '/', { ARTIFACT_KEEPER_NOW: '0' }, BUNDLE),
      undefined,
    );
    assert.equal(
      statusRequestFor(['status', '-C', dir], '/', { ARTIFACT_KEEPER_NO_DAEMON: '1' }, BUNDLE),
      undefined,
    );
    assert.equal(statusRequestFor(['status', '-C', tempDir()], '/', {}, BUNDLE), undefined);
  });

  it('not through a socket path that is a file, or a link to a socket elsewhere', () => {
    const copied = copySharedFixture();
    const copiedSocket = daemonSocket(copied) as string;
    fs.mkdirSync(path.dirname(copiedSocket), { recursive: true });
    fs.symlinkSync(socket, copiedSocket);
    assert.equal(statusRequestFor(['status', '-C', copied], '/', {}, BUNDLE), undefined, 'a link');
    fs.rmSync(copiedSocket);
    fs.writeFileSync(copiedSocket, '');
    assert.equal(statusRequestFor(['status', '-C', copied], '/', {}, BUNDLE), undefined, 'a file');
    assert.equal(run(['status', '--collection', copied]).code, 0, 'status runs by itself');
  });
});
