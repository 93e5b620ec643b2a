/**
 * Per-artifact quick fixes through the real CLI on a real git upstream: `discard` (and its alias
 * `reinstall`) puts an artifact back to the content its lock records — from the stored upstream base or
 * from a snapshot — and `remove` drops the manifest entry, the lock entry and the files. Each is undone
 * byte for byte by `undo`; bad input is one line naming the artifact, and nothing is written.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { skillMeatHash } from '../../src/core/model/hash.js';
import { runCli, tempDir, traceCount, treeListing } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const SKILL = (body: string): string => `---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\n${body}\n`;

function ok(args: string[], dir: string): string {
  const result = runCli([...args, '--collection', dir]);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

const lastKind = (dir: string): string =>
  (JSON.parse(ok(['history', '--json'], dir)) as { history: { kind: string }[] }).history[0]?.kind ?? '';

/** skill/pdf (a folder) and command/review (one file), both added from a git upstream at v1. */
function setup(): string {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': SKILL('v1'),
        'skills/pdf/ref/forms.md': 'forms\n',
        'commands/review.md': '# review\n',
      },
      tag: 'v1',
    },
  ]);
  const dir = path.join(tempDir(), 'collection');
  ok(['init'], dir);
  ok(['add', `${up.url}#skills/pdf@v1`], dir);
  ok(['add', `${up.url}#commands/review.md@v1`], dir);
  return dir;
}

/** A collection with skill `model` added from upstream: SKILL.md and `w.bin`, 2 MiB and a few bytes. */
function largeModel(): { big: Buffer; dir: string; weights: string } {
  const big = Buffer.alloc(2 * 1024 * 1024 + 5, 'weights ');
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    { files: { 'skills/model/SKILL.md': SKILL('model'), 'skills/model/w.bin': big }, tag: 'v1' },
  ]);
  const dir = path.join(tempDir(), 'collection');
  ok(['init'], dir);
  ok(['add', `${up.url}#skills/model@v1`], dir);
  return { big, dir, weights: path.join(dir, 'skills/model/w.bin') };
}

describe('discard', () => {
  it('puts edited files back from the stored upstream base; undo brings the edits back', () => {
    const dir = setup();
    const clean = treeListing(dir);
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('my edit'));
    fs.writeFileSync(path.join(dir, 'skills/pdf/notes.md'), 'mine\n');
    fs.rmSync(path.join(dir, 'skills/pdf/ref'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'commands/review.md'), '# review, edited\n');
    const edited = treeListing(dir);
    assert.equal(runCli(['status', '--collection', dir]).code, 1, 'modified before');

    const out = ok(['discard', 'pdf', 'command/review'], dir);
    assert.match(
      out,
      /^put skill\/pdf back to its locked content \(3 file\(s\), from upstream [0-9a-f]{12}\)$/m,
    );
    assert.match(out, /^put command\/review back to its locked content \(1 file\(s\), from upstream /m);
    assert.deepEqual(treeListing(dir), clean, 'every file as locked, the local-only file gone');
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean after');
    assert.equal(lastKind(dir), 'discard');

    ok(['undo'], dir);
    assert.deepEqual(treeListing(dir), edited, 'undo restores the discarded edits');
  });

  it('a large edited file comes back through a spilled file, byte for byte; the unchanged files are not read from the store', () => {
    const { big, dir, weights } = largeModel();
    fs.writeFileSync(weights, 'overwritten');
    const run = runCli(['discard', 'model', '--collection', dir], { env: { ARTIFACT_KEEPER_TRACE: '1' } });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(fs.readFileSync(weights).equals(big), 'every byte back');
    assert.equal(traceCount(run.stderr, 'stored file read'), 1, run.stderr);
    assert.equal(traceCount(run.stderr, 'stored file spilled to disk'), 1, 'w.bin never whole in memory');
    assert.equal(traceCount(run.stderr, 'stored file already in hand'), 1, 'SKILL.md is the local one');
    assert.equal(fs.existsSync(path.join(dir, '.artifact-keeper/tmp')), false, 'no spilled file left');
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean after');
  });

  it('a large file whose locked content only a snapshot holds comes back through a spilled file too', () => {
    const { dir, weights } = largeModel();
    const kept = Buffer.alloc(2 * 1024 * 1024 + 7, 'retrained ');
    fs.writeFileSync(weights, kept);
    ok(['relock', 'skill/model'], dir); // the locked content is now in relock's snapshot only
    fs.writeFileSync(weights, 'overwritten');
    const run = runCli(['discard', 'model', '--collection', dir, '--json'], {
      env: { ARTIFACT_KEEPER_TRACE: '1' },
    });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { restored: { from: { kind: string } }[] };
    assert.equal(result.restored[0]?.from.kind, 'snapshot');
    assert.ok(fs.readFileSync(weights).equals(kept), 'every byte back');
    // Two large files read, each into a file: upstream's w.bin (not the locked content), then the snapshot's.
    assert.equal(traceCount(run.stderr, 'stored file spilled to disk'), 2, run.stderr);
    assert.equal(traceCount(run.stderr, 'stored file read'), 2, run.stderr);
    assert.equal(fs.existsSync(path.join(dir, '.artifact-keeper/tmp')), false, 'no spilled file left');
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean after');
  });

  it('reinstalls a deleted artifact; undo deletes it again; a clean one is left alone', () => {
    const dir = setup();
    const clean = treeListing(dir);
    fs.rmSync(path.join(dir, 'skills/pdf'), { recursive: true });
    fs.rmSync(path.join(dir, 'commands/review.md'));
    const missing = treeListing(dir);
    const out = ok(['reinstall', 'skill/pdf', 'command/review'], dir);
    assert.match(out, /put skill\/pdf back/);
    assert.deepEqual(treeListing(dir), clean);
    assert.equal(ok(['discard', 'skill/pdf'], dir), 'skill/pdf already holds its locked content\n');
    ok(['undo'], dir);
    assert.deepEqual(treeListing(dir), missing);
  });

  it('takes the locked content from the newest snapshot holding it when the upstream base does not match', () => {
    const dir = setup();
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('kept edit'));
    ok(['relock', 'skill/pdf'], dir); // its pre-snapshot holds the kept edit
    const relocked = treeListing(dir);
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('a later edit'));
    const out = ok(['discard', 'skill/pdf', '--json'], dir);
    const result = JSON.parse(out) as { restored: { id: string; from: { kind: string } }[] };
    assert.equal(result.restored[0]?.from.kind, 'snapshot');
    assert.deepEqual(treeListing(dir), relocked);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('refuses with one line naming the artifact, exit 69 and nothing written, when no copy holds the locked content', () => {
    const dir = setup();
    const lockFile = path.join(dir, 'collection.lock');
    const lock = fs.readFileSync(lockFile, 'utf8');
    const hash = /content_hash = "([0-9a-f]{64})"/.exec(lock)?.[1] as string;
    fs.writeFileSync(lockFile, lock.replace(hash, 'ab'.repeat(32)));
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('edit'));
    const before = treeListing(dir, new Set());
    const result = runCli(['discard', 'skill/pdf', '--collection', dir]);
    assert.equal(result.code, 69, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /skill\/pdf/);
    assert.match(result.stderr, /locked content/);
    assert.deepEqual(
      treeListing(dir, new Set()).filter(
        (l) => !l.includes('.artifact-keeper/') || l.includes('snapshots.git/refs'),
      ),
      before.filter((l) => !l.includes('.artifact-keeper/') || l.includes('snapshots.git/refs')),
      'no file and no snapshot written',
    );
  });

  it('leaves alone an artifact that matches a SkillMeat-written lock hash counting a noise file', () => {
    const dir = setup();
    fs.writeFileSync(path.join(dir, 'skills/pdf/.DS_Store'), 'noise');
    const lockFile = path.join(dir, 'collection.lock');
    const lock = fs.readFileSync(lockFile, 'utf8');
    const ours = /\[lock\.entries\."pdf::skill"\][^[]*content_hash = "([0-9a-f]{64})"/.exec(
      lock,
    )?.[1] as string;
    assert.ok(ours);
    fs.writeFileSync(lockFile, lock.replace(ours, skillMeatHash(path.join(dir, 'skills/pdf'))));
    const before = treeListing(dir);
    assert.equal(ok(['discard', 'skill/pdf'], dir), 'skill/pdf already holds its locked content\n');
    assert.deepEqual(treeListing(dir), before);
  });

  it('refuses an unknown artifact (exit 65) and a call without one (usage)', () => {
    const dir = setup();
    const before = treeListing(dir);
    const unknown = runCli(['discard', 'skill/nope', '--collection', dir]);
    assert.equal(unknown.code, 65);
    assert.match(unknown.stderr, /skill\/nope/);
    assert.notEqual(runCli(['discard', '--collection', dir]).code, 0);
    assert.deepEqual(treeListing(dir), before);
  });
});

