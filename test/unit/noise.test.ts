/**
 * Noise files are never edits (DESIGN §5 step 6): the rule itself, status (our locks and SkillMeat's
 * that hashed a `.DS_Store`), and add, update and check on real git upstreams through the CLI: noise is
 * never copied from upstream, never planned, and a local noise file stays where it is, byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isNoisePath } from '../../src/core/base/noise.js';
import { loadCollection } from '../../src/core/model/collection.js';
import { contentHash, skillMeatHash } from '../../src/core/model/hash.js';
import { checkCollection } from '../../src/core/status/consistency.js';
import { emptyStatCache } from '../../src/core/status/statCache.js';
import { copySharedFixture, runCli, tempDir, writeTree } from './support/collections.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';

/** §2.1 over `entries` given in Python path order: path then bytes, one hasher, nothing between. */
function hashOf(entries: [string, string][]): string {
  const hash = createHash('sha256');
  for (const [rel, content] of entries) hash.update(rel, 'utf8').update(content, 'utf8');
  return hash.digest('hex');
}

const later = (): number => Date.now() + 60_000;
const read = (dir: string, rel: string): string => fs.readFileSync(path.join(dir, rel), 'utf8');

/** Every noise kind of the design, in a skill folder `rel` of `dir`. */
function addNoise(dir: string, rel: string): void {
  writeTree(path.join(dir, rel), {
    '.DS_Store': 'finder\0',
    'Thumbs.db': 'explorer',
    'x.swp': 'vim',
    '.SKILL.md.swo': 'vim again',
    'notes~': 'emacs backup',
    '__pycache__/a.pyc': 'bytecode',
    'ref/__pycache__/b.cpython-312.pyc': 'bytecode',
    'ref/.DS_Store': 'finder',
    'vendor/.git/HEAD': 'ref: refs/heads/main\n',
    'vendor/.git/objects/ab/cdef': 'object',
  });
}

describe('the noise rule', () => {
  const check = (rel: string, expected: boolean): void =>
    assert.equal(isNoisePath(rel), expected, `${rel} ${expected ? 'is' : 'is not'} noise`);

  it('matches whole path components at any depth', () => {
    for (const rel of [
      '.DS_Store',
      'ref/.DS_Store',
      'Thumbs.db',
      'a/b/Thumbs.db',
      'x.swp',
      '.SKILL.md.swp',
      'ref/.usage.md.swo',
      'notes~',
      'ref/old.md~',
      '~',
      '.git',
      '.git/config',
      'vendor/.git',
      'vendor/.git/objects/ab/cdef',
      '__pycache__',
      '__pycache__/a.pyc',
      'scripts/__pycache__/run.cpython-312.pyc',
    ])
      check(rel, true);
  });

  it('never matches a substring: names that only contain a noise name are content', () => {
    for (const rel of [
      'SKILL.md',
      'my.git.md',
      '.gitignore',
      '.github/workflows/ci.yml',
      'a.git',
      'git/config',
      'a~b',
      '~notes',
      'x.swp.md',
      'swp',
      '.DS_Store.md',
      'my.DS_Store',
      'Thumbs.db.bak',
      'thumbs.db.md',
      '__pycache__.md',
      'ref/__pycache__x/a.pyc',
      'a.pyc',
    ])
      check(rel, false);
  });
});

