/**
 * Tests for src/core/sources/sources.ts against real git repositories built by support/upstream.ts: parsing real
 * paths, resolving every kind of ref with ls-remote, fetching a folder or a single file (shallow, partial
 * where allowed, with exec bits and symlinks), the fallbacks for servers that refuse a sha, unreachable and
 * vanishing upstreams, cancellation, injection attempts, and that no temp folder is ever left behind.
 * Also that every git process of a resolve or fetch goes through the git port: its fault hook fires
 * (in-process and through the CLI's ARTIFACT_KEEPER_FAULT) and each git child carries the owner mark.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import type { FailureCode } from '../../src/core/base/errors.js';
import {
  fetchSource,
  inferType,
  parseSource,
  resolveSource,
  sourceFromUpstream,
  upstreamString,
} from '../../src/core/sources/sources.js';
import type {
  FetchedSource,
  GitSource,
  RemoteSource,
  ResolvedSource,
} from '../../src/core/sources/sources.js';
import { FaultPlan } from '../../src/core/ports/faults.js';
import { OWNER_ENV, ownerMark } from '../../src/core/ports/processes.js';
import { makeWorkspace } from '../../src/core/ports/tempSpace.js';
import { PATH_MAX } from '../../src/core/model/artifact.js';
import { entryProblem, validateArtifact } from '../../src/core/model/validate.js';
import type { EntryKind } from '../../src/core/model/validate.js';
import { runCli, tempDir, treeListing } from './support/collections.js';
import { makeUpstream, serveUpstreams, upstreamTempDir } from './support/upstream.js';
import type { GitDaemon, Upstream } from './support/upstream.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const SKILL_V1 = '---\nname: pdf\n---\nversion one\n';

/** Five commits: v1 (lightweight tag), an untagged one, v2.0 (annotated), one on dev, one on main. */
function buildUpstream(dir: string, options: { bare?: boolean; allowFilter?: boolean } = {}): Upstream {
  return makeUpstream(
    dir,
    [
      {
        files: {
          'skills/pdf/SKILL.md': SKILL_V1,
          'skills/pdf/scripts/run.sh': { content: '#!/bin/sh\necho pdf\n', executable: true },
          'skills/pdf/link.md': { symlink: 'SKILL.md' },
          'skills/other/SKILL.md': 'other\n',
          'commands/review.md': '# review\n',
          'agents/helper.md': '# helper\n',
          'bin/tool.sh': { content: '#!/bin/sh\n', executable: true },
          'big/blob.bin': Buffer.alloc(64 * 1024, 7),
          'README.md': 'readme\n',
        },
        tag: 'v1',
      },
      { files: { 'skills/pdf/SKILL.md': 'untagged\n' } },
      { files: { 'skills/pdf/SKILL.md': 'version two\n' }, tag: { name: 'v2.0', annotated: true } },
      { branch: 'dev', files: { 'skills/pdf/SKILL.md': 'dev\n' } },
      { branch: 'main', files: { 'skills/pdf/SKILL.md': 'version three\n' }, remove: ['README.md'] },
    ],
    options,
  );
}

const gitSource = (url: string, subpath = '', ref = 'latest'): GitSource => ({
  kind: 'git',
  url,
  subpath,
  ref,
});

async function rejectsWith(
  promise: Promise<unknown>,
  code: FailureCode,
  reasonPart?: string | RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isCoreError(err, code), `expected ${code}, got ${String(err)}`);
    if (reasonPart !== undefined) {
      const text = err.message;
      if (typeof reasonPart === 'string') assert.ok(text.includes(reasonPart), text);
      else assert.match(text, reasonPart);
    }
    return true;
  });
}

