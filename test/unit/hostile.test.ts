/**
 * Hostile inputs (issue 6, DESIGN §7): each must give one clear line on stderr naming the file, line,
 * artifact or entry, the documented exit code (65 data, 64 usage, 69 unavailable), in bounded time, and
 * write NOTHING: the tree listing including `.artifact-keeper/` is identical afterwards (but for the two
 * derived read caches, see withoutDerivedCaches), and a collection that had no `.artifact-keeper/` still
 * has none. "Regression:" notes say what a case did before it was fixed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isParseCacheEntry } from '../../src/core/model/parseCache.js';
import { buildFixture, cliEnv, OUT_CLI, runCliSync } from '../torture/fixture.js';
import type { CliRun, Fixture } from '../torture/fixture.js';
import { commitAll, git } from '../torture/git.js';
import { describeDiff, listTree, sameListing } from '../torture/tree.js';
import type { Listing } from '../torture/tree.js';
import { tempDir } from './support/collections.js';
import { serveUpstreams } from './support/upstream.js';

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const DERIVED_CACHES = ['.artifact-keeper/status-cache.json', '.artifact-keeper/status-record.bin'];
const STATE = '.artifact-keeper/';

interface Expect {
  codes: readonly number[];
  /** Every pattern must match the message line. */
  mentions?: readonly RegExp[];
  timeoutMs?: number;
}

interface Outcome {
  run: CliRun;
  problems: string[];
}

/**
 * Runs the CLI on `dir` and checks the refusal: exit code, one message line (a usage error may add its
 * usage line), the mentions, no control characters, bounded time, and nothing written anywhere in `dir`.
 */
