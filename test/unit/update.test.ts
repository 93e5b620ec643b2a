/**
 * The update transaction end to end, through the real CLI on real git upstreams: add at a tag, edit
 * locally, update with each strategy, and the regression tests for SkillMeat's merge bugs (files dropped,
 * local edits overwritten, single-file artifacts, lock and manifest not both updated).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadCollection } from '../../src/core/model/collection.js';
import { nameBytes } from '../../src/core/base/fileNames.js';
import { runCli, tempDir, traceCount, treeListing } from './support/collections.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';
import type { Upstream } from './support/upstream.js';

const SKILL_V1 = '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nStep one.\nStep two.\nStep three.\n';
const SKILL_V2 =
  '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nStep one, improved upstream.\nStep two.\nStep three.\n';

function setup(): { dir: string; up: Upstream } {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': SKILL_V1,
        'skills/pdf/ref/usage.md': 'usage v1\n',
        'skills/pdf/scripts/run.sh': { content: '#!/bin/sh\necho v1\n', executable: true },
        'commands/review.md': '# Review\nLine A\nLine B\nLine C\n',
      },
      tag: 'v1',
    },
    {
      files: {
        'skills/pdf/SKILL.md': SKILL_V2,
        'skills/pdf/scripts/run.sh': { content: '#!/bin/sh\necho v2\n', executable: true },
        'skills/pdf/ref/new.md': 'new in v2\n',
        'commands/review.md': '# Review\nLine A\nLine B\nLine C, upstream\n',
      },
      tag: { name: 'v2', annotated: true },
    },
  ]);
  const dir = path.join(tempDir(), 'collection');
  assert.equal(runCli(['init', '--collection', dir]).code, 0);
  const add = (spec: string): void => {
    const r = runCli(['add', '--allow-exec', spec, '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
  };
  add(`${up.url}#skills/pdf@v1`);
  add(`${up.url}#commands/review.md@v1`);
  return { dir, up };
}

const read = (dir: string, rel: string): string => fs.readFileSync(path.join(dir, rel), 'utf8');

describe('add', () => {
  it('adds from a local git repository at a tag: files, manifest and lock together, status clean', () => {
    const { dir, up } = setup();
    assert.equal(read(dir, 'skills/pdf/SKILL.md'), SKILL_V1);
    assert.ok(fs.statSync(path.join(dir, 'skills/pdf/scripts/run.sh')).mode & 0o100, 'exec bit kept');
    const collection = loadCollection(dir);
    const entry = collection.manifest.artifacts.find((a) => a.name === 'pdf');
    assert.equal(entry?.resolvedSha, up.tags.v1);
    assert.equal(entry?.versionSpec, 'v1');
    assert.equal(entry?.resolvedVersion, 'v1');
    assert.equal(entry?.upstream, `${up.url}#skills/pdf`);
    assert.equal(collection.lock.entries.get('pdf::skill')?.resolvedSha, up.tags.v1);
    assert.equal(collection.lock.entries.get('review::command')?.resolvedSha, up.tags.v1);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    const again = runCli(['add', '--allow-exec', `${up.url}#skills/pdf@v1`, '--collection', dir]);
    assert.equal(again.code, 65);
    assert.match(again.stderr, /skill\/pdf is already in this collection/);
  });

  it('adds a local folder, and rejects an unreachable upstream with exit 69 and nothing written', () => {
    const dir = path.join(tempDir(), 'collection');
    runCli(['init', '--collection', dir]);
    const folder = path.join(tempDir(), 'notes');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'SKILL.md'), '---\nname: notes\n---\nbody\n');
    const ok = runCli(['add', '--allow-exec', folder, '--collection', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(read(dir, 'skills/notes/SKILL.md'), '---\nname: notes\n---\nbody\n');
    const before = treeListing(dir);
    const gone = runCli([
      'add',
      '--allow-exec',
      'file:///nonexistent/repo.git#skills/x',
      '--collection',
      dir,
    ]);
    assert.equal(gone.code, 69, gone.stderr);
    assert.match(gone.stderr, /unreachable/);
    assert.deepEqual(treeListing(dir), before);
  });
});

describe('update', () => {
  it('merge: a v1 artifact with a local edit, updated to v2, holds both changes; lock and manifest carry v2', () => {
    const { dir, up } = setup();
    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'My local note.\n');
    assert.equal(runCli(['status', '--collection', dir]).code, 1);
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
    assert.match(r.stdout, /updated skill\/pdf to v2/);
    const skill = read(dir, 'skills/pdf/SKILL.md');
    assert.ok(skill.includes('Step one, improved upstream.'), 'upstream change');
    assert.ok(skill.includes('My local note.'), 'local change');
    // SkillMeat's merge dropped files upstream did not touch: they must all still be here.
    assert.equal(read(dir, 'skills/pdf/ref/usage.md'), 'usage v1\n');
    assert.equal(read(dir, 'skills/pdf/ref/new.md'), 'new in v2\n');
    assert.equal(read(dir, 'skills/pdf/scripts/run.sh'), '#!/bin/sh\necho v2\n');
    const collection = loadCollection(dir);
    const entry = collection.manifest.artifacts.find((a) => a.name === 'pdf');
    const lock = collection.lock.entries.get('pdf::skill');
    assert.equal(entry?.resolvedSha, up.tags.v2);
    assert.equal(lock?.resolvedSha, up.tags.v2);
    assert.equal(entry?.resolvedVersion, 'v2');
    assert.equal(lock?.resolvedVersion, 'v2');
    assert.equal(entry?.versionSpec, 'v2');
    assert.ok(entry?.lastUpdated);
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'status clean after the merge');
    const history = JSON.parse(runCli(['history', '--json', '--collection', dir]).stdout) as {
      history: { kind: string }[];
    };
    assert.equal(history.history[0]?.kind, 'update');
  });

  it('a commit already applied once is read from the store, not fetched again: after an undo the same update gives the same bytes', () => {
    const { dir } = setup();
    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'My local note.\n');
    const update = (id: string, strategy: string): ReturnType<typeof runCli> => {
      const r = runCli(
        ['update', '--allow-exec', id, '--to', 'v2', '--strategy', strategy, '--collection', dir],
        { env: { ARTIFACT_KEEPER_TRACE: '1' } },
      );
      assert.equal(r.code, 0, r.stderr + r.stdout);
      return r;
    };
    const first = update('skill/pdf', 'merge');
    assert.equal(traceCount(first.stderr, 'git fetch'), 1, 'the first time, fetched');
    assert.equal(traceCount(first.stderr, 'git cat-file'), 1, 'one object reader for the plan and the apply');
    assert.equal(traceCount(first.stderr, 'git update-ref'), 0, 'the upstream ref is moved in-process');
    // The manifest and lock differ only by their times; the lock's content hash is compared below.
    const files = (): string[] => treeListing(dir).filter((line) => !/ collection\.(toml|lock) /.test(line));
    const hash = (): string | undefined => loadCollection(dir).lock.entries.get('pdf::skill')?.contentHash;
    const merged = [files(), hash()];
    assert.equal(runCli(['undo', '--collection', dir]).code, 0);
    const again = update('skill/pdf', 'merge');
    assert.equal(traceCount(again.stderr, 'git fetch'), 0, again.stderr);
    assert.equal(traceCount(again.stderr, 'git ls-remote'), 1, 'the ref is still resolved upstream');
    assert.equal(
      traceCount(again.stderr, 'git cat-file'),
      1,
      'the stored upstream and the snapshot: one reader',
    );
    assert.deepEqual([files(), hash()], merged, 'the same files, modes and content hash as after the fetch');
    assert.ok(fs.statSync(path.join(dir, 'skills/pdf/scripts/run.sh')).mode & 0o100, 'exec bit');
    // A single-file artifact: stored under the collection's file name, read back as one file.
    const command = update('command/review', 'overwrite');
    assert.equal(traceCount(command.stderr, 'git fetch'), 1);
    const overwritten = files();
    assert.equal(runCli(['undo', '--collection', dir]).code, 0);
    assert.equal(traceCount(update('command/review', 'overwrite').stderr, 'git fetch'), 0);
    assert.deepEqual(files(), overwritten);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('merge --on-conflict abort: an overlapping edit gives exit 3 and leaves every byte as it was', () => {
    const { dir } = setup();
    const file = path.join(dir, 'skills/pdf/SKILL.md');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('Step one.', 'Step one, my way.'));
    const before = treeListing(dir);
    const r = runCli([
      'update',
      '--allow-exec',
      'skill/pdf',
      '--to',
      'v2',
      '--strategy',
      'merge',
      '--on-conflict',
      'abort',
      '--collection',
      dir,
    ]);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stderr, /conflict.*skill\/pdf:SKILL\.md/);
    assert.deepEqual(treeListing(dir), before);
  });

  it('merge works for single-file artifacts (commands)', () => {
    const { dir } = setup();
    const file = path.join(dir, 'commands/review.md');
    fs.writeFileSync(file, '# Review, mine\nLine A\nLine B\nLine C\n');
    const r = runCli(['update', '--allow-exec', 'command/review', '--to', 'v2', '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(read(dir, 'commands/review.md'), '# Review, mine\nLine A\nLine B\nLine C, upstream\n');
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('overwrite takes upstream (status clean); keep changes no byte and fetches nothing', () => {
    const { dir } = setup();
    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'local\n');
    assert.equal(
      runCli([
        'update',
        '--allow-exec',
        'skill/pdf',
        '--to',
        'v2',
        '--strategy',
        'overwrite',
        '--collection',
        dir,
      ]).code,
      0,
    );
    assert.equal(read(dir, 'skills/pdf/SKILL.md'), SKILL_V2);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);

    const other = setup();
    fs.appendFileSync(path.join(other.dir, 'commands/review.md'), 'local\n');
    const before = treeListing(other.dir);
    // Nothing is fetched: an upstream that is gone does not matter to keep.
    fs.renameSync(other.up.dir, `${other.up.dir}.gone`);
    const r = runCli([
      'update',
      '--allow-exec',
      'command/review',
      '--to',
      'v2',
      '--strategy',
      'keep',
      '--collection',
      other.dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kept local command\/review \(nothing fetched, nothing written\)/);
    assert.deepEqual(treeListing(other.dir), before, 'files, manifest and lock byte-identical');
    assert.equal(runCli(['status', '--collection', other.dir]).code, 1, 'the local edit is still an edit');
    // The upstream change is not lost: a later merge still sees it as upstream's.
    fs.renameSync(`${other.up.dir}.gone`, other.up.dir);
    const plan = runCli([
      'update',
      '--allow-exec',
      'command/review',
      '--to',
      'v2',
      '--dry-run',
      '--json',
      '--collection',
      other.dir,
    ]);
    assert.equal(plan.code, 3, 'the dry run shows the conflict a merge would leave');
    const json = JSON.parse(plan.stdout) as {
      artifacts: { upToDate: boolean; files: { status: string }[] }[];
    };
    assert.equal(json.artifacts[0]?.upToDate, false);
    assert.deepEqual(
      json.artifacts[0]?.files.map((f) => f.status),
      ['both-modified'],
    );
  });

  it('--dry-run prints what would happen and writes nothing', () => {
    const { dir } = setup();
    const before = treeListing(dir);
    const r = runCli([
      'update',
      '--allow-exec',
      '--all',
      '--to',
      'v2',
      '--dry-run',
      '--json',
      '--collection',
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as {
      artifacts: { id: string; files: { path: string; status: string }[] }[];
    };
    const pdf = json.artifacts.find((a) => a.id === 'skill/pdf');
    assert.deepEqual(pdf?.files.map((f) => `${f.status} ${f.path}`).sort(), [
      'upstream-added ref/new.md',
      'upstream-modified SKILL.md',
      'upstream-modified scripts/run.sh',
    ]);
    assert.deepEqual(treeListing(dir), before);
  });

  it('--dry-run takes no lock and writes nothing anywhere: no state folder made, a held lock does not stop it', () => {
    const { dir } = setup();
    fs.rmSync(path.join(dir, '.artifact-keeper'), { recursive: true, force: true });
    const before = treeListing(dir, new Set());
    const fresh = runCli(['update', '--allow-exec', '--all', '--to', 'v2', '--dry-run', '--collection', dir]);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.deepEqual(treeListing(dir, new Set()), before, 'not even .artifact-keeper/ appears');
    // Another writer holds the lock (this test process, alive): a dry run reads on regardless.
    fs.mkdirSync(path.join(dir, '.artifact-keeper'));
    const lock = path.join(dir, '.artifact-keeper', 'writer.lock');
    const holder = { pid: process.pid, host: os.hostname(), tool: 'test', started: new Date().toISOString() };
    fs.writeFileSync(lock, JSON.stringify(holder));
    // Derived caches may be refreshed inside an existing state folder (ARCHITECTURE); nothing else changes.
    const state = (): string[] =>
      treeListing(dir, new Set()).filter((l) => !/(-cache|\/parse-cache-[0-9a-f]{64})\.json /.test(l));
    const held = state();
    const locked = runCli([
      'update',
      '--allow-exec',
      '--all',
      '--to',
      'v2',
      '--dry-run',
      '--json',
      '--collection',
      dir,
    ]);
    assert.equal(locked.code, 0, locked.stderr);
    assert.deepEqual(state(), held);
    const real = runCli(['update', '--allow-exec', '--all', '--to', 'v2', '--collection', dir]);
    assert.equal(real.code, 5, 'a real update waits for the lock and gives up');
  });

  it('warns when upstream files are git LFS pointers, on add and on update, and still applies', () => {
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${'ab'.repeat(32)}\nsize 123456\n`;
    const up = makeUpstream(path.join(upstreamTempDir(), 'lfs'), [
      { files: { 'skills/img/SKILL.md': SKILL_V1, 'skills/img/logo.png': pointer }, tag: 'v1' },
      { files: { 'skills/img/SKILL.md': SKILL_V2, 'skills/img/model.bin': pointer }, tag: 'v2' },
    ]);
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const add = runCli(['add', '--allow-exec', `${up.url}#skills/img@v1`, '--json', '--collection', dir]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(
      add.stderr,
      /skill\/img: 1 file\(s\) from upstream are git LFS pointers, not their content \(logo\.png\)/,
    );
    assert.deepEqual((JSON.parse(add.stdout) as { warnings?: string[] }).warnings?.length, 1);
    const update = runCli(['update', '--allow-exec', 'skill/img', '--to', 'v2', '--collection', dir]);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stderr, /2 file\(s\) from upstream are git LFS pointers.*\(logo\.png, model\.bin\)/);
    assert.equal(read(dir, 'skills/img/model.bin'), pointer);
  });

  it('check: exit 10 when upstream has a newer commit for the spec, 0 when up to date, 69 when unreachable', () => {
    const { dir, up } = setup();
    assert.equal(runCli(['check', '--collection', dir]).code, 0, 'pinned at v1: nothing new');
    const manifest = path.join(dir, 'collection.toml');
    fs.writeFileSync(
      manifest,
      fs.readFileSync(manifest, 'utf8').replaceAll('version_spec = "v1"', 'version_spec = "latest"'),
    );
    const r = runCli(['check', '--json', '--collection', dir]);
    assert.equal(r.code, 10, r.stderr);
    const results = (
      JSON.parse(r.stdout) as { results: { id: string; available: boolean; latestSha: string }[] }
    ).results;
    assert.deepEqual(
      results.map((x) => [x.id, x.available, x.latestSha]),
      [
        ['skill/pdf', true, up.shas[1]],
        ['command/review', true, up.shas[1]],
      ],
    );
    // A new commit that does not touch the artifact is no update (judged by content, not by commit).
    assert.equal(
      runCli(['update', '--allow-exec', '--all', '--strategy', 'overwrite', '--collection', dir]).code,
      0,
    );
    commitUpstream(up, { files: { 'README.md': 'unrelated\n' } });
    assert.equal(runCli(['check', '--collection', dir]).code, 0);
    fs.rmSync(up.dir, { recursive: true, force: true });
    const gone = runCli(['check', '--collection', dir]);
    assert.equal(gone.code, 69);
    assert.match(gone.stdout, /error/);
  });
});

describe('relock', () => {
  it('accepts local edits as the locked content, undoably', () => {
    const { dir } = setup();
    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'deliberate local change\n');
    assert.equal(runCli(['status', '--collection', dir]).code, 1);
    const r = runCli(['relock', '--all-modified', '--json', '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { relocked: string[]; preSnapshot: string };
    assert.deepEqual(result.relocked, ['skill/pdf']);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    assert.ok(read(dir, 'skills/pdf/SKILL.md').endsWith('deliberate local change\n'), 'files untouched');
    assert.equal(runCli(['restore', result.preSnapshot, '--collection', dir]).code, 0);
    assert.equal(runCli(['status', '--collection', dir]).code, 1, 'undone: modified again');
  });
});

describe('file names that are not UTF-8, and awkward UTF-8 names', () => {
  /** Writes `rel` (escaped string form: U+DC80–U+DCFF stand for raw bytes) below `root`. */
  const put = (root: string, rel: string, content: string): void => {
    fs.mkdirSync(nameBytes(path.dirname(path.join(root, rel))), { recursive: true });
    fs.writeFileSync(nameBytes(path.join(root, rel)), content);
  };
  const get = (root: string, rel: string): string | undefined => {
    const file = nameBytes(path.join(root, rel));
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  };
  const MERGE_TO_V2 = ['update', 'skill/pdf', '--to', 'v2', '--strategy', 'merge'];
  const RAW = 'skills/pdf/bad\uDCFF\uDCFE.md';
  const RAW_DIR_FILE = 'skills/pdf/raw\uDC80/x.md';
  const AWKWARD = [
    'skills/pdf/new\nline.md',
    'skills/pdf/tab\there.md',
    'skills/pdf/cr\r',
    'skills/pdf/-dash.md',
  ];

  it('add, update (merge) and restore carry them byte for byte', () => {
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      { files: { 'skills/pdf/SKILL.md': SKILL_V1 } },
    ]);
    put(up.workTree, RAW, 'raw v1\n');
    put(up.workTree, RAW_DIR_FILE, 'in a raw folder\n');
    for (const rel of AWKWARD) put(up.workTree, rel, `${rel} v1\n`);
    fs.symlinkSync(nameBytes('bad\uDCFF\uDCFE.md'), nameBytes(path.join(up.workTree, 'skills/pdf/link')));
    commitUpstream(up, { tag: 'v1' });
    put(up.workTree, RAW, 'raw v2\n');
    put(up.workTree, 'skills/pdf/added\uDC80.md', 'new in v2\n');
    fs.rmSync(nameBytes(path.join(up.workTree, 'skills/pdf/raw\uDC80')), { recursive: true });
    put(up.workTree, AWKWARD[0] as string, 'newline v2\n');
    commitUpstream(up, { files: { 'skills/pdf/SKILL.md': SKILL_V2 }, tag: 'v2' });

    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const add = runCli(['add', '--allow-exec', `${up.url}#skills/pdf@v1`, '--collection', dir]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(get(dir, RAW), 'raw v1\n');
    assert.equal(get(dir, RAW_DIR_FILE), 'in a raw folder\n');
    for (const rel of AWKWARD) assert.equal(get(dir, rel), `${rel} v1\n`);
    assert.ok(
      fs
        .readlinkSync(nameBytes(path.join(dir, 'skills/pdf/link')), { encoding: 'buffer' })
        .equals(nameBytes('bad\uDCFF\uDCFE.md')),
    );
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'our lock records the raw names');

    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'My local note.\n');
    put(dir, 'skills/pdf/mine\uDCFE.md', 'a local file\n');
    const update = runCli([...MERGE_TO_V2, '--json', '--collection', dir]);
    assert.equal(update.code, 0, update.stderr + update.stdout);
    const result = JSON.parse(update.stdout) as {
      preSnapshot: string;
      artifacts: { files: { path: string; status: string }[] }[];
    };
    // JSON keeps the raw bytes as \udcXX escapes: what Python's os.fsdecode would give.
    assert.ok(
      result.artifacts[0]?.files.some(
        (f) => f.path === 'bad\uDCFF\uDCFE.md' && f.status === 'upstream-modified',
      ),
    );
    assert.equal(get(dir, RAW), 'raw v2\n');
    assert.equal(get(dir, 'skills/pdf/added\uDC80.md'), 'new in v2\n');
    assert.equal(get(dir, RAW_DIR_FILE), undefined, 'removed upstream');
    assert.equal(get(dir, 'skills/pdf/mine\uDCFE.md'), 'a local file\n', 'local addition kept');
    assert.equal(get(dir, AWKWARD[0] as string), 'newline v2\n');
    assert.ok(get(dir, 'skills/pdf/SKILL.md')?.includes('My local note.'));
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean after the merge');

    const restore = runCli(['restore', result.preSnapshot, '--collection', dir]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(get(dir, RAW), 'raw v1\n');
    assert.equal(get(dir, RAW_DIR_FILE), 'in a raw folder\n');
    assert.equal(get(dir, 'skills/pdf/added\uDC80.md'), undefined);
    assert.equal(get(dir, 'skills/pdf/mine\uDCFE.md'), 'a local file\n');
  });

  it('a conflict in a raw-named file is reported as a conflict (exit 3); with --on-conflict abort nothing is written', () => {
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      { files: { 'skills/pdf/SKILL.md': SKILL_V1 } },
    ]);
    put(up.workTree, RAW, 'line 1\nline 2\n');
    commitUpstream(up, { tag: 'v1' });
    put(up.workTree, RAW, 'line 1 upstream\nline 2\n');
    commitUpstream(up, { tag: 'v2' });
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    assert.equal(runCli(['add', '--allow-exec', `${up.url}#skills/pdf@v1`, '--collection', dir]).code, 0);
    put(dir, RAW, 'line 1 mine\nline 2\n');
    const before = treeListing(dir);
    const update = runCli([...MERGE_TO_V2, '--on-conflict', 'abort', '--json', '--collection', dir]);
    assert.equal(update.code, 3, update.stderr + update.stdout);
    const result = JSON.parse(update.stdout) as { error: { conflicts: { path: string }[] } };
    assert.deepEqual(
      result.error.conflicts.map((c) => c.path),
      ['bad\uDCFF\uDCFE.md'],
    );
    assert.deepEqual(treeListing(dir), before);
    assert.equal(get(dir, RAW), 'line 1 mine\nline 2\n');
    // A person reads the bytes as \xNN, never as U+FFFD; every message stays one line.
    const human = runCli([...MERGE_TO_V2, '--on-conflict', 'abort', '--collection', dir]);
    assert.equal(human.code, 3);
    const printed = human.stdout + human.stderr;
    assert.match(printed, /bad\\xff\\xfe\.md/);
    assert.ok(!printed.includes('\uFFFD'), printed);
    assert.deepEqual(treeListing(dir), before);
    // Committed with markers, the raw name is kept byte for byte and named the same way.
    const committed = runCli([...MERGE_TO_V2, '--collection', dir]);
    assert.equal(committed.code, 3);
    assert.match(
      committed.stdout,
      /conflicted skill\/pdf at v2: 1 conflict\(s\) in 1 file\(s\): bad\\xff\\xfe\.md/,
    );
    assert.match(get(dir, RAW) ?? '', /^<<<<<<< local\nline 1 mine\n/);
  });
});
