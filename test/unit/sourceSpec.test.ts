/**
 * Tests for the source grammar in src/core/sources/sourceSpec.ts: a table of SOURCE texts (git URLs of every
 * form, local repositories and folders through a fake probe, GitHub shorthand) and what they parse to,
 * option-injection attempts, the manifest `upstream` strings and their reverse, and derived names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCoreError } from '../../src/core/base/errors.js';
import {
  assertSafeSource,
  deriveName,
  formatSource,
  parseSourceSpec,
  refProblem,
  sourceFromUpstream,
  upstreamString,
  versionFromRef,
} from '../../src/core/sources/sourceSpec.js';
import type { PathKind, RemoteSource, Source } from '../../src/core/sources/sourceSpec.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

/** The fake file system the parser sees: absolute path → what is there. */
const PATHS: Record<string, PathKind> = {
  '/srv/repos/tools.git': 'git',
  '/srv/repos/work': 'git',
  '/home/me/src/kit': 'git',
  '/home/me/folders/my-skill': 'folder',
  '/home/me/folders/at@sign': 'folder',
  '/home/me/folders/review.md': 'file',
  '/home/me/src/kit/skills/pdf': 'folder',
};
const options = {
  cwd: '/home/me/src',
  home: '/home/me',
  probe: (p: string): PathKind => PATHS[p] ?? 'missing',
};
const parse = (text: string): Source => parseSourceSpec(text, options);

const git = (url: string, subpath = '', ref = 'latest'): Source => ({ kind: 'git', url, subpath, ref });
const github = (owner: string, repo: string, subpath = '', ref = 'latest'): Source => ({
  kind: 'github',
  owner,
  repo,
  url: `https://github.com/${owner}/${repo}.git`,
  subpath,
  ref,
});

function check(text: string, expected: Source): void {
  const parsed = parse(text);
  assert.deepEqual(parsed, expected, text);
  // The canonical text parses back to the same source.
  assert.deepEqual(parse(formatSource(parsed)), parsed, `round trip of ${text}`);
}

function rejects(text: string, reasonPart: string | RegExp): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(isCoreError(err, 'source-invalid'), `${text}: ${String(err)}`);
      if (typeof reasonPart === 'string')
        assert.ok(err.failure.reason.includes(reasonPart), `${text}: ${err.failure.reason}`);
      else assert.match(err.failure.reason, reasonPart, text);
      return true;
    },
  );
}

void describe('parseSourceSpec: git URLs', () => {
  const table: [string, Source][] = [
    ['https://gitlab.com/team/tools.git', git('https://gitlab.com/team/tools.git')],
    ['https://gitlab.com/team/tools.git#skills/pdf', git('https://gitlab.com/team/tools.git', 'skills/pdf')],
    [
      'https://gitlab.com/team/tools.git@v1.2.0#skills/pdf',
      git('https://gitlab.com/team/tools.git', 'skills/pdf', 'v1.2.0'),
    ],
    [
      'https://gitlab.com/team/tools.git#skills/pdf@v1.2.0',
      git('https://gitlab.com/team/tools.git', 'skills/pdf', 'v1.2.0'),
    ],
    ['https://gitlab.com/team/tools.git@main', git('https://gitlab.com/team/tools.git', '', 'main')],
    [
      'https://gitlab.com/team/tools.git#/skills/pdf/',
      git('https://gitlab.com/team/tools.git', 'skills/pdf'),
    ],
    ['https://user@gitlab.com/team/tools.git', git('https://user@gitlab.com/team/tools.git')],
    [
      'https://user@gitlab.com:8443/team/tools.git@dev',
      git('https://user@gitlab.com:8443/team/tools.git', '', 'dev'),
    ],
    [
      'ssh://git@gitlab.com/team/tools.git#commands/review.md',
      git('ssh://git@gitlab.com/team/tools.git', 'commands/review.md'),
    ],
    [
      'ssh://git@gitlab.com:2222/team/tools.git@feature/x',
      git('ssh://git@gitlab.com:2222/team/tools.git', '', 'feature/x'),
    ],
    ['git@github.com:owner/repo.git', git('git@github.com:owner/repo.git')],
    [
      'git@github.com:owner/repo.git@v2#agents/a.md',
      git('git@github.com:owner/repo.git', 'agents/a.md', 'v2'),
    ],
    [
      'git@github.com:owner/repo.git#agents/a.md@0123abc',
      git('git@github.com:owner/repo.git', 'agents/a.md', '0123abc'),
    ],
    ['host.example:repo', git('host.example:repo')],
    ['git://git.example.org/tools', git('git://git.example.org/tools')],
    ['file:///srv/repos/tools.git', git('file:///srv/repos/tools.git')],
    ['file:///srv/repos/tools.git#skills/pdf@v1', git('file:///srv/repos/tools.git', 'skills/pdf', 'v1')],
    [
      'file:///srv/repos/tools.git@refs/tags/v1#skills/pdf',
      git('file:///srv/repos/tools.git', 'skills/pdf', 'refs/tags/v1'),
    ],
    ['  https://gitlab.com/team/tools.git  ', git('https://gitlab.com/team/tools.git')],
  ];
  for (const [text, expected] of table) {
    void it(text.trim(), () => check(text, expected));
  }
});