describe('remove', () => {
  it('removes manifest entry, lock entry and files (noise too); undo brings back every byte', () => {
    const dir = setup();
    fs.writeFileSync(path.join(dir, 'skills/pdf/.DS_Store'), 'noise');
    const before = treeListing(dir);
    const out = ok(['remove', 'skill/pdf'], dir);
    assert.equal(out, 'removed skill/pdf (undo: artifact-keeper undo)\n');
    assert.equal(fs.existsSync(path.join(dir, 'skills/pdf')), false, 'the folder is gone');
    assert.doesNotMatch(fs.readFileSync(path.join(dir, 'collection.toml'), 'utf8'), /name = "pdf"/);
    assert.doesNotMatch(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), /pdf::skill/);
    assert.match(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), /review::command/);
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'consistent after');
    assert.equal(lastKind(dir), 'remove');
    ok(['undo'], dir);
    assert.deepEqual(treeListing(dir), before);
  });

  it('keeps a folder holding a nested .git, with that repository, and says so; undo restores the rest', () => {
    const dir = setup();
    fs.mkdirSync(path.join(dir, 'skills/pdf/vendor/.git'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skills/pdf/vendor/.git/HEAD'), 'ref: refs/heads/main\n');
    const before = treeListing(dir);
    const out = ok(['remove', 'skill/pdf'], dir);
    assert.match(out, /^kept skills\/pdf: it holds a nested \.git$/m);
    assert.ok(fs.existsSync(path.join(dir, 'skills/pdf/vendor/.git/HEAD')), 'the repository stays');
    assert.equal(fs.existsSync(path.join(dir, 'skills/pdf/SKILL.md')), false);
    assert.equal(fs.existsSync(path.join(dir, 'skills/pdf/ref')), false);
    ok(['undo'], dir);
    assert.deepEqual(treeListing(dir), before);
  });

  it('removes a single-file artifact whose file is already gone', () => {
    const dir = setup();
    fs.rmSync(path.join(dir, 'commands/review.md'));
    ok(['remove', 'command/review'], dir);
    assert.doesNotMatch(fs.readFileSync(path.join(dir, 'collection.toml'), 'utf8'), /review/);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('refuses an unknown artifact with one line naming it and writes nothing', () => {
    const dir = setup();
    const before = treeListing(dir);
    const result = runCli(['remove', 'skill/pdf', 'agent/ghost', '--collection', dir]);
    assert.equal(result.code, 65);
    assert.match(result.stderr, /agent\/ghost/);
    assert.deepEqual(treeListing(dir), before, 'skill/pdf is not removed either');
  });
});