describe('status: noise is never an edit', () => {
  it('a skill with .DS_Store, swap files, backups, __pycache__ and a nested .git stays clean; CLI exit 0', async () => {
    const dir = copySharedFixture();
    const lockBefore = read(dir, 'collection.lock');
    addNoise(dir, 'skills/pdf-tools');
    addNoise(dir, 'skills/café-notes/deep/a');
    const report = await checkCollection(dir);
    assert.equal(report.state, 'clean');
    assert.deepEqual(report.findings, []);
    const skill = report.artifacts.find((a) => a.id === 'skill/pdf-tools');
    assert.equal(skill?.state, 'clean');
    assert.equal(skill?.currentHash, skill?.lockedHash);
    const cli = runCli(['status', '--collection', dir]);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.equal(read(dir, 'collection.lock'), lockBefore, 'status writes no lock');
    // Noise does not hide a real edit.
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/ref/usage.md'), 'local edit\n');
    const edited = runCli(['status', '--json', '--collection', dir]);
    assert.equal(edited.code, 1);
    const json = JSON.parse(edited.stdout) as { artifacts: { id: string; state: string }[] };
    assert.deepEqual(
      json.artifacts.filter((a) => a.state !== 'clean').map((a) => `${a.id} ${a.state}`),
      ['skill/pdf-tools modified'],
    );
  });

  it('noise coming and going re-hashes nothing and never flips the state (warm stat cache)', async () => {
    const dir = copySharedFixture();
    const cache = emptyStatCache();
    assert.equal((await checkCollection(dir, { cache, now: later })).rehashed, 4);
    addNoise(dir, 'skills/pdf-tools');
    const withNoise = await checkCollection(dir, { cache, now: later });
    assert.equal(withNoise.state, 'clean');
    assert.equal(withNoise.rehashed, 0, 'the real files kept their stamps: nothing read');
    fs.rmSync(path.join(dir, 'skills/pdf-tools/.DS_Store'));
    fs.rmSync(path.join(dir, 'skills/pdf-tools/__pycache__'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skills/pdf-tools/ref/usage.md~'), 'another backup');
    const changedNoise = await checkCollection(dir, { cache, now: later });
    assert.equal(changedNoise.state, 'clean');
    assert.equal(changedNoise.rehashed, 0);
    // A real edit next to the noise is still seen, and only its artifact is re-hashed.
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'edit\n');
    const edited = await checkCollection(dir, { cache, now: later });
    assert.equal(edited.state, 'modified');
    assert.equal(edited.rehashed, 1);
    // The persisted cache agrees in a fresh process's view.
    assert.equal(runCli(['status', '--collection', dir]).code, 1);
  });

  it('a SkillMeat lock whose hash counted a .DS_Store still reads clean, and relock leaves it alone', async () => {
    const dir = copySharedFixture();
    const skill = path.join(dir, 'skills/pdf-tools');
    fs.writeFileSync(path.join(skill, '.DS_Store'), 'finder\0state');
    const clean = contentHash(skill);
    const skillMeat = skillMeatHash(skill);
    assert.notEqual(skillMeat, clean);
    const lockFile = path.join(dir, 'collection.lock');
    const oldHash = loadCollection(dir).lock.entries.get('pdf-tools::skill')?.contentHash as string;
    assert.equal(oldHash, clean, 'the fixture lock is the hash without the noise');
    fs.writeFileSync(lockFile, read(dir, 'collection.lock').replace(oldHash, skillMeat));
    const lockBefore = read(dir, 'collection.lock');

    const cache = emptyStatCache();
    for (let round = 0; round < 2; round++) {
      const report = await checkCollection(dir, { cache, now: later });
      assert.equal(report.state, 'clean', `round ${round}`);
      const entry = report.artifacts.find((a) => a.id === 'skill/pdf-tools');
      assert.equal(entry?.currentHash, skillMeat, 'the hash that matched is the one shown');
      assert.equal(report.rehashed, round === 0 ? 4 : 0, 'warm: the SkillMeat hash is cached too');
    }
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    const relock = runCli(['relock', 'skill/pdf-tools', '--json', '--collection', dir]);
    assert.equal(relock.code, 0, relock.stderr);
    assert.deepEqual((JSON.parse(relock.stdout) as { relocked: string[] }).relocked, []);
    assert.equal(read(dir, 'collection.lock'), lockBefore, 'a clean artifact is not re-locked');

    // An edit makes it modified; relock then writes the hash without the noise, which noise never moves.
    fs.appendFileSync(path.join(skill, 'SKILL.md'), 'edit\n');
    assert.equal(runCli(['status', '--collection', dir]).code, 1);
    assert.equal(runCli(['relock', 'skill/pdf-tools', '--collection', dir]).code, 0);
    const relocked = loadCollection(dir).lock.entries.get('pdf-tools::skill')?.contentHash;
    assert.equal(relocked, contentHash(skill));
    fs.rmSync(path.join(skill, '.DS_Store'));
    assert.equal(relocked, skillMeatHash(skill), 'without noise, the same as SkillMeat would write');
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });
});

const SKILL_V1 = '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n';
const SKILL_V2 = '---\nname: pdf\ndescription: PDF tools, v2\n---\n# PDF\n';

describe('add, update and check: noise is never copied, planned or a conflict', () => {
  function setup(): { dir: string; up: ReturnType<typeof makeUpstream> } {
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      {
        files: {
          'skills/pdf/SKILL.md': SKILL_V1,
          'skills/pdf/ref/usage.md': 'usage v1\n',
          'skills/pdf/scripts/run.sh': { content: '#!/bin/sh\necho v1\n', executable: true },
          // Committed by mistake upstream: never copied in.
          'skills/pdf/.DS_Store': 'upstream finder v1',
          'skills/pdf/scripts/__pycache__/run.cpython-312.pyc': 'upstream bytecode v1',
        },
        tag: 'v1',
      },
    ]);
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const add = runCli(['add', '--allow-exec', `${up.url}#skills/pdf@v1`, '--collection', dir]);
    assert.equal(add.code, 0, add.stderr);
    return { dir, up };
  }

  it('add from git copies no noise and locks the hash of the other files', () => {
    const { dir } = setup();
    assert.deepEqual(fs.readdirSync(path.join(dir, 'skills/pdf')).sort(), ['SKILL.md', 'ref', 'scripts']);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'skills/pdf/scripts')), ['run.sh']);
    const lock = loadCollection(dir).lock.entries.get('pdf::skill');
    assert.equal(
      lock?.contentHash,
      hashOf([
        ['SKILL.md', SKILL_V1],
        ['ref/usage.md', 'usage v1\n'],
        ['scripts/run.sh', '#!/bin/sh\necho v1\n'],
      ]),
    );
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('add from a local folder copies no noise', () => {
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const folder = path.join(tempDir(), 'notes');
    writeTree(folder, { 'SKILL.md': '---\nname: notes\n---\nbody\n', 'ref/a.md': 'A\n' });
    addNoise(path.dirname(folder), 'notes');
    const r = runCli(['add', '--allow-exec', folder, '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
    const skill = path.join(dir, 'skills/notes');
    assert.deepEqual(fs.readdirSync(skill).sort(), ['SKILL.md', 'ref']);
    assert.deepEqual(fs.readdirSync(path.join(skill, 'ref')), ['a.md']);
    assert.equal(
      loadCollection(dir).lock.entries.get('notes::skill')?.contentHash,
      hashOf([
        ['SKILL.md', '---\nname: notes\n---\nbody\n'],
        ['ref/a.md', 'A\n'],
      ]),
    );
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('an overwrite update copies no upstream noise and leaves every local noise file untouched', () => {
    const { dir, up } = setup();
    const skill = path.join(dir, 'skills/pdf');
    addNoise(dir, 'skills/pdf');
    // A folder whose last real file upstream removes, holding only local noise besides.
    fs.mkdirSync(path.join(skill, 'scripts/__pycache__'));
    fs.writeFileSync(path.join(skill, 'scripts/__pycache__/run.pyc'), 'local bytecode');
    const noiseBefore = [
      '.DS_Store',
      'Thumbs.db',
      'x.swp',
      '.SKILL.md.swo',
      'notes~',
      '__pycache__/a.pyc',
      'ref/__pycache__/b.cpython-312.pyc',
      'ref/.DS_Store',
      'vendor/.git/HEAD',
      'vendor/.git/objects/ab/cdef',
      'scripts/__pycache__/run.pyc',
    ].map((rel) => [rel, fs.readFileSync(path.join(skill, rel))] as const);
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'local noise is no edit');
    commitUpstream(up, {
      files: {
        'skills/pdf/SKILL.md': SKILL_V2,
        'skills/pdf/.DS_Store': 'upstream finder v2',
        'skills/pdf/ref/.usage.md.swp': 'upstream swap',
        'skills/pdf/ref/usage.md~': 'upstream backup',
        'skills/pdf/__pycache__/new.pyc': 'upstream bytecode v2',
        'skills/pdf/Thumbs.db': 'upstream explorer',
      },
      remove: ['skills/pdf/scripts/run.sh'],
      tag: 'v2',
    });

    const dry = runCli([
      'update',
      '--allow-exec',
      'skill/pdf',
      '--to',
      'v2',
      '--dry-run',
      '--json',
      '--collection',
      dir,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = JSON.stringify(JSON.parse(dry.stdout));
    for (const name of ['.DS_Store', 'swp', 'usage.md~', '__pycache__', 'Thumbs.db', '.git'])
      assert.ok(!planned.includes(name), `${name} is not planned: ${planned}`);

    const r = runCli([
      'update',
      '--allow-exec',
      'skill/pdf',
      '--to',
      'v2',
      '--strategy',
      'overwrite',
      '--collection',
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(read(skill, 'SKILL.md'), SKILL_V2);
    assert.ok(!fs.existsSync(path.join(skill, 'scripts/run.sh')), 'upstream removal applied');
    for (const [rel, bytes] of noiseBefore)
      assert.deepEqual(fs.readFileSync(path.join(skill, rel)), bytes, `${rel} untouched`);
    for (const rel of ['ref/.usage.md.swp', 'ref/usage.md~', '__pycache__/new.pyc'])
      assert.ok(!fs.existsSync(path.join(skill, rel)), `${rel} not copied from upstream`);
    const lock = loadCollection(dir).lock.entries.get('pdf::skill');
    assert.equal(lock?.resolvedSha, up.tags.v2);
    const expected = hashOf([
      ['SKILL.md', SKILL_V2],
      ['ref/usage.md', 'usage v1\n'],
    ]);
    assert.equal(lock?.contentHash, expected, 'the §2.1 hash of the files without noise');
    assert.equal(contentHash(skill), expected);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('merge: upstream noise beside local noise is no conflict; check sees a noise-only commit as no update', () => {
    const { dir, up } = setup();
    const skill = path.join(dir, 'skills/pdf');
    fs.writeFileSync(path.join(skill, '.DS_Store'), 'local finder');
    fs.appendFileSync(path.join(skill, 'ref/usage.md'), 'local note\n');
    commitUpstream(up, {
      files: {
        'skills/pdf/SKILL.md': SKILL_V2,
        'skills/pdf/.DS_Store': 'upstream finder v2',
        'skills/pdf/scripts/__pycache__/run.cpython-312.pyc': 'upstream bytecode v2',
      },
      tag: 'v2',
    });
    const r = runCli([
      'update',
      '--allow-exec',
      'skill/pdf',
      '--to',
      'v2',
      '--strategy',
      'merge',
      '--collection',
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(read(skill, '.DS_Store'), 'local finder');
    assert.equal(read(skill, 'SKILL.md'), SKILL_V2);
    assert.equal(read(skill, 'ref/usage.md'), 'usage v1\nlocal note\n');
    assert.ok(!fs.existsSync(path.join(skill, 'scripts/__pycache__')));
    assert.equal(runCli(['status', '--collection', dir]).code, 0);

    // A later upstream commit that changes only noise is no update.
    const manifest = path.join(dir, 'collection.toml');
    fs.writeFileSync(
      manifest,
      read(dir, 'collection.toml').replace('version_spec = "v2"', 'version_spec = "latest"'),
    );
    commitUpstream(up, {
      files: { 'skills/pdf/.DS_Store': 'upstream finder v3', 'skills/pdf/x.swp': 'swap' },
    });
    const check = runCli(['check', '--json', '--collection', dir]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const results = (JSON.parse(check.stdout) as { results: { id: string; available: boolean }[] }).results;
    assert.deepEqual(
      results.map((x) => [x.id, x.available]),
      [['skill/pdf', false]],
    );
  });
});