void describe('parseSourceSpec: GitHub', () => {
  const table: [string, Source][] = [
    ['anthropics/skills', github('anthropics', 'skills')],
    ['anthropics/skills/document-skills/pdf', github('anthropics', 'skills', 'document-skills/pdf')],
    [
      'anthropics/skills/document-skills/pdf@v1.2.0',
      github('anthropics', 'skills', 'document-skills/pdf', 'v1.2.0'),
    ],
    ['owner/repo/commands/review.md@latest', github('owner', 'repo', 'commands/review.md', 'latest')],
    ['owner/repo/path/x@feature@2', github('owner', 'repo', 'path/x@feature', '2')],
    ['owner/repo@abcdef1', github('owner', 'repo', '', 'abcdef1')],
    ['owner/repo#skills/pdf@v3', github('owner', 'repo', 'skills/pdf', 'v3')],
    ['https://github.com/owner/repo', github('owner', 'repo')],
    ['https://github.com/owner/repo.git#skills/pdf@v1', github('owner', 'repo', 'skills/pdf', 'v1')],
    ['https://github.com/owner/repo/tree/main/skills/pdf', github('owner', 'repo', 'skills/pdf', 'main')],
    [
      'https://github.com/owner/repo/blob/v2/commands/review.md',
      github('owner', 'repo', 'commands/review.md', 'v2'),
    ],
  ];
  for (const [text, expected] of table) {
    void it(text, () => check(text, expected));
  }
  void it('keeps the shorthand text canonical', () => {
    assert.equal(formatSource(parse('owner/repo/a/b@v1')), 'owner/repo/a/b@v1');
    assert.equal(formatSource(parse('owner/repo')), 'owner/repo');
  });
});

void describe('parseSourceSpec: local paths', () => {
  const table: [string, Source][] = [
    ['/srv/repos/tools.git', git('/srv/repos/tools.git')],
    ['/srv/repos/tools.git/', git('/srv/repos/tools.git')],
    ['/srv/repos/tools.git#skills/pdf', git('/srv/repos/tools.git', 'skills/pdf')],
    ['/srv/repos/tools.git@v1#skills/pdf', git('/srv/repos/tools.git', 'skills/pdf', 'v1')],
    ['/srv/repos/tools.git#skills/pdf@v1', git('/srv/repos/tools.git', 'skills/pdf', 'v1')],
    ['/srv/repos/work@main', git('/srv/repos/work', '', 'main')],
    ['kit', git('/home/me/src/kit')],
    ['./kit#skills/pdf', git('/home/me/src/kit', 'skills/pdf')],
    ['../folders/my-skill', { kind: 'folder', path: '/home/me/folders/my-skill' }],
    ['~/folders/my-skill', { kind: 'folder', path: '/home/me/folders/my-skill' }],
    ['/home/me/folders/at@sign', { kind: 'folder', path: '/home/me/folders/at@sign' }],
    ['/home/me/folders/review.md', { kind: 'folder', path: '/home/me/folders/review.md' }],
    // A folder inside a repository is a folder, not the repository.
    ['kit/skills/pdf', { kind: 'folder', path: '/home/me/src/kit/skills/pdf' }],
  ];
  for (const [text, expected] of table) {
    void it(text, () => check(text, expected));
  }
  void it('refuses a ref or subpath on a plain folder, and a missing explicit path', () => {
    rejects('/home/me/folders/my-skill@v1', 'git sources only');
    rejects('/home/me/folders/my-skill#sub', 'git sources only');
    rejects('./nothing-here', 'no such file or folder');
    rejects('/srv/missing.git', 'no such file or folder');
  });
});

