/**
 * Tests for src/core/ports/git.ts: the version gate (missing, too old, not git) with nothing written, the
 * scrubbed environment, argument guards, fault injection and the persistent cat-file reader; the upstream
 * flavour's environment (the user's, minus repository redirections, plus the owner mark), its exit codes as
 * outcomes, its fault hook and its cancellation.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/core/base/changes.js';
import { CoreError } from '../../src/core/base/errors.js';
import { FaultPlan } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import {
  assertObjectId,
  assertRefName,
  checkGitVersion,
  compareVersions,
  createGit,
  createUpstreamGit,
  gitEnvironment,
  upstreamEnvironment,
} from '../../src/core/ports/git.js';
import { OWNER_ENV, ownerMark } from '../../src/core/ports/processes.js';
import { rememberGitVersionsIn } from '../../src/core/ports/gitVersionMemo.js';
import { objectId } from '../../src/core/store/gitObjects.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import { tempDir } from './support/collections.js';
import { coreErrorOf } from './support/coreErrors.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

/** A folder (`dir`, else a new one) holding an executable `git` that runs `script` (a sh body). */
function fakeGit(script: string, dir = tempDir('ak-fake-git-')): string {
  fs.writeFileSync(path.join(dir, 'git'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return dir;
}

void describe('checkGitVersion', () => {
  void it('accepts the installed git', async () => {
    const version = await checkGitVersion();
    assert.ok(compareVersions(version, '2.30.0') >= 0, version);
  });

  const cases: [string, () => NodeJS.ProcessEnv, string, Record<string, string>?][] = [
    [
      'git 2.20',
      () => ({ PATH: fakeGit('echo "git version 2.20.0"') }),
      'git-too-old',
      { version: '2.20.0' },
    ],
    [
      'git 2.29.9 (Apple)',
      () => ({ PATH: fakeGit('echo "git version 2.29.9 (Apple Git-128)"') }),
      'git-too-old',
    ],
    ['an empty PATH', () => ({ PATH: '' }), 'git-missing'],
    ['a PATH without git', () => ({ PATH: tempDir() }), 'git-missing'],
    ['a "git" that is not git', () => ({ PATH: fakeGit('echo hello; exit 0') }), 'git-missing'],
    ['a git that fails', () => ({ PATH: fakeGit('echo broken >&2; exit 3') }), 'git-missing'],
  ];
  for (const [what, env, code, fields] of cases) {
    void it(`refuses ${what} with ${code}, and opening a store writes nothing`, async () => {
      const environment = env();
      const err = await coreErrorOf(checkGitVersion({ env: environment }));
      assert.equal(err.failure.code, code);
      if (fields) assert.deepEqual({ ...err.failure, code: undefined }, { ...fields, code: undefined });
      assert.match(err.message, /git/);

      const collection = tempDir();
      fs.writeFileSync(path.join(collection, 'collection.toml'), '');
      const failure = await coreErrorOf(
        openSnapshotStore(collection, { fs: nodeFs, logger: silentLogger, git: { env: environment } }),
      );
      assert.equal(failure.failure.code, code);
      assert.deepEqual(fs.readdirSync(collection), ['collection.toml'], 'nothing written');
    });
  }

  void it('orders versions numerically', () => {
    assert.ok(compareVersions('2.30.0', '2.4.0') > 0);
    assert.equal(compareVersions('2.30', '2.30.0'), 0);
    assert.ok(compareVersions('1.99.99', '2.0.0') < 0);
  });
});

void describe('the git version memo (across processes)', () => {
  /** A `git` in `dir` that logs each start to `log`, then runs `body`. */
  const loggingGit = (dir: string, log: string, body: string): string =>
    fakeGit(`echo start >> "${log}"\n${body}`, dir);
  const starts = (log: string): number =>
    fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
  // Each call gets a PATH of its own (one more empty folder), so only the memo on disk can spare the start.
  const pathFor = (bin: string, realGitDirs: string): string =>
    [bin, tempDir('ak-path-'), realGitDirs].join(path.delimiter);

  void it('asks git once per executable, again when the executable changes, and never remembers a failure', async () => {
    const memo = path.join(tempDir('ak-memo-'), 'cache', 'git-versions.json');
    const bin = tempDir('ak-logging-git-');
    const log = path.join(tempDir(), 'starts.log');
    // The real git's folders, for the script to run it from.
    const real = (process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((dir) => dir !== bin)
      .join(path.delimiter);
    loggingGit(bin, log, `PATH="${real}" exec git "$@"`);
    rememberGitVersionsIn(memo);
    try {
      const first = await checkGitVersion({ env: { PATH: pathFor(bin, real) } });
      assert.equal(starts(log), 1);
      assert.ok(fs.existsSync(memo), 'the version is remembered');
      assert.equal(await checkGitVersion({ env: { PATH: pathFor(bin, real) } }), first);
      assert.equal(starts(log), 1, 'a new process with the same git does not start it');

      // Another executable at the same path (an upgrade): asked again.
      loggingGit(bin, log, `PATH="${real}" exec git "$@" # upgraded`);
      assert.equal(await checkGitVersion({ env: { PATH: pathFor(bin, real) } }), first);
      assert.equal(starts(log), 2);

      // Too old: refused every time, never remembered.
      loggingGit(bin, log, 'echo "git version 2.20.0"');
      for (let i = 0; i < 2; i++) {
        const err = await coreErrorOf(checkGitVersion({ env: { PATH: pathFor(bin, real) } }));
        assert.equal(err.failure.code, 'git-too-old');
      }
      assert.equal(starts(log), 4);

      // A torn memo is only a miss.
      loggingGit(bin, log, `PATH="${real}" exec git "$@"`);
      fs.writeFileSync(memo, '{"torn');
      assert.equal(await checkGitVersion({ env: { PATH: pathFor(bin, real) } }), first);
      assert.equal(starts(log), 5);
      assert.equal(await checkGitVersion({ env: { PATH: pathFor(bin, real) } }), first);
      assert.equal(starts(log), 5);
    } finally {
      rememberGitVersionsIn(undefined);
    }
    // Without a memo file (the extension, the tests), every new PATH asks git.
    await checkGitVersion({ env: { PATH: pathFor(bin, real) } });
    assert.equal(starts(log), 6);
  });
});

void describe('the git port', () => {
  void it('ignores GIT_* variables, editors and pagers from the calling environment', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const decoy = tempDir();
    const env = {
      ...process.env,
      GIT_DIR: decoy,
      GIT_WORK_TREE: decoy,
      GIT_INDEX_FILE: path.join(decoy, 'index'),
      GIT_OBJECT_DIRECTORY: path.join(decoy, 'objects'),
      EDITOR: 'vim',
      PAGER: 'less',
    };
    const scrubbed = gitEnvironment({ gitDir: repo, env });
    assert.equal(scrubbed.GIT_DIR, repo);
    assert.equal(scrubbed.GIT_INDEX_FILE, undefined);
    assert.equal(scrubbed.GIT_OBJECT_DIRECTORY, undefined);
    assert.equal(scrubbed.EDITOR, undefined);
    // The owner mark, by which a killed writer's orphaned git children are found (processes.ts).
    assert.equal(scrubbed[OWNER_ENV], ownerMark());
    assert.match(ownerMark(), new RegExp(`^${process.pid}:\\d*$`));

    const git = createGit({ gitDir: repo, env });
    await git.pipe(['init', '--bare', '--quiet']);
    const blob = (await git.pipe(['hash-object', '-w', '--stdin'], { input: 'hello\n' })).stdout
      .toString()
      .trim();
    assert.equal(blob, 'ce013625030ba8dba906f756967f9e9ca394464a');
    assert.ok(fs.existsSync(path.join(repo, 'objects', 'ce', '013625030ba8dba906f756967f9e9ca394464a')));
    assert.deepEqual(fs.readdirSync(decoy), [], 'the decoy repository got nothing');
    assert.equal(
      (await git.run(['cat-file', '-t', blob])).trim(),
      'blob',
      'simple-git runs despite EDITOR/PAGER',
    );
  });

  void it('leaves no timer behind a finished command (one would hold a CLI process open after its work)', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const git = createGit({ gitDir: repo });
    await git.pipe(['init', '--bare', '--quiet']);
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    assert.equal((await git.run(['rev-parse', '--is-bare-repository'])).trim(), 'true');
    assert.equal(timers(), before);
  });

  void it('feeds chunks to stdin as git takes them, in order, past the pipe’s buffer', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const git = createGit({ gitDir: repo });
    await git.pipe(['init', '--bare', '--quiet']);
    // 4 MiB in 64 chunks: far more than a pipe holds, so the feed must wait for git to drain it.
    const chunks = Array.from({ length: 64 }, (_, i) => randomBytes(64 * 1024).fill(i, 0, 1));
    let made = 0;
    function* lazily(): Generator<Buffer> {
      for (const chunk of chunks) {
        made++;
        yield chunk;
      }
    }
    const sha = (await git.pipe(['hash-object', '--stdin'], { input: lazily() })).stdout.toString().trim();
    assert.equal(made, 64);
    assert.equal(sha, objectId('blob', Buffer.concat(chunks)));
  });

  void it('fails with the chunk source’s own error when it throws, after git has exited', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const git = createGit({ gitDir: repo });
    await git.pipe(['init', '--bare', '--quiet']);
    function* broken(): Generator<Buffer> {
      yield Buffer.from('PACK');
      throw new Error('the third object could not be read');
    }
    await assert.rejects(git.pipe(['unpack-objects', '-q'], { input: broken() }), {
      message: 'the third object could not be read',
    });
    assert.deepEqual(fs.readdirSync(path.join(repo, 'objects')).sort(), ['info', 'pack']);
  });

  void it('reports a failing command as git-failed with git’s first stderr line', async () => {
    const git = createGit({ gitDir: path.join(tempDir(), 'missing.git') });
    const viaRun = await coreErrorOf(git.run(['rev-parse', '--verify', 'HEAD']));
    assert.equal(viaRun.failure.code, 'git-failed');
    const viaPipe = await coreErrorOf(
      git.pipe(['cat-file', '-t', 'ce013625030ba8dba906f756967f9e9ca394464a']),
    );
    assert.deepEqual(
      {
        code: viaPipe.failure.code,
        command: viaPipe.failure.code === 'git-failed' ? viaPipe.failure.command : '',
      },
      { code: 'git-failed', command: 'cat-file' },
    );
    const allowed = await git.pipe(['cat-file', '-e', 'ce013625030ba8dba906f756967f9e9ca394464a'], {
      okExitCodes: [0, 1, 128],
    });
    assert.notEqual(allowed.exitCode, 0);
  });

  void it('fails the n-th git process of a fault plan, before it starts', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const fault = new FaultPlan([{ op: 'git', nth: 2, errno: 'EIO' }]);
    const git = createGit({ gitDir: repo, fault });
    await git.pipe(['init', '--bare', '--quiet']);
    const err = await coreErrorOf(git.run(['count-objects']));
    assert.equal(err.failure.code, 'git-failed');
    assert.match(err.message, /EIO/);
    assert.equal(fault.fired?.nth, 2);
    await git.run(['count-objects']);
    assert.deepEqual(
      fault.calls.map((c) => c.path),
      ['init --bare --quiet', 'count-objects', 'count-objects'],
    );
  });

  void it('upstream access keeps the user’s environment but no repository redirection, and carries the owner mark', () => {
    const repo = path.join(tempDir(), 'w.git');
    const decoy = tempDir();
    const env = {
      ...process.env,
      GIT_DIR: decoy,
      GIT_WORK_TREE: decoy,
      GIT_OBJECT_DIRECTORY: path.join(decoy, 'objects'),
      GIT_SSH_COMMAND: 'ssh -i key',
      EDITOR: 'vim',
    };
    const upstream = upstreamEnvironment({ gitDir: repo, env });
    assert.equal(upstream.GIT_DIR, repo);
    assert.equal(upstream.GIT_WORK_TREE, undefined);
    assert.equal(upstream.GIT_OBJECT_DIRECTORY, undefined);
    // Credentials and ssh setup keep working for upstreams, unlike the scrubbed environment above.
    assert.equal(upstream.GIT_SSH_COMMAND, 'ssh -i key');
    assert.equal(upstream.EDITOR, 'vim');
    assert.equal(upstream.GIT_ALLOW_PROTOCOL, 'file:git:http:https:ssh');
    assert.equal(upstream.LC_ALL, 'C');
    assert.equal(upstream[OWNER_ENV], ownerMark());
  });

  void it('upstream commands report exit codes as outcomes, meet the fault hook and cancel', async () => {
    const gitDir = path.join(tempDir(), 'w.git');
    const fault = new FaultPlan([{ op: 'git', nth: 1, errno: 'EIO', pathIncludes: 'fetch' }]);
    const git = createUpstreamGit({ gitDir, fault });
    assert.equal((await git.exec(['init', '--quiet', '--bare'])).exitCode, 0);
    const missing = await git.exec(['rev-parse', '--verify', '--quiet', 'HEAD']);
    assert.notEqual(missing.exitCode, 0);
    const faulted = await coreErrorOf(git.exec(['fetch', '--', 'origin']));
    assert.equal(faulted.failure.code, 'git-failed');
    assert.match(faulted.message, /EIO/);
    assert.deepEqual(
      fault.calls.map((c) => c.path),
      ['init --quiet --bare', 'rev-parse --verify --quiet HEAD', 'fetch -- origin'],
    );
    const noGit = createUpstreamGit({ gitDir, binary: path.join(tempDir(), 'no-such-git') });
    assert.equal((await coreErrorOf(noGit.exec(['version']))).failure.code, 'git-missing');
    const controller = new AbortController();
    const slow = createUpstreamGit({ gitDir, binary: path.join(fakeGit('sleep 30'), 'git') });
    const started = Date.now();
    const running = coreErrorOf(slow.exec(['fetch'], { signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    assert.equal((await running).failure.code, 'cancelled');
    assert.ok(Date.now() - started < 10_000, 'the sleeping child was killed with its process group');
  });

  void it('guards ids and ref names so user text never becomes an option', () => {
    assert.throws(() => assertObjectId('--upload-pack=touch /tmp/x'), CoreError);
    assert.throws(() => assertObjectId('HEAD'), CoreError);
    assert.equal(assertObjectId('a'.repeat(40)), 'a'.repeat(40));
    for (const bad of ['-d', 'refs/../x', 'refs/a b', 'refs/x.lock', 'HEAD', 'refs/a//b', 'refs/a~1']) {
      assert.throws(() => assertRefName(bad), CoreError, bad);
    }
    assert.equal(assertRefName('refs/upstream/skill/caf%C3%A9'), 'refs/upstream/skill/caf%C3%A9');
  });

  void it('reads many objects through one cat-file process, in order, and says when one is missing', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const git = createGit({ gitDir: repo });
    await git.pipe(['init', '--bare', '--quiet']);
    const big = Buffer.alloc(300_000, 'x');
    const shas: string[] = [];
    for (const content of ['a\n', big.toString(), 'with\nnewlines\n\n', '']) {
      shas.push(
        (await git.pipe(['hash-object', '-w', '--stdin'], { input: content })).stdout.toString().trim(),
      );
    }
    const reader = git.openObjectReader();
    try {
      const results = await Promise.all(
        [...shas, 'f'.repeat(40), shas[0] as string].map((s) => reader.read(s)),
      );
      assert.deepEqual(
        results.map((r) => r?.data.length),
        [2, 300_000, 15, 0, undefined, 2],
      );
      assert.equal(results[2]?.data.toString(), 'with\nnewlines\n\n');
      assert.equal(results[0]?.type, 'blob');
    } finally {
      reader.close();
    }
    await assert.rejects(reader.read(shas[0] as string));
  });

  void it('reads what one of our refs points at through the same reader, and guards the ref name', async () => {
    const repo = path.join(tempDir(), 'r.git');
    const git = createGit({ gitDir: repo });
    await git.pipe(['init', '--bare', '--quiet']);
    const blob = (await git.pipe(['hash-object', '-w', '--stdin'], { input: 'x\n' })).stdout
      .toString()
      .trim();
    const tree = (await git.pipe(['mktree'], { input: `100644 blob ${blob}\tx.md\n` })).stdout
      .toString()
      .trim();
    const commit = (await git.pipe(['commit-tree', tree, '-m', 'one'])).stdout.toString().trim();
    await git.pipe(['update-ref', 'refs/upstream/skill/x', commit]);
    const reader = git.openObjectReader();
    try {
      const found = await reader.readRef('refs/upstream/skill/x');
      assert.equal(found?.type, 'commit');
      assert.match(found?.data.toString() ?? '', new RegExp(`^tree ${tree}\n`));
      assert.equal(await reader.readRef('refs/upstream/skill/none'), undefined);
      // A revision expression or an option never reaches git.
      await assert.rejects(async () => reader.readRef('HEAD'), CoreError);
      await assert.rejects(async () => reader.readRef('refs/upstream/skill/x~1'), CoreError);
    } finally {
      reader.close();
    }
  });
});