function refuse(dir: string, args: string[], expect: Expect, cwd?: string): Outcome {
  const everything = listTree(dir, new Set());
  const hadState = fs.existsSync(path.join(dir, '.artifact-keeper'));
  const timeoutMs = expect.timeoutMs ?? 30_000;
  const started = performance.now();
  // The command first, then --collection (before any `--` among the arguments).
  const argv = [args[0] as string, '--collection', dir, ...args.slice(1)];
  const result = spawnSync(process.execPath, [OUT_CLI, ...argv], {
    cwd: cwd ?? dir,
    env: cliEnv(),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const run: CliRun = {
    code: result.status ?? -1,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    ms: performance.now() - started,
  };
  const where = `${args.map((a) => (a.length > 60 ? `${a.slice(0, 57)}…` : a)).join(' ')}`;
  const problems: string[] = [];
  if (result.error || result.signal) problems.push(`${where}: did not finish within ${timeoutMs} ms`);
  if (!expect.codes.includes(run.code)) {
    problems.push(
      `${where}: exit ${run.code}, wanted ${expect.codes.join(' or ')}: ${run.stderr.trim().slice(0, 300)}`,
    );
  }
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  const usage = run.code === 64 && lines.length === 2 && lines[1]?.startsWith('usage: ');
  if (lines.length !== 1 && !usage)
    problems.push(`${where}: ${lines.length} lines on stderr: ${JSON.stringify(lines.slice(0, 4))}`);
  const message = lines[0] ?? '';
  for (const pattern of expect.mentions ?? []) {
    if (!pattern.test(message))
      problems.push(`${where}: the message does not match ${pattern}: ${message.slice(0, 300)}`);
  }
  if (CONTROL.test(run.stderr))
    problems.push(`${where}: control characters printed raw: ${JSON.stringify(message.slice(0, 200))}`);
  const now = listTree(dir, new Set());
  if (hadState) withoutDerivedCaches(now, everything);
  if (!sameListing(now, everything)) {
    const created = !hadState && fs.existsSync(path.join(dir, '.artifact-keeper'));
    problems.push(
      `${where}: something was written${created ? ' (.artifact-keeper was created)' : ''}: ${describeDiff(now, everything)}`,
    );
  }
  return { run, problems };
}

/**
 * The parse cache and the stat cache are derived read caches: content-addressed or stamp-checked copies of
 * what `status` computes and writes from the same input, never state a command acts on. A refused command
 * may refresh them in a state folder that exists; refusing without writing them would mean holding every
 * cache write back until a command succeeds, for no change a user can see. Creating `.artifact-keeper/` is
 * never allowed, nor any other write inside it.
 */
function withoutDerivedCaches(...listings: Listing[]): void {
  for (const listing of listings) {
    for (const cache of DERIVED_CACHES) listing.delete(cache);
    for (const rel of [...listing.keys()])
      if (rel.startsWith(STATE) && isParseCacheEntry(rel.slice(STATE.length))) listing.delete(rel);
  }
}

/**
 * Removes a folder even when it holds a tree deeper than PATH_MAX (what a hostile upstream can leave),
 * which fs.rmSync cannot; GNU rm walks it with openat.
 */
function removeDeep(dir: string): void {
  spawnSync('rm', ['-rf', '--', dir]);
}

/** A fresh copy of `source` (a whole collection folder) for one case. */
function copyOf(source: string, withState: boolean): string {
  const dir = path.join(tempDir('ak-hostile-'), 'collection');
  fs.cpSync(source, dir, {
    recursive: true,
    filter: (src) =>
      withState || !(path.basename(src) === '.artifact-keeper' && path.dirname(src) === source),
  });
  return dir;
}

function editManifest(dir: string, edit: (text: string) => string, file = 'collection.toml'): void {
  const abs = path.join(dir, file);
  const text = fs.readFileSync(abs, 'utf8');
  const next = edit(text);
  assert.notEqual(next, text, 'the edit changed the file');
  fs.writeFileSync(abs, next);
}

/** Replaces the first artifact's key (the upstream skill `up-00`, first in the manifest). */
const firstArtifact = (key: 'name' | 'path', value: string) => (text: string) =>
  key === 'name'
    ? text.replace('name = "up-00"', `name = ${value}`)
    : text.replace('path = "skills/up-00"', `path = ${value}`);

void describe('hostile inputs: one clear line, the documented exit code, nothing written', () => {
  let fx: Fixture;
  let plain: string;
  let folderSource: string;
  before(async () => {
    fx = await buildFixture(tempDir('ak-hostile-base-'), 'tiny', OUT_CLI);
    plain = copyOf(fx.dir, false);
    folderSource = path.join(tempDir('ak-hostile-src-'), 'notes');
    fs.mkdirSync(folderSource);
    fs.writeFileSync(path.join(folderSource, 'SKILL.md'), '---\nname: notes\n---\nbody\n');
  });

  /** The manifest/lock cases: status, update and add all refuse, on a collection without state. */
  const refuseEverywhere = (dir: string, mentions: RegExp[], timeoutMs?: number): string[] =>
    [['status'], ['update', '--all'], ['add', folderSource]].flatMap(
      (args) => refuse(dir, args, { codes: [65], mentions, ...(timeoutMs ? { timeoutMs } : {}) }).problems,
    );

  const manifestCases: {
    title: string;
    edit: (dir: string) => void;
    mentions: RegExp[];
    timeoutMs?: number;
  }[] = [
    {
      title: 'malformed TOML',
      edit: (dir) => editManifest(dir, (t) => t.replace('type = "skill"', 'type = ')),
      mentions: [/collection\.toml:\d+:\d+: /],
    },
    {
      title: 'a 20 MB malformed TOML (bounded time)',
      edit: (dir) =>
        fs.appendFileSync(
          path.join(dir, 'collection.toml'),
          `${`# ${'x'.repeat(98)}\n`.repeat(200_000)}broken = \n`,
        ),
      mentions: [/collection\.toml:200\d{3}:\d+: /],
      timeoutMs: 20_000,
    },
    {
      // Regression: the parse cache's recursive walk overflowed the stack (exit 70); parseToml now limits
      // the nesting depth.
      title: 'TOML nested 100,000 arrays deep',
      edit: (dir) => editManifest(dir, (t) => `deep = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n${t}`),
      mentions: [/collection\.toml/],
    },
    {
      // Regression: as above.
      title: 'TOML inline tables nested 100,000 deep',
      edit: (dir) => editManifest(dir, (t) => `deep = ${'{a='.repeat(100_000)}1${'}'.repeat(100_000)}\n${t}`),
      mentions: [/collection\.toml/],
    },
    {
      title: 'a duplicate key',
      edit: (dir) =>
        editManifest(dir, (t) => t.replace('type = "skill"', 'type = "skill"\ntype = "command"')),
      mentions: [/collection\.toml:\d+:\d+: /],
    },
    {
      title: 'the same artifact twice',
      edit: (dir) =>
        editManifest(dir, (t) => {
          const first = t.indexOf('[[artifacts]]');
          const second = t.indexOf('[[artifacts]]', first + 1);
          return t.slice(0, second) + t.slice(first, second) + t.slice(second);
        }),
      mentions: [/collection\.toml:\d+: /, /skill\/up-00/],
    },
    {
      title: 'an unknown lock version',
      edit: (dir) =>
        editManifest(dir, (t) => t.replace('version = "1.0.0"', 'version = "9.9.9"'), 'collection.lock'),
      mentions: [/collection\.lock/, /9\.9\.9/],
    },
    {
      title: 'a manifest path with ".."',
      edit: (dir) => editManifest(dir, firstArtifact('path', '"skills/../../outside"')),
      mentions: [/collection\.toml/, /skill\/up-00/, /leaves the collection/],
    },
    {
      title: 'an artifact name with ".."',
      edit: (dir) => editManifest(dir, firstArtifact('name', '"../evil"')),
      mentions: [/collection\.toml/, /\.\.\/evil/],
    },
    {
      title: 'an absolute manifest path',
      edit: (dir) => editManifest(dir, firstArtifact('path', '"/etc"')),
      mentions: [/collection\.toml/, /skill\/up-00/, /absolute/],
    },
    {
      // Regression: refused, but the name was printed with its raw NUL byte.
      title: 'a NUL byte in an artifact name (\\u0000 escape)',
      edit: (dir) => editManifest(dir, firstArtifact('name', '"up\\u0000x"')),
      mentions: [/collection\.toml/, /NUL/],
    },
    {
      title: 'a NUL byte in a manifest path (\\u0000 escape)',
      edit: (dir) => editManifest(dir, firstArtifact('path', '"skills/up\\u0000x"')),
      mentions: [/collection\.toml/, /NUL/],
    },
    {
      title: 'a raw NUL byte in collection.toml',
      edit: (dir) => editManifest(dir, (t) => t.replace('name = "up-00"', 'name = "up\u000000"')),
      mentions: [/collection\.toml:\d+:\d+: /],
    },
    {
      // Regression: refused, but the escape sequence reached the terminal raw.
      title: 'a terminal escape sequence in an artifact name',
      edit: (dir) => editManifest(dir, firstArtifact('name', '"\\u001b]0;pwned\\u0007x"')),
      mentions: [/collection\.toml/],
    },
    {
      // Regression: status exited 2 (files missing), update 70 (ENAMETOOLONG), add 0 (and wrote).
      title: 'a manifest path longer than 4096 bytes',
      edit: (dir) =>
        editManifest(dir, firstArtifact('path', `"skills/${Array(25).fill('d'.repeat(200)).join('/')}"`)),
      mentions: [/collection\.toml/, /skill\/up-00/],
    },
    {
      // Regression: as above.
      title: 'a manifest path segment longer than 255 bytes',
      edit: (dir) => editManifest(dir, firstArtifact('path', `"skills/${'x'.repeat(300)}"`)),
      mentions: [/collection\.toml/, /skill\/up-00/],
    },
    {
      title: 'an artifact name longer than 255 bytes',
      edit: (dir) => editManifest(dir, firstArtifact('name', `"${'n'.repeat(300)}"`)),
      mentions: [/collection\.toml/, /255 bytes/],
    },
  ];
  // Regression: `update` took the writer lock, creating .artifact-keeper/.gitignore, before it read the
  // bad manifest; writers now check read-only first.
  for (const c of manifestCases) {
    void it(`${c.title}: status, update and add refuse with 65`, () => {
      const dir = copyOf(plain, false);
      c.edit(dir);
      assert.deepEqual(refuseEverywhere(dir, c.mentions, c.timeoutMs), []);
    });
  }

  // No stopwatch here (speed lives in the bench): a hang still fails on the run's 5-minute timeout.
  void it('a valid 20 MB manifest: status reads it, keeps the unknown table, and does not crash', () => {
    const read = (dir: string): { code: number; report: unknown } => {
      const status = runCliSync(OUT_CLI, dir, ['status', '--json']);
      assert.ok([0, 1].includes(status.code), status.stderr);
      return { code: status.code, report: JSON.parse(status.stdout) as unknown };
    };
    const dir = copyOf(plain, false);
    const without = read(dir);
    fs.appendFileSync(path.join(dir, 'collection.toml'), `\n[blob]\ndata = "${'x'.repeat(20_000_000)}"\n`);
    // The same answer as without the blob: an unknown table is kept, never a problem.
    assert.deepEqual(read(dir), without);
  });

  // ---- sources and upstreams ----------------------------------------------------------------------

  /** A local git upstream whose v1 and v2 hold the given extra files (symlinks as `{ link }`). */
  function hostileUpstream(
    files: Record<string, string | { link: string }>,
    v2: Record<string, string | { link: string }> = {},
  ): string {
    const repo = path.join(tempDir('ak-hostile-up-'), 'repo');
    fs.mkdirSync(repo, { recursive: true });
    git(undefined, ['init', '--quiet', '--initial-branch=main', '--', repo]);
    const write = (entries: Record<string, string | { link: string }>): void => {
      for (const [rel, content] of Object.entries(entries)) {
        const abs = path.join(repo, rel);
        fs.mkdirSync(path.dirname(abs), { recursive: true });
        fs.rmSync(abs, { force: true });
        if (typeof content === 'string') fs.writeFileSync(abs, content);
        else fs.symlinkSync(content.link, abs);
      }
    };
    write({ 'skills/evil/SKILL.md': '---\nname: evil\n---\nbody\n', ...files });
    commitAll(repo, 'v1', 1_700_000_000, 'v1');
    write(v2);
    commitAll(repo, 'v2', 1_700_000_100, 'v2');
    return repo;
  }

  void it('an upstream tree with a symlink pointing outside the artifact: add refuses with 65', () => {
    const repo = hostileUpstream({ 'skills/evil/pw': { link: '../../../../etc/passwd' } });
    const dir = copyOf(fx.dir, true);
    const { problems } = refuse(dir, ['add', `${repo}#skills/evil@v1`], {
      codes: [65],
      mentions: [/skill\/evil/, /symlink "pw" points outside the artifact/],
    });
    assert.deepEqual(problems, []);
  });

  void it('an update whose upstream adds an absolute symlink: refused with 65, nothing written', () => {
    const repo = hostileUpstream({}, { 'skills/evil/abs': { link: '/etc/shadow' } });
    const dir = copyOf(fx.dir, true);
    const add = runCliSync(OUT_CLI, dir, ['add', `${repo}#skills/evil@v1`]);
    assert.equal(add.code, 0, add.stderr);
    const { problems } = refuse(dir, ['update', 'skill/evil', '--to', 'v2', '--strategy', 'overwrite'], {
      codes: [65],
      mentions: [/skill\/evil/, /symlink "abs" points outside/],
    });
    assert.deepEqual(problems, []);
  });

  /**
   * Builds an upstream tree with git plumbing: names and depths no file system could check out (tag v1),
   * after a commit that holds only SKILL.md (tag v0).
   */
  function plumbingUpstream(entryName: string, depth: number): string {
    const repo = path.join(tempDir('ak-hostile-up-'), 'repo.git');
    git(undefined, ['init', '--quiet', '--bare', '--', repo]);
    const hash = (text: string): string =>
      spawnSync('git', ['--git-dir', repo, 'hash-object', '-w', '--stdin'], {
        input: text,
        encoding: 'utf8',
      }).stdout.trim();
    const mktree = (lines: string[]): string =>
      spawnSync('git', ['--git-dir', repo, 'mktree'], {
        input: `${lines.join('\n')}\n`,
        encoding: 'utf8',
      }).stdout.trim();
    const skill = hash('---\nname: long\n---\nbody\n');
    const leaf = hash('leaf\n');
    let inner = mktree([`100644 blob ${leaf}\t${entryName}`]);
    for (let i = 0; i < depth; i++) inner = mktree([`040000 tree ${inner}\t${'d'.repeat(200)}`]);
    const rootOf = (artifact: string): string =>
      mktree([`040000 tree ${mktree([`040000 tree ${artifact}\tlong`])}\tskills`]);
    const dates = { GIT_AUTHOR_DATE: '1700000000 +0000', GIT_COMMITTER_DATE: '1700000000 +0000' };
    const good = mktree([`100644 blob ${skill}\tSKILL.md`]);
    const v0 = git(undefined, ['--git-dir', repo, 'commit-tree', rootOf(good), '-m', 'v0'], dates).trim();
    const artifact = mktree([`100644 blob ${skill}\tSKILL.md`, `040000 tree ${inner}\tdata`]);
    const commit = git(
      undefined,
      ['--git-dir', repo, 'commit-tree', rootOf(artifact), '-p', v0, '-m', 'v1'],
      dates,
    ).trim();
    git(undefined, ['--git-dir', repo, 'update-ref', 'refs/heads/main', commit]);
    git(undefined, ['--git-dir', repo, 'tag', 'v0', v0]);
    git(undefined, ['--git-dir', repo, 'tag', 'v1', commit]);
    return repo;
  }

  // Regressions: a long name was exit 4 "git checkout failed: unable to create file xxx…" with an empty
  // .artifact-keeper/tmp left behind; a deep path was exit 4 "cannot create directory at 'data/ddd…'" and
  // left .artifact-keeper/tmp/fetch-*/content/data/ddd… deeper than PATH_MAX behind. The tree is now listed
  // and checked before the checkout.
  for (const c of [
    { title: 'a file name longer than 255 bytes', leaf: 'x'.repeat(300), depth: 0 },
    { title: 'a path longer than 4096 bytes', leaf: 'leaf.md', depth: 25 },
  ]) {
    void it(`an upstream tree with ${c.title}: add refuses with 65`, () => {
      const repo = plumbingUpstream(c.leaf, c.depth);
      const dir = copyOf(fx.dir, true);
      try {
        const { problems } = refuse(dir, ['add', `${repo}#skills/long@v1`], {
          codes: [65],
          mentions: [/skill\/long/],
        });
        assert.deepEqual(problems, []);
      } finally {
        // A safety net: a regression must not break the temp cleanup of the whole run.
        removeDeep(dir);
      }
    });
  }

  void it('vets what is below the artifact and only that: a sibling whose name extends the path is neither listed nor refused', () => {
    // skills/long holds SKILL.md; skills/long-x (and skills/long.x, sorted between) hold a 300-byte name.
    const repo = path.join(tempDir('ak-hostile-up-'), 'repo.git');
    git(undefined, ['init', '--quiet', '--bare', '--', repo]);
    const run = (args: string[], input: string): string =>
      spawnSync('git', ['--git-dir', repo, ...args], { input, encoding: 'utf8' }).stdout.trim();
    const mktree = (lines: string[]): string => run(['mktree'], `${lines.join('\n')}\n`);
    const skill = run(['hash-object', '-w', '--stdin'], '---\nname: long\n---\nbody\n');
    const bad = mktree([`100644 blob ${skill}\tSKILL.md`, `100644 blob ${skill}\t${'x'.repeat(300)}`]);
    const good = mktree([
      `100644 blob ${skill}\tSKILL.md`,
      `040000 tree ${mktree([`100644 blob ${skill}\tr.md`])}\tref`,
    ]);
    const skills = mktree([
      `040000 tree ${good}\tlong`,
      `040000 tree ${bad}\tlong-x`,
      `040000 tree ${bad}\tlong.x`,
    ]);
    const commit = git(
      undefined,
      ['--git-dir', repo, 'commit-tree', mktree([`040000 tree ${skills}\tskills`]), '-m', 'v1'],
      {
        GIT_AUTHOR_DATE: '1700000000 +0000',
        GIT_COMMITTER_DATE: '1700000000 +0000',
      },
    ).trim();
    git(undefined, ['--git-dir', repo, 'update-ref', 'refs/heads/main', commit]);
    git(undefined, ['--git-dir', repo, 'tag', 'v1', commit]);
    const dir = copyOf(fx.dir, true);
    try {
      const add = runCliSync(OUT_CLI, dir, ['add', `${repo}#skills/long@v1`]);
      assert.equal(add.code, 0, add.stderr);
      const files = fs.readdirSync(path.join(dir, 'skills/long'), { recursive: true }).map(String).sort();
      assert.deepEqual(files, ['SKILL.md', 'ref', 'ref/r.md']);
      const { problems } = refuse(dir, ['add', `${repo}#skills/long-x@v1`], {
        codes: [65],
        mentions: [/has a name of 300 bytes/],
      });
      assert.deepEqual(problems, []);
    } finally {
      removeDeep(dir);
    }
  });

  void it('an update to an upstream tree no file system could hold: refused with 65, nothing written', () => {
    const repo = plumbingUpstream('x'.repeat(300), 0);
    const dir = copyOf(fx.dir, true);
    try {
      const add = runCliSync(OUT_CLI, dir, ['add', `${repo}#skills/long@v0`]);
      assert.equal(add.code, 0, add.stderr);
      const { problems } = refuse(dir, ['update', 'skill/long', '--to', 'v1', '--strategy', 'overwrite'], {
        codes: [65],
        mentions: [/^artifact-keeper: artifact skill\/long: /, /has a name of 300 bytes/],
      });
      assert.deepEqual(problems, []);
    } finally {
      removeDeep(dir);
    }
  });

  // Regression: this was exit 4 "copy … failed: ERR_FS_CP_FIFO_PIPE …".
  void it('a FIFO in a local-folder source: add refuses with 65 naming it, without hanging', () => {
    const source = path.join(tempDir('ak-hostile-src-'), 'piped');
    fs.mkdirSync(source);
    fs.writeFileSync(path.join(source, 'SKILL.md'), '---\nname: piped\n---\nbody\n');
    assert.equal(spawnSync('mkfifo', [path.join(source, 'pipe')]).status, 0, 'mkfifo');
    const dir = copyOf(fx.dir, true);
    const { problems } = refuse(dir, ['add', source], { codes: [65], mentions: [/pipe/], timeoutMs: 20_000 });
    assert.deepEqual(problems, []);
  });

  // Regression: this was exit 0, the device added as an empty regular file `zero`.
  void it('a device file in a local-folder source: add refuses with 65 naming it', () => {
    const source = path.join(tempDir('ak-hostile-src-'), 'devices');
    fs.mkdirSync(source);
    fs.writeFileSync(path.join(source, 'SKILL.md'), '---\nname: devices\n---\nbody\n');
    const made = spawnSync('mknod', [path.join(source, 'zero'), 'c', '1', '5']);
    assert.equal(made.status, 0, `mknod (we run as root): ${made.stderr}`);
    const dir = copyOf(fx.dir, true);
    const { problems } = refuse(dir, ['add', source], { codes: [65], mentions: [/zero/], timeoutMs: 20_000 });
    assert.deepEqual(problems, []);
  });

  // Regression: status and snapshot exited 70 (ENOENT on lstat '…/bad��.md'): the walk decoded the name
  // lossily and then could not find the file it listed. Names are now kept byte-exactly (fileNames.ts).
  void it('a non-UTF-8 file name inside an artifact: status reports the artifact modified; snapshot does not crash', () => {
    const dir = copyOf(fx.dir, true);
    const artifact = Buffer.from(path.join(dir, 'skills', 'up-00'));
    fs.writeFileSync(
      Buffer.concat([artifact, Buffer.from('/bad'), Buffer.from([0xff, 0xfe]), Buffer.from('.md')]),
      'hello\n',
    );
    const status = runCliSync(OUT_CLI, dir, ['status', '--json']);
    assert.equal(status.code, 1, `status: ${status.stderr}`);
    const report = JSON.parse(status.stdout) as { artifacts: { id: string; state: string }[] };
    assert.equal(report.artifacts.find((a) => a.id === 'skill/up-00')?.state, 'modified');
    const snapshot = runCliSync(OUT_CLI, dir, ['snapshot', '-m', 'non-utf8']);
    const lines = snapshot.stderr.split('\n').filter(Boolean);
    assert.ok(
      snapshot.code === 0 || (snapshot.code === 65 && lines.length === 1),
      `snapshot: exit ${snapshot.code} ${snapshot.stderr}`,
    );
  });

  // ---- archives and snapshot ids ------------------------------------------------------------------

  /** Writes a .tar.gz by hand (python's tarfile: node's tar package refuses to write such entries). */
  function evilTarball(
    entries: { name: string; kind: 'file' | 'symlink' | 'hardlink' | 'device'; data?: string }[],
    ours = true,
  ): string {
    const file = path.join(tempDir('ak-hostile-tar-'), 'evil.tar.gz');
    const script = `
import io, json, sys, tarfile
entries = json.loads(sys.argv[2])
with tarfile.open(sys.argv[1], 'w:gz') as t:
    def add(name, kind, data):
        info = tarfile.TarInfo(name)
        if kind == 'file':
            raw = data.encode(); info.size = len(raw); t.addfile(info, io.BytesIO(raw)); return
        if kind == 'symlink': info.type = tarfile.SYMTYPE; info.linkname = data
        if kind == 'hardlink': info.type = tarfile.LNKTYPE; info.linkname = data
        if kind == 'device': info.type = tarfile.CHRTYPE; info.devmajor = 1; info.devminor = 5
        t.addfile(info)
    if ${ours ? 'True' : 'False'}:
        add('artifact-keeper-snapshot.json', 'file', json.dumps({'format': 'artifact-keeper-snapshot', 'version': 1, 'snapshot': {'id': 's0000000000aa', 'reason': 'evil', 'trigger': 'user', 'artifacts': [], 'time': '2025-01-01T00:00:00.000Z', 'tool': 'x', 'pinned': False}}))
    for e in entries: add(e['name'], e['kind'], e.get('data', ''))
`;
    const result = spawnSync('python3', ['-c', script, file, JSON.stringify(entries)], { encoding: 'utf8' });
    assert.equal(result.status, 0, `python3 tarfile: ${result.stderr}`);
    return file;
  }

  const base = [
    { name: 'collection/collection.toml', kind: 'file' as const, data: '[collection]\nname = "x"\n' },
    { name: 'collection/skills/a/SKILL.md', kind: 'file' as const, data: '---\nname: a\n---\nx\n' },
  ];
  const archiveCases: {
    title: string;
    entries:
      typeof base | { name: string; kind: 'file' | 'symlink' | 'hardlink' | 'device'; data?: string }[];
    ours?: boolean;
    mentions: RegExp[];
    outside?: string;
  }[] = [
    {
      title: '"../" entries',
      entries: [...base, { name: 'collection/../../../../tmp/ak-pwned-dotdot', kind: 'file', data: 'x' }],
      mentions: [/\.\.\//, /leaves/],
      outside: '/tmp/ak-pwned-dotdot',
    },
    {
      title: 'absolute entries',
      entries: [...base, { name: '/tmp/ak-pwned-absolute', kind: 'file', data: 'x' }],
      mentions: [/\/tmp\/ak-pwned-absolute/, /absolute/],
      outside: '/tmp/ak-pwned-absolute',
    },
    {
      title: 'a symlink escaping the collection',
      entries: [
        ...base,
        { name: 'collection/skills/a/link', kind: 'symlink', data: '../../../../../etc/passwd' },
      ],
      mentions: [/skills\/a\/link/, /leaves the collection/],
    },
    {
      title: 'an absolute symlink',
      entries: [...base, { name: 'collection/skills/a/link', kind: 'symlink', data: '/etc/passwd' }],
      mentions: [/skills\/a\/link/, /leaves the collection/],
    },
    {
      title: 'a file written through a symlinked folder',
      entries: [
        ...base,
        { name: 'collection/skills/b', kind: 'symlink', data: '/tmp' },
        { name: 'collection/skills/b/ak-pwned-through-link', kind: 'file', data: 'x' },
      ],
      mentions: [/skills\/b/],
      outside: '/tmp/ak-pwned-through-link',
    },
    {
      title: 'a hard link',
      entries: [...base, { name: 'collection/skills/a/hard', kind: 'hardlink', data: '/etc/passwd' }],
      mentions: [/skills\/a\/hard/, /hard link/],
    },
    {
      title: 'a device entry',
      entries: [...base, { name: 'collection/skills/a/zero', kind: 'device' }],
      mentions: [/skills\/a\/zero/, /device/],
    },
    {
      title: 'a SkillMeat tarball with "../" entries',
      ours: false,
      entries: [
        { name: 'team/collection.toml', kind: 'file', data: '[collection]\nname = "x"\n' },
        { name: 'team/../../ak-pwned-skillmeat', kind: 'file', data: 'x' },
      ],
      mentions: [/\.\.\//],
    },
  ];
  for (const c of archiveCases) {
    void it(`import of a tarball with ${c.title}: refused with 65 naming the entry, nothing written`, () => {
      const tarball = evilTarball(c.entries, c.ours ?? true);
      const dir = copyOf(fx.dir, true);
      const { problems } = refuse(dir, ['import', tarball], {
        codes: [65],
        mentions: [/evil\.tar\.gz/, ...c.mentions],
      });
      if (c.outside) assert.equal(fs.existsSync(c.outside), false, `${c.outside} was written`);
      assert.deepEqual(problems, []);
    });
  }

  void it('a snapshot id that does not exist: restore and export refuse with 65, with and without state', () => {
    const problems: string[] = [];
    for (const withState of [true, false]) {
      const dir = copyOf(withState ? fx.dir : plain, withState);
      for (const args of [
        ['restore', 's0000000000zzz'],
        ['restore', '../../etc'],
        ['export', 'nope', path.join(tempDir(), 'x.tar.gz')],
      ]) {
        // Regression: without state, restore created .artifact-keeper/.gitignore before it failed.
        problems.push(...refuse(dir, args, { codes: [65], mentions: [/no snapshot "/] }).problems);
      }
      // A collection that never had a snapshot has no `latest` either.
      if (!withState)
        problems.push(
          ...refuse(dir, ['restore', 'latest'], { codes: [65], mentions: [/no snapshot "latest"/] }).problems,
        );
    }
    assert.deepEqual(problems, []);
  });

  void it('an import of a missing file, a non-archive or a folder without snapshots.toml: 65, nothing created', () => {
    const notArchive = path.join(tempDir('ak-hostile-tar-'), 'notes.tar.gz');
    fs.writeFileSync(notArchive, 'plain text, not gzip\n');
    const problems: string[] = [];
    for (const withState of [true, false]) {
      const dir = copyOf(withState ? fx.dir : plain, withState);
      for (const [file, mention] of [
        [path.join(tempDir(), 'missing.tar.gz'), /missing\.tar\.gz: no such file/],
        [notArchive, /notes\.tar\.gz: not a readable \.tar\.gz/],
        [tempDir('ak-hostile-empty-'), /no snapshots\.toml here/],
      ] as const) {
        problems.push(...refuse(dir, ['import', file], { codes: [65], mentions: [mention] }).problems);
      }
    }
    assert.deepEqual(problems, []);
  });

  void it('relock of an unknown artifact, or on a malformed manifest, creates nothing', () => {
    const problems: string[] = [];
    const dir = copyOf(plain, false);
    problems.push(
      ...refuse(dir, ['relock', 'skill/nope'], { codes: [65], mentions: [/no artifact skill\/nope/] })
        .problems,
    );
    editManifest(dir, (t) => t.replace('type = "skill"', 'type = '));
    problems.push(
      ...refuse(dir, ['relock', 'skill/up-00'], { codes: [65], mentions: [/collection\.toml:\d+:\d+: /] })
        .problems,
    );
    assert.deepEqual(problems, []);
  });

  void it('git option injection through add: refused, and the marker file never appears', () => {
    const marker = path.join(tempDir('ak-hostile-marker-'), 'pwned');
    const repo = hostileUpstream({});
    const dir = copyOf(fx.dir, true);
    const problems: string[] = [];
    const cases: { args: string[]; codes: number[] }[] = [
      { args: ['add', `--upload-pack=touch ${marker}`], codes: [64] },
      { args: ['add', '-u', `touch ${marker}`], codes: [64] },
      { args: ['add', '--', `--upload-pack=touch ${marker}`], codes: [65] },
      { args: ['add', '--', `-oProxyCommand=touch ${marker}:repo`], codes: [65] },
      { args: ['add', '--', `ext::sh -c touch% ${marker}`], codes: [65] },
      { args: ['add', '--', `file://${repo} --upload-pack=touch ${marker}`], codes: [65] },
      { args: ['add', '--', `${repo}@--upload-pack=touch ${marker}`], codes: [65] },
      { args: ['add', '--', `${repo}#--upload-pack=touch ${marker}`], codes: [65] },
      { args: ['add', '--', `ssh://-oProxyCommand=touch%20${marker}/x/y`], codes: [65, 69] },
      { args: ['add', '--', `host:--upload-pack=touch ${marker}`], codes: [65, 69] },
    ];
    for (const c of cases) {
      problems.push(...refuse(dir, c.args, { codes: c.codes }).problems);
      if (fs.existsSync(marker)) problems.push(`${c.args.join(' ')}: ${marker} was created`);
    }
    assert.deepEqual(problems, []);
  });
});

/**
 * A TCP proxy in front of the git daemon that passes everything until one connection has carried
 * `limit` bytes from the server (only the pack with the 32 MB blob does; ref listings are small), then
 * stops listening, destroys both sockets and calls `cut` (which kills the daemon): the upstream vanishes
 * in the middle of the transfer, every time, whatever the machine's speed.
 */
async function cuttingProxy(
  targetPort: number,
  limit: number,
  cut: () => void,
): Promise<{ server: net.Server; port: number; wasCut: () => boolean }> {
  let done = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    let fromServer = 0;
    upstream.on('data', (chunk: Buffer) => {
      fromServer += chunk.length;
      if (fromServer <= limit) {
        client.write(chunk);
        return;
      }
      if (done) return;
      done = true;
      server.close();
      for (const socket of sockets) socket.destroy();
      cut();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, wasCut: () => done };
}

void describe('an upstream that disappears mid-fetch', () => {
  let proxy: net.Server | undefined;
  after(() => proxy?.close());

  // Regression: this used to race a watcher against the fetch, which often finished first (exit 0).
  void it('update exits 69 with one line naming the upstream, and writes nothing', async () => {
    const served = tempDir('ak-hostile-served-');
    const repo = path.join(served, 'big');
    fs.mkdirSync(repo);
    git(undefined, ['init', '--quiet', '--initial-branch=main', '--', repo]);
    fs.mkdirSync(path.join(repo, 'skills', 'big'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'skills', 'big', 'SKILL.md'), '---\nname: big\n---\nv1\n');
    commitAll(repo, 'v1', 1_700_000_000, 'v1');
    // 32 MB that does not compress: far more than the proxy lets through.
    const noise = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < noise.length; i += 4)
      noise.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    fs.writeFileSync(path.join(repo, 'skills', 'big', 'data.bin'), noise);
    commitAll(repo, 'v2', 1_700_000_100, 'v2');

    // A real git daemon behind the proxy; once the proxy cuts the transfer, the daemon goes too.
    const daemon = await serveUpstreams(served);
    const cutter = await cuttingProxy(daemon.port, 512 * 1024, () => void daemon.close());
    proxy = cutter.server;
    const url = `git://127.0.0.1:${cutter.port}/big`;
    const dir = path.join(tempDir('ak-hostile-'), 'collection');
    fs.mkdirSync(dir);
    assert.equal(runCliSync(OUT_CLI, dir, ['init']).code, 0);
    // The CLI runs asynchronously: the proxy lives in this process's event loop.
    const cli = async (args: string[]): Promise<{ code: number; stderr: string }> => {
      const child = spawn(process.execPath, [OUT_CLI, ...args, '--collection', dir], {
        env: cliEnv(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
      return { code, stderr };
    };
    const add = await cli(['add', `${url}#skills/big@v1`]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(cutter.wasCut(), false, 'adding v1 passed the proxy whole');
    const everything = listTree(dir, new Set());

    const { code, stderr } = await cli(['update', 'skill/big', '--to', 'v2', '--strategy', 'overwrite']);
    assert.equal(cutter.wasCut(), true, 'the proxy cut the transfer of v2');
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(code, 69, stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0] ?? '',
      /^artifact-keeper: upstream git:\/\/127\.0\.0\.1:\d+\/big.* is unreachable: /,
    );
    const now = listTree(dir, new Set());
    withoutDerivedCaches(now, everything);
    assert.ok(sameListing(now, everything), `nothing written: ${describeDiff(now, everything)}`);
  });
});