void describe('parseSourceSpec: rejected input', () => {
  const table: [string, string | RegExp][] = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['--upload-pack=touch /tmp/x', 'starts with "-"'],
    ['-oProxyCommand=touch /tmp/x', 'starts with "-"'],
    ['ext::sh -c touch% /tmp/x', 'transport helpers'],
    ['fd::17', 'transport helpers'],
    ['https://gitlab.com/team/tools.git@--upload-pack=x', 'starts with "-"'],
    ['https://gitlab.com/team/tools.git#skills/pdf@-x', 'starts with "-"'],
    ['https://gitlab.com/team/tools.git@main..dev', '".."'],
    ['https://gitlab.com/team/tools.git@HEAD~1', '~ ^ :'],
    ['https://gitlab.com/team/tools.git@x?y', '~ ^ :'],
    ['https://gitlab.com/team/tools.git@x.lock', '.lock'],
    ['https://gitlab.com/team/tools.git#../../etc', '".."'],
    ['https://gitlab.com/team/tools.git#skills/.git/config', '".git"'],
    ['https://gitlab.com/team tools.git', 'space'],
    ['https://gitlab.com/team/tools.git\n--upload-pack=x', 'control character'],
    ['ftp://example.org/tools.git', 'scheme "ftp"'],
    ['pdf', 'fewer than 2 parts'],
    ['owner/repo@', 'empty'],
    ['-owner/repo', 'starts with "-"'],
    ['own er/repo', 'not a GitHub owner'],
    ['owner/repo/skills/x#y', 'path is given twice'],
    ['https://github.com/owner/repo/tree/main/x@v2', 'ref is given twice'],
  ];
  for (const [text, reason] of table) {
    void it(JSON.stringify(text), () => rejects(text, reason));
  }
});

void describe('upstream strings', () => {
  const sha = '0123456789abcdef0123456789abcdef01234567';

  void it('writes SkillMeat’s /tree/ form for GitHub and url#path for other git sources', () => {
    const cases: [RemoteSource, string][] = [
      [
        github('anthropics', 'skills', 'document-skills/pdf', 'v1') as RemoteSource,
        `https://github.com/anthropics/skills/tree/${sha}/document-skills/pdf`,
      ],
      [github('owner', 'repo') as RemoteSource, `https://github.com/owner/repo/tree/${sha}`],
      [git('/srv/repos/tools.git', 'skills/pdf', 'v1') as RemoteSource, '/srv/repos/tools.git#skills/pdf'],
      [git('https://gitlab.com/team/tools.git') as RemoteSource, 'https://gitlab.com/team/tools.git'],
    ];
    for (const [source, expected] of cases) assert.equal(upstreamString(source, sha), expected);
  });

  void it('rebuilds the source from upstream + version_spec (the sha in /tree/ is ignored)', () => {
    assert.deepEqual(
      sourceFromUpstream(`https://github.com/anthropics/skills/tree/${sha}/document-skills/pdf`, 'v1.2.0'),
      github('anthropics', 'skills', 'document-skills/pdf', 'v1.2.0'),
    );
    assert.deepEqual(
      sourceFromUpstream(`https://github.com/owner/repo/tree/${sha}`),
      github('owner', 'repo'),
    );
    assert.deepEqual(sourceFromUpstream('https://github.com/owner/repo'), github('owner', 'repo'));
    assert.deepEqual(
      sourceFromUpstream('/srv/repos/tools.git#skills/pdf', 'latest'),
      git('/srv/repos/tools.git', 'skills/pdf'),
    );
    assert.deepEqual(
      sourceFromUpstream('git@gitlab.com:team/tools.git#agents/a@b.md', 'main'),
      git('git@gitlab.com:team/tools.git', 'agents/a@b.md', 'main'),
    );
    // Not probed: a local repository that has gone away is reported when it is resolved.
    assert.deepEqual(sourceFromUpstream('/nowhere/gone.git', 'v1'), git('/nowhere/gone.git', '', 'v1'));
  });

  void it('round-trips every remote form through upstreamString and sourceFromUpstream', () => {
    const sources = [
      'anthropics/skills/document-skills/pdf@v1.2.0',
      'owner/repo@main',
      '/srv/repos/tools.git#skills/pdf@v1',
      'https://gitlab.com/team/tools.git@dev#commands/review.md',
      'git@gitlab.com:team/tools.git',
    ];
    for (const text of sources) {
      const source = parse(text) as RemoteSource;
      assert.deepEqual(sourceFromUpstream(upstreamString(source, sha), source.ref), source, text);
    }
  });

  void it('refuses tampered upstreams', () => {
    const tampered = [
      ['--upload-pack=touch /tmp/x', undefined],
      ['ext::sh -c touch% /tmp/x', undefined],
      ['/srv/repos/tools.git', '--upload-pack=x'],
      ['/srv/repos/tools.git#../../x', 'v1'],
      ['relative/path.git', 'v1'],
      ['https://github.com/owner/repo/pulls', undefined],
      ['gopher://example.org/x', undefined],
    ] as const;
    for (const [upstream, spec] of tampered) {
      assert.throws(
        () => sourceFromUpstream(upstream, spec),
        (err: unknown) => isCoreError(err, 'source-invalid'),
        upstream,
      );
    }
  });
});