/** Every path below `root` with its kind and mode, for exact-tree assertions. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(abs);
      if (stat.isSymbolicLink()) out.push(`${relPath} -> ${fs.readlinkSync(abs)}`);
      else if (stat.isDirectory()) visit(abs, relPath);
      else out.push(`${relPath} ${(stat.mode & 0o777).toString(8)}`);
    }
  };
  visit(root, '');
  return out;
}

function emptyDir(dir: string): void {
  assert.deepEqual(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], `${dir} should hold no temp folders`);
}

/** Runs `body` with extra git config given through the environment (as a user's GIT_CONFIG_* would be). */
async function withGitConfig<T>(config: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  const entries = Object.entries(config);
  process.env.GIT_CONFIG_COUNT = String(entries.length);
  entries.forEach(([key, value], i) => {
    process.env[`GIT_CONFIG_KEY_${i}`] = key;
    process.env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  try {
    return await body();
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

let up: Upstream;
let bareUp: Upstream;
let filterUp: Upstream;
let root: string;
/** Serves the three over git://, a transport whose server git does not start itself. */
let daemon: GitDaemon;

before(async () => {
  root = upstreamTempDir('ak-sources-');
  up = buildUpstream(path.join(root, 'tools'));
  bareUp = buildUpstream(path.join(root, 'tools.git'), { bare: true });
  filterUp = buildUpstream(path.join(root, 'filtered.git'), { bare: true, allowFilter: true });
  daemon = await serveUpstreams(root);
});

/** Object ids the workspace repository lacks (a partial fetch leaves the unneeded blobs out). */
function missingObjects(fetched: FetchedSource): string[] {
  const gitDir = path.join(fetched.workspace, 'git');
  const run = spawnSync(
    'git',
    ['--git-dir', gitDir, 'rev-list', '--objects', '--missing=print', fetched.sha ?? ''],
    {
      encoding: 'utf8',
    },
  );
  return run.stdout
    .split('\n')
    .filter((line) => line.startsWith('?'))
    .map((line) => line.slice(1));
}

function objectId(repo: Upstream, rev: string): string {
  return spawnSync('git', ['--git-dir', repo.gitDir, 'rev-parse', rev], { encoding: 'utf8' }).stdout.trim();
}

void describe('parseSource on the real file system', () => {
  void it('tells a repository (normal or bare) from a folder and a file', () => {
    assert.deepEqual(parseSource(`${up.dir}#skills/pdf@v1`), gitSource(up.dir, 'skills/pdf', 'v1'));
    assert.deepEqual(
      parseSource(`${bareUp.dir}@v2.0#commands/review.md`),
      gitSource(bareUp.dir, 'commands/review.md', 'v2.0'),
    );
    assert.deepEqual(parseSource('tools.git#skills/pdf', { cwd: root }), gitSource(bareUp.dir, 'skills/pdf'));
    assert.deepEqual(parseSource(path.join(up.dir, 'skills/pdf')), {
      kind: 'folder',
      path: path.join(up.dir, 'skills/pdf'),
    });
    assert.deepEqual(parseSource('./tools/commands/review.md', { cwd: root }), {
      kind: 'folder',
      path: path.join(up.dir, 'commands/review.md'),
    });
    assert.deepEqual(parseSource(`${up.fileUrl}#skills/pdf`), gitSource(up.fileUrl, 'skills/pdf'));
  });
});

void describe('resolveSource', () => {
  const resolve = (ref: string, url = up.dir): Promise<ResolvedSource> =>
    resolveSource(gitSource(url, 'skills/pdf', ref));

  void it('resolves latest (any case) to the default branch head', async () => {
    for (const ref of ['latest', 'LATEST', 'Latest']) {
      const resolved = await resolve(ref);
      assert.deepEqual(resolved, { sha: up.shas[4], ref: 'refs/heads/main', versionSpec: ref });
    }
  });

  void it('resolves lightweight and annotated tags (peeled) with a resolved_version', async () => {
    assert.deepEqual(await resolve('v1'), {
      sha: up.shas[0],
      ref: 'refs/tags/v1',
      versionSpec: 'v1',
      resolvedVersion: 'v1',
    });
    const annotated = await resolve('v2.0');
    assert.equal(annotated.sha, up.shas[2]);
    assert.equal(annotated.ref, 'refs/tags/v2.0');
    assert.equal(annotated.resolvedVersion, 'v2.0');
    assert.equal((await resolve('refs/tags/v2.0')).sha, up.shas[2]);
    // The tag object's own id stands for its commit.
    const tagObject = spawnSync('git', ['--git-dir', up.gitDir, 'rev-parse', 'refs/tags/v2.0'], {
      encoding: 'utf8',
    }).stdout.trim();
    assert.notEqual(tagObject, up.shas[2]);
    assert.equal((await resolve(tagObject)).sha, up.shas[2]);
  });

  void it('resolves a branch, with no resolved_version for a plain name', async () => {
    assert.deepEqual(await resolve('dev'), { sha: up.shas[3], ref: 'refs/heads/dev', versionSpec: 'dev' });
  });

  void it('resolves full and short shas, advertised or not', async () => {
    const tip = up.shas[4] ?? '';
    const inner = up.shas[1] ?? '';
    assert.equal((await resolve(tip)).sha, tip);
    assert.equal((await resolve(tip.slice(0, 7))).sha, tip);
    assert.equal((await resolve(tip.toUpperCase())).sha, tip);
    assert.deepEqual(await resolve(inner), { sha: inner, ref: inner, versionSpec: inner });
    const workDir = path.join(root, 'resolve-tmp');
    assert.equal((await resolveSource(gitSource(up.dir, '', inner.slice(0, 8)), { workDir })).sha, inner);
    emptyDir(workDir);
  });

  void it('works the same on a bare repository and through a file:// URL', async () => {
    assert.equal((await resolve('v1', bareUp.dir)).sha, bareUp.shas[0]);
    assert.equal((await resolve('latest', bareUp.fileUrl)).sha, bareUp.shas[4]);
    assert.equal((await resolve(bareUp.shas[1] ?? '', bareUp.fileUrl)).sha, bareUp.shas[1]);
  });

  void it('reports a ref that does not exist as source-invalid "ref not found"', async () => {
    await rejectsWith(resolve('nope'), 'source-invalid', 'ref not found');
    await rejectsWith(resolve('v9.9'), 'source-invalid', 'ref not found');
    await rejectsWith(resolve('0123456789abcdef0123456789abcdef01234567'), 'source-invalid', 'ref not found');
    await rejectsWith(resolve('abcdef0'), 'source-invalid', 'ref not found');
  });

  void it('reports an unreachable upstream, naming it, and never as up to date', async () => {
    const missing = path.join(root, 'no-such-repo.git');
    await rejectsWith(resolve('latest', missing), 'upstream-unreachable', missing);
    const plainFolder = path.join(up.dir, 'skills');
    await rejectsWith(resolve('latest', plainFolder), 'upstream-unreachable', plainFolder);
    await rejectsWith(
      resolve('latest', 'http://127.0.0.1:9/nothing.git'),
      'upstream-unreachable',
      '127.0.0.1:9',
    );
    await rejectsWith(
      resolveSource(sourceFromUpstream(`${missing}#skills/pdf`, 'v1')),
      'upstream-unreachable',
      /no-such-repo\.git.*(does not appear|not a git)/,
    );
  });

  void it('ignores the config of a repository around its working folder', async () => {
    // A repository whose config would send the upstream elsewhere, around the folder git runs in.
    const trap = makeUpstream(path.join(root, 'trap'), []);
    spawnSync('git', [
      '--git-dir',
      trap.gitDir,
      'config',
      `url.${path.join(root, 'nowhere')}/.insteadOf`,
      `${root}/`,
    ]);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = trap.dir;
    try {
      assert.equal((await resolve('v1')).sha, up.shas[0]);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
  });

  void it('works with protocol v0 (a server that only serves advertised commits)', async () => {
    await withGitConfig({ 'protocol.version': '0' }, async () => {
      const inner = up.shas[1] ?? '';
      assert.equal((await resolve(inner)).sha, inner);
      assert.equal((await resolve('v2.0')).sha, up.shas[2]);
      // Through a server git does not start itself, the unadvertised commit is found in the history.
      const remote = daemon.url(bareUp);
      assert.equal((await resolve(bareUp.shas[1] ?? '', remote)).sha, bareUp.shas[1]);
      assert.equal((await resolve((bareUp.shas[1] ?? '').slice(0, 9), remote)).sha, bareUp.shas[1]);
      await rejectsWith(
        resolve('0123456789abcdef0123456789abcdef01234567', remote),
        'source-invalid',
        'ref not found',
      );
    });
  });
});

void describe('fetchSource from git', () => {
  const fetched: FetchedSource[] = [];
  after(async () => {
    for (const f of fetched) await f.dispose();
  });
  const workDirOf = (name: string): string => path.join(root, 'work', name);
  /** Debug lines of the fetches so far: which fallbacks ran. */
  const debugLines: string[] = [];
  const recorder: Logger = {
    trace: () => undefined,
    debug: (message) => debugLines.push(message),
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const fetchAt = async (source: RemoteSource, workDir: string): Promise<FetchedSource> => {
    const resolved = await resolveSource(source);
    const result = await fetchSource(source, resolved, { workDir, logger: recorder });
    fetched.push(result);
    return result;
  };

  for (const kind of ['normal', 'bare'] as const) {
    void it(`fetches only a folder subpath, keeping exec bits and symlinks (${kind} repository)`, async () => {
      const repo = kind === 'bare' ? bareUp : up;
      const workDir = workDirOf(`folder-${kind}`);
      const result = await fetchAt(gitSource(repo.dir, 'skills/pdf', 'v1'), workDir);
      assert.equal(result.isFile, false);
      assert.equal(result.sha, repo.shas[0]);
      assert.equal(result.resolvedVersion, 'v1');
      assert.equal(result.sourcePath, 'skills/pdf');
      assert.ok(path.isAbsolute(result.root) && result.root.startsWith(workDir + path.sep));
      assert.deepEqual(listTree(result.root), ['SKILL.md 644', 'link.md -> SKILL.md', 'scripts/run.sh 755']);
      assert.equal(fs.readFileSync(path.join(result.root, 'SKILL.md'), 'utf8'), SKILL_V1);
      assert.equal(inferType(result), 'skill');
    });

    void it(`fetches a single-file subpath (${kind} repository)`, async () => {
      const repo = kind === 'bare' ? bareUp : up;
      const result = await fetchAt(gitSource(repo.dir, 'commands/review.md'), workDirOf(`file-${kind}`));
      assert.equal(result.isFile, true);
      assert.equal(result.sha, repo.shas[4]);
      assert.equal(path.basename(result.root), 'review.md');
      assert.equal(fs.readFileSync(result.root, 'utf8'), '# review\n');
      assert.deepEqual(listTree(path.dirname(result.root)), ['review.md 644']);
      assert.equal(inferType(result), 'command');
    });
  }

  void it('keeps the exec bit of a single file and reads agents/ as an agent', async () => {
    const tool = await fetchAt(gitSource(up.dir, 'bin/tool.sh'), workDirOf('exec'));
    assert.equal(fs.statSync(tool.root).mode & 0o777, 0o755);
    const agent = await fetchAt(gitSource(up.fileUrl, 'agents/helper.md'), workDirOf('agent'));
    assert.equal(inferType(agent), 'agent');
  });

  void it('fetches the whole tree at an unadvertised commit when there is no subpath, without .git', async () => {
    const source = gitSource(up.dir, '', up.shas[1]);
    const result = await fetchAt(source, workDirOf('root'));
    assert.equal(result.sha, up.shas[1]);
    const listing = listTree(result.root);
    assert.ok(
      listing.includes('README.md 644') && listing.includes('skills/pdf/SKILL.md 644'),
      listing.join('\n'),
    );
    assert.ok(!listing.some((entry) => entry.startsWith('.git')));
    assert.equal(fs.readFileSync(path.join(result.root, 'skills/pdf/SKILL.md'), 'utf8'), 'untagged\n');
    assert.throws(
      () => inferType(result),
      (err: unknown) => isCoreError(err, 'source-invalid') && /--type/.test(err.message),
    );
  });

  void it('downloads only the subpath’s blobs from a local repository and from a filtering server', async () => {
    const cases: [string, Upstream, string][] = [
      ['local', up, up.dir],
      ['daemon', filterUp, daemon.url(filterUp)],
    ];
    for (const [label, repo, url] of cases) {
      const result = await fetchAt(gitSource(url, 'skills/pdf', 'v1'), workDirOf(`partial-${label}`));
      assert.deepEqual(listTree(result.root), ['SKILL.md 644', 'link.md -> SKILL.md', 'scripts/run.sh 755']);
      const missing = missingObjects(result);
      assert.ok(
        missing.includes(objectId(repo, `${repo.shas[0]}:big/blob.bin`)),
        `${label}: the unrelated blob was not fetched`,
      );
      assert.ok(!missing.includes(objectId(repo, `${repo.shas[0]}:skills/pdf/SKILL.md`)), label);
    }
  });

  void it('fetches whole commits from a server without filters (git://)', async () => {
    const result = await fetchAt(
      gitSource(daemon.url(bareUp), 'skills/pdf', bareUp.shas[1]),
      workDirOf('daemon-plain'),
    );
    assert.equal(fs.readFileSync(path.join(result.root, 'SKILL.md'), 'utf8'), 'untagged\n');
    assert.deepEqual(missingObjects(result), []);
  });

  for (const kind of ['plain', 'filtering'] as const) {
    void it(`falls back to the ref, then to the history, when a ${kind} server refuses a sha (protocol v0)`, async () => {
      const repo = kind === 'plain' ? bareUp : filterUp;
      const url = daemon.url(repo);
      await withGitConfig({ 'protocol.version': '0' }, async () => {
        const tagged = await fetchAt(gitSource(url, 'skills/pdf', 'v2.0'), workDirOf(`v0-ref-${kind}`));
        assert.equal(fs.readFileSync(path.join(tagged.root, 'SKILL.md'), 'utf8'), 'version two\n');
        const inner = await fetchAt(
          gitSource(url, 'skills/pdf', repo.shas[1]),
          workDirOf(`v0-history-${kind}`),
        );
        assert.equal(fs.readFileSync(path.join(inner.root, 'SKILL.md'), 'utf8'), 'untagged\n');
        const file = await fetchAt(gitSource(url, 'bin/tool.sh', 'v1'), workDirOf(`v0-file-${kind}`));
        assert.equal(fs.statSync(file.root).mode & 0o777, 0o755);
      });
      const ran = (text: string): boolean =>
        debugLines.some((line) => line.includes(url) && line.includes(text));
      assert.ok(ran('refused commit'), 'fell back to the ref');
      assert.ok(ran('fetching the full history'), 'fell back to the history');
      // A filtering v0 server sends a blob-less commit but refuses the blobs by id afterwards.
      assert.equal(ran('refused the blobs of a partial fetch'), kind === 'filtering');
    });
  }

  void it('handles a repository path with spaces, quotes and backslashes', async () => {
    const odd = makeUpstream(path.join(root, 'odd "name" \\ x;y'), [
      { files: { 'skills/a b/SKILL.md': 'odd\n' } },
    ]);
    const source = parseSource(`${odd.dir}#skills/a b`) as RemoteSource;
    assert.deepEqual(source, gitSource(odd.dir, 'skills/a b'));
    const result = await fetchAt(source, workDirOf('odd'));
    assert.deepEqual(listTree(result.root), ['SKILL.md 644']);
    assert.equal(upstreamString(source, result.sha ?? ''), `${odd.dir}#skills/a b`);
  });

  void it('reports a missing path as upstream-invalid and leaves no temp folder', async () => {
    const workDir = workDirOf('missing-path');
    const source = gitSource(up.dir, 'skills/nope');
    const resolved = await resolveSource(source);
    await rejectsWith(
      fetchSource(source, resolved, { workDir }),
      'upstream-invalid',
      `path "skills/nope" not found at ${up.shas[4]}`,
    );
    emptyDir(workDir);
    // A path that exists only in a later commit is missing at the older one.
    const old = gitSource(up.dir, 'skills/pdf/link.md/x', 'v1');
    await rejectsWith(
      fetchSource(old, await resolveSource(old), { workDir }),
      'upstream-invalid',
      'not found',
    );
    emptyDir(workDir);
  });

  void it('refuses a symlink as the artifact itself', async () => {
    const workDir = workDirOf('symlink-root');
    const source = gitSource(up.dir, 'skills/pdf/link.md');
    await rejectsWith(
      fetchSource(source, await resolveSource(source), { workDir }),
      'upstream-invalid',
      'symbolic link',
    );
    emptyDir(workDir);
  });

  void it('reports a repository deleted between resolve and fetch, and leaves no temp folder', async () => {
    const doomed = buildUpstream(path.join(root, 'doomed'));
    const source = gitSource(doomed.dir, 'skills/pdf');
    const resolved = await resolveSource(source);
    fs.rmSync(doomed.dir, { recursive: true, force: true });
    const workDir = workDirOf('deleted');
    await rejectsWith(fetchSource(source, resolved, { workDir }), 'upstream-unreachable', doomed.dir);
    emptyDir(workDir);
  });

  void it('disposes its workspace, and a second dispose is harmless', async () => {
    const workDir = workDirOf('dispose');
    const source = gitSource(up.dir, 'skills/pdf');
    const result = await fetchSource(source, await resolveSource(source), { workDir });
    assert.ok(fs.existsSync(result.root));
    await result.dispose();
    await result.dispose();
    emptyDir(workDir);
  });

  void it('rejects a resolved sha that is not a full commit id', async () => {
    const source = gitSource(up.dir, 'skills/pdf');
    const bogus: ResolvedSource = { sha: 'HEAD', ref: 'HEAD', versionSpec: 'latest' };
    await rejectsWith(
      fetchSource(source, bogus, { workDir: workDirOf('bogus') }),
      'source-invalid',
      'full commit id',
    );
  });
});

void describe('cancellation', () => {
  const source = (): GitSource => gitSource(filterUp.dir, 'skills/pdf');

  void it('a signal aborted before the start cancels without creating anything', async () => {
    const workDir = path.join(root, 'cancel-before');
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(resolveSource(source(), { signal: controller.signal }), 'cancelled');
    await rejectsWith(
      fetchSource(source(), await resolveSource(source()), { workDir, signal: controller.signal }),
      'cancelled',
    );
    emptyDir(workDir);
  });

  // Aborts exactly when a given git command starts, so the kill lands on a running process.
  for (const step of ['init', 'fetch', 'ls-tree', 'read-tree', 'checkout-index']) {
    void it(`aborting during "git ${step}" kills git, reports cancelled and removes the workspace`, async () => {
      const workDir = path.join(root, `cancel-${step}`);
      const target = step === 'checkout-index' ? gitSource(filterUp.dir, 'bin/tool.sh') : source();
      const resolved = await resolveSource(target);
      const controller = new AbortController();
      const logger: Logger = {
        trace: (message) => {
          if (message.startsWith('[Sources] git ') && message.split(' ').includes(step)) controller.abort();
        },
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      };
      await rejectsWith(
        fetchSource(target, resolved, { workDir, signal: controller.signal, logger }),
        'cancelled',
      );
      assert.ok(controller.signal.aborted, `the "${step}" step was reached`);
      emptyDir(workDir);
    });
  }

  void it('aborting ls-remote cancels resolve', async () => {
    const controller = new AbortController();
    const logger: Logger = {
      trace: (message) => {
        if (message.includes('ls-remote')) controller.abort();
      },
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    await rejectsWith(resolveSource(source(), { signal: controller.signal, logger }), 'cancelled');
  });
});

void describe('injection attempts', () => {
  void it('never runs an --upload-pack given as a source, a ref or a tampered upstream', async () => {
    const marker = path.join(root, 'pwned-upload-pack');
    const attempts: (() => unknown)[] = [
      () => parseSource(`--upload-pack=touch ${marker}`),
      () => parseSource(`${up.dir}@--upload-pack=touch ${marker}`),
      () => parseSource(`${up.dir}#skills/pdf@--upload-pack=touch%20${marker}`),
      () => sourceFromUpstream(`--upload-pack=touch ${marker}`, 'latest'),
      () => sourceFromUpstream(up.dir, `--upload-pack=touch ${marker}`),
      () => resolveSource(gitSource(`--upload-pack=touch ${marker}`)),
      () => resolveSource(gitSource(up.dir, '', `--upload-pack=touch ${marker}`)),
      () =>
        fetchSource(
          gitSource(`--upload-pack=touch ${marker}`),
          { sha: up.shas[0] ?? '', ref: 'HEAD', versionSpec: 'latest' },
          {
            workDir: path.join(root, 'inject'),
          },
        ),
    ];
    for (const attempt of attempts) {
      await assert.rejects(
        async () => attempt(),
        (err: unknown) => isCoreError(err, 'source-invalid'),
      );
    }
    assert.equal(fs.existsSync(marker), false);
    emptyDir(path.join(root, 'inject'));
  });

  void it('refuses ext:: even when the user’s git config rewrites a URL to it', async () => {
    const marker = path.join(root, 'pwned-ext');
    await assert.rejects(
      async () => parseSource(`ext::sh -c touch% ${marker}`),
      (err: unknown) => isCoreError(err, 'source-invalid'),
    );
    const userConfig = {
      [`url.ext::sh -c touch% ${marker} #.insteadOf`]: 'https://evil.example/',
      'protocol.allow': 'always',
      'protocol.ext.allow': 'always',
    };
    await withGitConfig(userConfig, async () => {
      await rejectsWith(
        resolveSource(gitSource('https://evil.example/repo.git')),
        'upstream-unreachable',
        /not allowed/,
      );
    });
    assert.equal(fs.existsSync(marker), false);
  });
});

void describe('fetchSource from a local folder', () => {
  void it('copies the folder without .git, keeping exec bits and symlinks; no sha', async () => {
    const workDir = path.join(root, 'local');
    const result = await fetchSource({ kind: 'folder', path: path.join(up.dir, 'skills/pdf') }, undefined, {
      workDir,
    });
    assert.equal(result.sha, undefined);
    assert.equal(result.resolvedVersion, undefined);
    assert.deepEqual(listTree(result.root), ['SKILL.md 644', 'link.md -> SKILL.md', 'scripts/run.sh 755']);
    assert.equal(inferType(result), 'skill');
    await result.dispose();

    const whole = await fetchSource(parseSource(up.dir.replace(/tools$/, 'tools/skills')), undefined, {
      workDir,
    });
    assert.ok(!listTree(whole.root).some((entry) => entry.includes('.git')));
    await whole.dispose();

    // A folder that is itself a work tree: .git is skipped.
    const folderWithGit = path.join(root, 'with-git');
    fs.mkdirSync(path.join(folderWithGit, '.git'), { recursive: true });
    fs.writeFileSync(path.join(folderWithGit, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    fs.writeFileSync(path.join(folderWithGit, 'SKILL.md'), 'x\n');
    const copied = await fetchSource({ kind: 'folder', path: folderWithGit }, undefined, { workDir });
    assert.deepEqual(listTree(copied.root), ['SKILL.md 644']);
    await copied.dispose();
    emptyDir(workDir);
  });

  void it('copies a single file and infers its type from its path', async () => {
    const workDir = path.join(root, 'local-file');
    const result = await fetchSource(parseSource(path.join(up.dir, 'agents/helper.md')), undefined, {
      workDir,
    });
    assert.equal(result.isFile, true);
    assert.equal(fs.readFileSync(result.root, 'utf8'), '# helper\n');
    assert.equal(inferType(result), 'agent');
    await result.dispose();
    emptyDir(workDir);
  });

  void it('reports a folder that has gone away as upstream-unreachable', async () => {
    const workDir = path.join(root, 'local-missing');
    const gone = path.join(root, 'gone-folder');
    await rejectsWith(
      fetchSource({ kind: 'folder', path: gone }, undefined, { workDir }),
      'upstream-unreachable',
      gone,
    );
    emptyDir(workDir);
  });
});

void describe('inferType', () => {
  void it('needs SKILL.md or skill.md for a folder, and .md for a file', () => {
    const dir = path.join(root, 'infer');
    fs.mkdirSync(path.join(dir, 'lower'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lower', 'skill.md'), 'x');
    fs.mkdirSync(path.join(dir, 'plain'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    fs.writeFileSync(path.join(dir, 'x.md'), 'x');
    assert.equal(inferType({ root: path.join(dir, 'lower'), isFile: false, sourcePath: 'lower' }), 'skill');
    assert.equal(
      inferType({ root: path.join(dir, 'x.md'), isFile: true, sourcePath: 'commands/x.md' }),
      'command',
    );
    assert.equal(inferType({ root: path.join(dir, 'x.md'), isFile: true, sourcePath: 'x.md' }), 'command');
    assert.equal(
      inferType({ root: path.join(dir, 'x.md'), isFile: true, sourcePath: 'team/agents/x.md' }),
      'agent',
    );
    // "agents" must be a folder on the path, not part of the file name.
    assert.equal(
      inferType({ root: path.join(dir, 'x.md'), isFile: true, sourcePath: 'agents.md' }),
      'command',
    );
    for (const fetched of [
      { root: path.join(dir, 'plain'), isFile: false, sourcePath: 'plain' },
      { root: path.join(dir, 'notes.txt'), isFile: true, sourcePath: 'agents/notes.txt' },
    ]) {
      assert.throws(
        () => inferType(fetched),
        (err: unknown) => isCoreError(err, 'source-invalid') && err.message.includes('--type'),
      );
    }
  });
});

void describe('upstream strings of fetched sources', () => {
  void it('store a local repository as url#path and rebuild a resolvable source from it', async () => {
    const source = parseSource(`${bareUp.dir}#skills/pdf@v1`) as RemoteSource;
    const resolved = await resolveSource(source);
    const upstream = upstreamString(source, resolved.sha);
    assert.equal(upstream, `${bareUp.dir}#skills/pdf`);
    const again = await resolveSource(sourceFromUpstream(upstream, resolved.versionSpec));
    assert.equal(again.sha, resolved.sha);
    assert.equal((await resolveSource(sourceFromUpstream(upstream, 'latest'))).sha, bareUp.shas[4]);
  });
});

/**
 * A bare repository with one commit (tag v1) whose `skills/evil` folder holds SKILL.md plus `lines`
 * (git mktree input, `{leaf}` standing for a one-line blob): trees no checkout could write.
 */
function plumbingRepo(dir: string, lines: (leaf: string, commit: string) => string[]): string {
  const run = (args: string[], input?: string): string => {
    const result = spawnSync('git', ['--git-dir', dir, ...args], { input, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };
  run(['init', '--quiet', '--bare']);
  const mktree = (entries: string[]): string => run(['mktree'], `${entries.join('\n')}\n`);
  const skill = run(['hash-object', '-w', '--stdin'], '---\nname: evil\n---\nbody\n');
  const leaf = run(['hash-object', '-w', '--stdin'], 'leaf\n');
  const other = run(['commit-tree', mktree([`100644 blob ${leaf}\tREADME`]), '-m', 'other'], '');
  const artifact = mktree([`100644 blob ${skill}\tSKILL.md`, ...lines(leaf, other)]);
  const rootTree = mktree([`040000 tree ${mktree([`040000 tree ${artifact}\tevil`])}\tskills`]);
  run(['tag', 'v1', run(['commit-tree', rootTree, '-m', 'v1'], '')]);
  return dir;
}

void describe('upstream content is checked before anything is written', () => {
  const nested = (name: string): { top: string; workDir: string } => {
    const top = path.join(root, `refused-${name}`);
    return { top, workDir: path.join(top, 'tmp', '1234') };
  };

  void it('refuses a long name, a path beyond PATH_MAX, a gitlink, ".." and ".git", naming artifact and path', async () => {
    const deep = (leaf: string): string[] => {
      let tree = spawnSync('git', ['--git-dir', path.join(root, 'deep.git'), 'mktree'], {
        input: `100644 blob ${leaf}\tleaf.md\n`,
        encoding: 'utf8',
      }).stdout.trim();
      for (let i = 0; i < 25; i++) {
        tree = spawnSync('git', ['--git-dir', path.join(root, 'deep.git'), 'mktree'], {
          input: `040000 tree ${tree}\t${'d'.repeat(200)}\n`,
          encoding: 'utf8',
        }).stdout.trim();
      }
      return [`040000 tree ${tree}\tdata`];
    };
    const cases: { name: string; lines: (leaf: string, commit: string) => string[]; reason: RegExp }[] = [
      {
        name: 'long-name',
        lines: (leaf) => [`100644 blob ${leaf}\t${'x'.repeat(300)}`],
        reason: /path "x+…x+" has a name of 300 bytes \(at most 255\)/,
      },
      {
        name: 'deep',
        lines: deep,
        reason: new RegExp(
          `path "data/d+…d+/leaf\\.md" is too long: \\d+ bytes .*\\(at most ${PATH_MAX - 1}\\)`,
        ),
      },
      {
        name: 'gitlink',
        lines: (_leaf, commit) => [`160000 commit ${commit}\tvendor`],
        reason: /"vendor" is a submodule \(gitlink\), not a file, folder or symlink/,
      },
      { name: 'dotdot', lines: (leaf) => [`100644 blob ${leaf}\t..`], reason: /path "\.\." is not inside/ },
      {
        name: 'dotgit',
        lines: (leaf) => [`100644 blob ${leaf}\t.GIT`],
        reason: /path "\.GIT" is inside a \.git/,
      },
    ];
    for (const c of cases) {
      const repoDir = c.name === 'deep' ? path.join(root, 'deep.git') : path.join(root, `${c.name}.git`);
      if (c.name === 'deep') spawnSync('git', ['init', '--quiet', '--bare', repoDir]);
      const repo = plumbingRepo(repoDir, c.lines);
      const source = gitSource(repo, 'skills/evil', 'v1');
      const resolved = await resolveSource(source);
      const { top, workDir } = nested(c.name);
      // Named by the artifact's id, the type inferred from the listing (SKILL.md) …
      await rejectsWith(
        fetchSource(source, resolved, { workDir, artifact: { name: 'evil' } }),
        'upstream-invalid',
        new RegExp(`^artifact skill/evil: upstream content rejected: ${c.reason.source}`),
      );
      assert.equal(fs.existsSync(top), false, `${c.name}: the folders made for the workspace are gone`);
      // … or, without one, by the source.
      await rejectsWith(
        fetchSource(source, resolved, { workDir }),
        'upstream-invalid',
        `${repo}@v1#skills/evil`,
      );
      assert.equal(fs.existsSync(top), false);
    }
  });

  void it('refuses a FIFO, a socket and a device in a local folder by name, creating nothing', async () => {
    const cases: { name: string; make: (abs: string) => void; kind: string }[] = [
      { name: 'pipe', make: (abs) => assert.equal(spawnSync('mkfifo', [abs]).status, 0), kind: 'FIFO' },
      {
        name: 'sock',
        make: (abs) => {
          const made = spawnSync('python3', [
            '-c',
            'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
            abs,
          ]);
          assert.equal(made.status, 0, String(made.stderr));
        },
        kind: 'socket',
      },
      {
        name: 'zero',
        make: (abs) => assert.equal(spawnSync('mknod', [abs, 'c', '1', '5']).status, 0, 'mknod (as root)'),
        kind: 'character device',
      },
    ];
    for (const c of cases) {
      const folder = path.join(root, `special-${c.name}`, 'notes');
      fs.mkdirSync(path.join(folder, 'deeper'), { recursive: true });
      fs.writeFileSync(path.join(folder, 'SKILL.md'), '---\nname: notes\n---\nbody\n');
      c.make(path.join(folder, 'deeper', c.name));
      const { top, workDir } = nested(`special-${c.name}`);
      await rejectsWith(
        fetchSource({ kind: 'folder', path: folder }, undefined, { workDir, artifact: { name: 'notes' } }),
        'upstream-invalid',
        `artifact skill/notes: upstream content rejected: "deeper/${c.name}" is a ${c.kind}, not a file, folder or symlink`,
      );
      assert.equal(fs.existsSync(top), false, `${c.name}: nothing was created`);
    }
  });

  void it('leaves no folder behind after a resolve that had to search the history', async () => {
    const { top, workDir } = nested('resolve');
    const untagged = up.shas[1] ?? '';
    assert.equal(
      (await resolveSource(gitSource(up.dir, '', untagged.slice(0, 10)), { workDir })).sha,
      untagged,
    );
    assert.equal(fs.existsSync(top), false);
  });

  void it('removes a workspace holding a tree deeper than PATH_MAX, and the folders made for it', async () => {
    const { top, workDir } = nested('deep-remove');
    const workspace = await makeWorkspace(workDir, 'fetch-');
    // Built one level at a time, each relative to the one before (a path could not name the bottom).
    const script =
      'import os\nfor _ in range(30):\n    os.mkdir("d" * 200)\n    os.chdir("d" * 200)\nopen("leaf", "w").write("x")\nos.symlink("leaf", "link")\n';
    const built = spawnSync('python3', ['-c', script], { cwd: workspace.path });
    assert.equal(built.status, 0, String(built.stderr));
    assert.throws(() => fs.rmSync(workspace.path, { recursive: true }), /ENAMETOOLONG/);
    await workspace.remove();
    await workspace.remove();
    assert.equal(fs.existsSync(top), false);
  });
});

void describe('entryProblem', () => {
  const check = (
    rel: string | Buffer,
    kind: EntryKind,
    expected: RegExp | undefined,
    base = '/collection',
  ): void => {
    const problem = entryProblem(rel, kind, base);
    if (expected === undefined) assert.equal(problem, undefined, `${String(rel)}: ${problem}`);
    else assert.match(problem ?? '(no problem)', expected, String(rel));
  };

  void it('accepts files, folders and symlinks inside the artifact within the limits', () => {
    check('SKILL.md', 'file', undefined);
    check('scripts/run.sh', 'file', undefined);
    check('link', 'symlink', undefined);
    check('a/b', 'folder', undefined);
    check('x'.repeat(255), 'file', undefined);
    check(`${'d'.repeat(200)}/${'f'.repeat(200)}`, 'file', undefined);
    // 255 bytes that are not UTF-8 are measured as bytes, not as replacement characters.
    check(Buffer.alloc(255, 0xff), 'file', undefined);
  });

  void it('refuses other kinds, escapes, .git, long names and paths', () => {
    for (const kind of ['FIFO', 'socket', 'character device', 'block device', 'submodule (gitlink)'] as const)
      check(
        'thing',
        kind,
        new RegExp(`^"thing" is a ${kind.replace(/[()]/g, '\\$&')}, not a file, folder or symlink$`),
      );
    check('../x', 'file', /not inside the artifact/);
    check('a/./b', 'file', /not inside the artifact/);
    check('a//b', 'file', /not inside the artifact/);
    check('/etc/passwd', 'file', /not inside the artifact/);
    check('a/.Git/config', 'file', /inside a \.git folder/);
    check(`a/${'é'.repeat(128)}`, 'file', /has a name of 256 bytes \(at most 255\)/);
    // A path of exactly `bytes` bytes, in names of at most 201.
    const pathOf = (bytes: number): string => {
      const parts: string[] = [];
      let left = bytes;
      for (; left > 201; left -= 201) parts.push('p'.repeat(200));
      return [...parts, 'q'.repeat(left)].join('/');
    };
    const longest = PATH_MAX - 1 - '/collection/'.length;
    check(pathOf(longest), 'file', undefined);
    check(pathOf(longest + 1), 'file', /is too long: \d+ bytes with the folder it goes into/);
  });

  void it('validateArtifact checks the installed paths when told where they go', () => {
    const tree = new Map([
      ['SKILL.md', { mode: 0o100644, data: Buffer.from('---\nname: a\n---\nx\n') }],
      [`${'d'.repeat(200)}/${'e'.repeat(200)}`, { mode: 0o100644, data: Buffer.from('x') }],
    ]);
    assert.deepEqual(validateArtifact('skill', tree, true), []);
    assert.deepEqual(validateArtifact('skill', tree, true, '/collection/skills/a'), []);
    const problems = validateArtifact(
      'skill',
      tree,
      true,
      path.join('/', ...Array<string>(19).fill('r'.repeat(200))),
    );
    assert.equal(problems.length, 1, problems.join('; '));
    assert.match(problems[0] ?? '', /is too long/);
  });
});

void describe('git through the git port', () => {
  void it('a git rule of a fault plan fails a resolve and a fetch with its errno, leaving nothing behind', async () => {
    const source = gitSource(up.dir, 'skills/pdf', 'v1');
    const listing = new FaultPlan([{ op: 'git', nth: 1, errno: 'EIO', pathIncludes: 'ls-remote' }]);
    await rejectsWith(resolveSource(source, { faults: listing }), 'git-failed', /EIO: injected fault/);
    assert.equal(listing.fired?.pathIncludes, 'ls-remote');

    const resolved = await resolveSource(source);
    const workDir = path.join(root, 'faulted-fetch');
    const fetching = new FaultPlan([{ op: 'git', nth: 1, errno: 'ENOSPC', pathIncludes: 'fetch' }]);
    await rejectsWith(
      fetchSource(source, resolved, { workDir, faults: fetching }),
      'git-failed',
      /ENOSPC: injected fault/,
    );
    assert.deepEqual(
      fetching.calls.map((call) => call.path.split(' ')[0]),
      ['init', 'fetch'],
      'the workspace repository was made, then its fetch failed before git started',
    );
    emptyDir(workDir);

    // A plan whose rule matches nothing sees every git process of a fetch, none with a leading option:
    // one ls-tree lists the artifact's entry and everything below it.
    const counting = new FaultPlan([]);
    await (await fetchSource(source, resolved, { workDir, faults: counting })).dispose();
    assert.deepEqual(
      counting.calls.map((call) => call.path.split(' ')[0]),
      ['init', 'fetch', 'ls-tree', 'read-tree'],
    );
    emptyDir(workDir);
  });

  void it('ARTIFACT_KEEPER_FAULT=git:1:EIO:fetch makes `add` from a local git upstream exit 4, writing nothing', () => {
    const dir = path.join(tempDir('ak-sources-fault-'), 'collection');
    fs.mkdirSync(dir);
    const init = runCli(['init', '--collection', dir]);
    assert.equal(init.code, 0, init.stderr);
    const before = treeListing(dir);
    const add = runCli(['add', '--allow-exec', `${up.dir}#skills/pdf@v1`, '--collection', dir], {
      env: { ARTIFACT_KEEPER_FAULT: 'git:1:EIO:fetch' },
    });
    assert.equal(add.code, 4, add.stderr);
    assert.match(add.stderr.trim(), /^artifact-keeper: git fetch failed: EIO: injected fault/);
    assert.equal(add.stderr.trim().split('\n').length, 1, add.stderr);
    assert.deepEqual(treeListing(dir), before, 'nothing was written');
    emptyDir(path.join(dir, '.artifact-keeper', 'tmp'));

    const clean = runCli(['add', '--allow-exec', `${up.dir}#skills/pdf@v1`, '--collection', dir]);
    assert.equal(clean.code, 0, `without the fault the same add succeeds: ${clean.stderr}`);
  });

  void it('starts every git child with the owner mark (read from /proc/<pid>/environ as it runs)', async (t) => {
    if (!fs.existsSync('/proc/self/environ')) {
      t.skip('no /proc on this system');
      return;
    }
    // A `git` first on PATH that records its own environment, then becomes the real git (same pid).
    const realGit = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
    const bin = path.join(root, 'recording-bin');
    const log = path.join(root, 'recording.log');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, 'git'),
      [
        '#!/bin/sh',
        `mark=$(tr '\\0' '\\n' < /proc/$$/environ | grep '^${OWNER_ENV}=')`,
        `printf '%s\\t%s\\n' "$mark" "$*" >> '${log}'`,
        `exec '${realGit}' "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ''}`;
    try {
      const source = gitSource(up.dir, 'skills/pdf', 'v1');
      const fetched = await fetchSource(source, await resolveSource(source), {
        workDir: path.join(root, 'recorded'),
      });
      await fetched.dispose();
    } finally {
      process.env.PATH = savedPath;
    }
    const runs = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [mark = '', args = ''] = line.split('\t');
        const command = args.split(' ').find((arg, i, all) => !arg.startsWith('-') && all[i - 1] !== '-c');
        return { mark, command };
      });
    const commands = runs.map((run) => run.command);
    for (const expected of ['ls-remote', 'init', 'fetch', 'ls-tree', 'read-tree'])
      assert.ok(commands.includes(expected), `git ${expected} ran through PATH (${commands.join(', ')})`);
    assert.deepEqual(
      runs.filter((run) => run.mark !== `${OWNER_ENV}=${ownerMark()}`),
      [],
      "every git child carries this process's owner mark",
    );
  });
});