void describe('refProblem', () => {
  void it('accepts what git accepts and refuses what could be an option or a revision expression', () => {
    for (const ref of ['latest', 'v1.2.0', 'feature/x', 'refs/tags/v1', '0123abc', 'a{1}'])
      assert.equal(refProblem(ref), undefined, ref);
    for (const ref of [
      'a@{1}',
      '@',
      '-x',
      'a..b',
      'a b',
      'a/',
      '/a',
      'a//b',
      '.a',
      'a/.b',
      'a.',
      'a\\b',
      'HEAD^',
      'x:y',
    ]) {
      assert.notEqual(refProblem(ref), undefined, ref);
    }
  });
});

void describe('assertSafeSource', () => {
  void it('catches hand-built sources that the parser would have refused', () => {
    const bad: Source[] = [
      git('--upload-pack=touch /tmp/x'),
      git('ext::sh -c touch% /tmp/x'),
      git('relative/repo'),
      git('/srv/repos/tools.git', '', '--output=/tmp/x'),
      git('/srv/repos/tools.git', '../up'),
      { kind: 'folder', path: 'relative' },
    ];
    for (const source of bad) {
      assert.throws(
        () => assertSafeSource(source),
        (err: unknown) => isCoreError(err, 'source-invalid'),
        JSON.stringify(source),
      );
    }
    assert.doesNotThrow(() => assertSafeSource(git('/srv/repos/tools.git', 'skills/pdf', 'v1')));
  });
});

void describe('deriveName and versionFromRef', () => {
  void it('takes the stem of the last path segment, else the repository name', () => {
    const cases: [string, string][] = [
      ['owner/repo/commands/review.md', 'review'],
      ['owner/repo/skills/pdf', 'pdf'],
      ['owner/repo.js', 'repo.js'],
      ['https://gitlab.com/team/tools.git', 'tools'],
      ['git@gitlab.com:team/tools.git#agents/helper.md@v1', 'helper'],
      ['host.example:tools', 'tools'],
      ['/srv/repos/tools.git', 'tools'],
      ['/home/me/folders/my-skill', 'my-skill'],
      ['/home/me/folders/review.md', 'review'],
    ];
    for (const [text, name] of cases) assert.equal(deriveName(parse(text)), name, text);
  });

  void it('follows SkillMeat’s resolved_version heuristic', () => {
    assert.equal(versionFromRef('v1'), 'v1');
    assert.equal(versionFromRef('1.2.0'), '1.2.0');
    assert.equal(versionFromRef('v2-dev'), 'v2-dev');
    assert.equal(versionFromRef('main'), undefined);
    assert.equal(versionFromRef('latest'), undefined);
    assert.equal(versionFromRef('LATEST'), undefined);
    assert.equal(versionFromRef('0123abc'), undefined);
  });
});
