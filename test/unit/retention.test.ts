/**
 * Retention after every snapshot-creating command (DESIGN §4, issue 12 item 5), through the real CLI on a
 * real git upstream: `--keep N` leaves exactly the N newest unpinned snapshots (plus what the command
 * itself just took), pinned ones stay, the default keeps 20 with no age rule, and a retention that fails
 * never fails the command that committed before it. Plus `restore latest` run twice (item 8).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { DEFAULT_RETENTION, retentionOf } from '../../src/core/transfer/retention.js';
import { listSnapshots, takeSnapshot } from '../../src/core/transfer/restore.js';
import { GC_EVERY } from '../../src/core/transfer/retention.js';
import { runCli, tempDir, treeListing, writeTree } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const SKILL = (body: string): string => `---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\n${body}\n`;

interface Listed {
  id: string;
  pinned: boolean;
}

/** The store's snapshots, newest first (ids sort by creation), read with git itself: quicker than the CLI. */
function snapshots(dir: string): Listed[] {
  const gitDir = path.join(dir, '.artifact-keeper', 'snapshots.git');
  const refs = execFileSync(
    'git',
    ['--git-dir', gitDir, 'for-each-ref', '--format=%(refname)', 'refs/snapshots/', 'refs/pins/'],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
  const pins = new Set(refs.filter((r) => r.startsWith('refs/pins/')).map((r) => r.slice(10)));
  return refs
    .filter((r) => r.startsWith('refs/snapshots/'))
    .map((r) => r.slice('refs/snapshots/'.length))
    .sort()
    .reverse()
    .map((id) => ({ id, pinned: pins.has(id) }));
}

const unpinned = (dir: string): string[] =>
  snapshots(dir)
    .filter((s) => !s.pinned)
    .map((s) => s.id);

function ok(args: string[], dir: string): string {
  const result = runCli([...args, '--collection', dir]);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** A collection with skill/pdf added at v1 of a local upstream that also has v2, and one pinned snapshot. */
function setup(): { dir: string; upstreamUrl: string; pinned: string } {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    { files: { 'skills/pdf/SKILL.md': SKILL('v1') }, tag: 'v1' },
    { files: { 'skills/pdf/SKILL.md': SKILL('v2') }, tag: 'v2' },
    { files: { 'skills/other/SKILL.md': '---\nname: other\ndescription: o\n---\nother\n' }, tag: 'v3' },
  ]);
  const dir = path.join(tempDir(), 'collection');
  ok(['init'], dir);
  ok(['add', `${up.url}#skills/pdf@v1`], dir);
  const pinned = JSON.parse(ok(['snapshot', '-m', 'pinned', '--pin', '--json'], dir)) as { id: string };
  return { dir, upstreamUrl: up.url, pinned: pinned.id };
}

/** Takes snapshots until more than `n` unpinned exist, so a `--keep n` has something to prune. */
function fill(dir: string, n: number): void {
  for (let i = unpinned(dir).length; i <= n + 1; i++) ok(['snapshot', '-m', `filler ${i}`], dir);
}

/**
 * Runs `args` with `--keep 2` and checks retention ran after it: the unpinned snapshots are exactly the two
 * newest of before-and-new, plus whatever the command itself created beyond them; the pinned one stays.
 */
function checkKeep(dir: string, pinned: string, args: string[]): string[] {
  fill(dir, 2);
  const before = unpinned(dir);
  ok([...args, '--keep', '2'], dir);
  const after = snapshots(dir);
  const afterUnpinned = after.filter((s) => !s.pinned).map((s) => s.id);
  const created = afterUnpinned.filter((id) => !before.includes(id));
  assert.ok(created.length >= 1, `${args[0]} took a snapshot`);
  // Newest first by id (creation order): the two newest of everything, and every snapshot just made.
  const all = [...created, ...before].sort().reverse();
  const expected = [...new Set([...all.slice(0, 2), ...created])].sort().reverse();
  assert.deepEqual(afterUnpinned, expected, `${args[0]} --keep 2 keeps exactly the 2 newest unpinned`);
  assert.ok(
    after.some((s) => s.id === pinned && s.pinned),
    `${args[0]}: the pinned snapshot is kept`,
  );
  return created;
}

describe('retention after every snapshot-creating command', () => {
  it('update, restore, undo, add, relock, import and snapshot keep exactly the N newest unpinned, pinned kept', () => {
    const { dir, upstreamUrl, pinned } = setup();
    checkKeep(dir, pinned, ['update', 'skill/pdf', '--to', 'v2', '--strategy', 'overwrite']);
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /v2/);

    const target = unpinned(dir)[1] as string;
    checkKeep(dir, pinned, ['restore', target]);
    checkKeep(dir, pinned, ['undo']);
    checkKeep(dir, pinned, ['add', `${upstreamUrl}#skills/other@v3`]);

    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'a local edit\n');
    checkKeep(dir, pinned, ['relock', 'skill/pdf']);
    checkKeep(dir, pinned, ['snapshot', '-m', 'by hand']);

    const file = path.join(tempDir(), 'export.tar.gz');
    ok(['export', pinned, file], dir);
    const created = checkKeep(dir, pinned, ['import', file]);
    assert.equal(created.length, 1, 'the import took one snapshot, and retention kept it');
  });

  it('--keep counts unpinned snapshots only: pinned ones among the newest do not push one out', () => {
    const { dir } = setup();
    fill(dir, 3);
    const newest = unpinned(dir)[0] as string;
    ok(['snapshot', '-m', 'newest pinned', '--pin'], dir);
    ok(['snapshot', '-m', 'second pinned', '--pin', '--keep', '1'], dir);
    assert.deepEqual(unpinned(dir), [newest], 'the 1 newest unpinned, below two newer pinned ones');
  });

  it('refuses --keep 0 and a negative --max-age-days before anything is written', () => {
    const { dir } = setup();
    const before = treeListing(dir, new Set());
    for (const args of [
      ['update', 'skill/pdf', '--keep', '0'],
      ['snapshot', '--keep', 'x'],
      ['restore', 'latest', '--max-age-days', '-1'],
    ]) {
      const result = runCli([...args, '--collection', dir]);
      assert.equal(result.code, 64, `${args.join(' ')}: ${result.stderr}`);
    }
    assert.deepEqual(treeListing(dir, new Set()), before);
    assert.equal(runCli(['status', '--keep', '3', '--collection', dir]).code, 64, 'status takes no --keep');
  });

  it('defaults to the newest 20 with no age rule: young snapshots beyond 20 go', async () => {
    assert.deepEqual(DEFAULT_RETENTION, { keep: 20 });
    assert.deepEqual(retentionOf({}), { keep: 20 });
    assert.deepEqual(retentionOf({ retention: { keep: 0, maxAgeDays: 0 } }), { keep: 1 }, 'N is at least 1');
    const dir = tempDir();
    writeTree(dir, { 'a.md': 'a\n' });
    const opts = { fs: nodeFs, logger: silentLogger, tool: 'retention-test' };
    const made: string[] = [];
    for (let i = 0; i < 22; i++) {
      fs.writeFileSync(path.join(dir, 'a.md'), `version ${i}\n`);
      made.push((await takeSnapshot(dir, { message: `s${i}` }, opts)).id);
    }
    const kept = (await listSnapshots(dir, opts)).map((s) => s.id);
    assert.deepEqual(kept, made.slice(2).reverse(), 'all 22 are minutes old; only the 20 newest stay');
    // With an age set, the young ones stay whatever their number.
    await takeSnapshot(dir, { message: 'aged' }, { ...opts, retention: { keep: 1, maxAgeDays: 1 } });
    assert.equal((await listSnapshots(dir, opts)).length, 21);
  });

  it('a failing retention does not fail the committed update: exit 0, the after-state, a warning', () => {
    const { dir } = setup();
    fill(dir, 1);
    const before = unpinned(dir);
    // Retention collects every GC_EVERY pruned snapshots: this update's prune makes the gc due.
    fs.writeFileSync(path.join(dir, '.artifact-keeper/snapshots.git/pruned-since-gc'), `${GC_EVERY - 1}\n`);
    const result = runCli(
      ['update', 'skill/pdf', '--to', 'v2', '--strategy', 'overwrite', '--keep', '1', '--collection', dir],
      { env: { ARTIFACT_KEEPER_FAULT: 'git:1:EIO:gc --prune' } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /\[warn\] \[Retention\] pruning snapshots after s\w+ failed .*EIO/);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one warning line');
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /v2/);
    const status = runCli(['status', '--json', '--collection', dir]);
    assert.equal(status.code, 0, `clean after the update: ${status.stdout}`);
    const history = JSON.parse(ok(['history', '--json'], dir)) as { history: { kind: string }[] };
    assert.equal(history.history[0]?.kind, 'update', 'the update is in the history');
    // Retention failed at its gc, after deleting the old refs; the update's pre-snapshot is the newest.
    assert.ok(before.length >= 2);
    assert.equal(unpinned(dir)[0], (history.history[0] as { preSnapshot?: string }).preSnapshot);
    // The next command's retention does the work.
    ok(['snapshot', '-m', 'next', '--keep', '1'], dir);
    assert.equal(unpinned(dir).length, 1);
  });
});

describe('restore latest', () => {
  it('twice leaves the collection as after the first: a restore’s safety snapshot is never "latest"', () => {
    const { dir } = setup();
    const latest = JSON.parse(ok(['snapshot', '-m', 'good state', '--json'], dir)) as { id: string };
    const good = treeListing(dir);
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('broken by hand'));
    fs.writeFileSync(path.join(dir, 'skills/pdf/extra.md'), 'stray\n');

    const first = JSON.parse(ok(['restore', 'latest', '--json'], dir)) as {
      restored: { id: string };
      changed: number;
    };
    assert.equal(first.restored.id, latest.id);
    assert.equal(first.changed, 2);
    assert.deepEqual(treeListing(dir), good);

    const second = JSON.parse(ok(['restore', 'latest', '--json'], dir)) as {
      restored: { id: string };
      safety: { id: string };
      changed: number;
    };
    assert.equal(second.restored.id, latest.id, 'the same snapshot, not the first restore’s safety one');
    assert.equal(second.changed, 0);
    assert.deepEqual(treeListing(dir), good, 'no flip back to the broken state');
    const listed = JSON.parse(ok(['snapshots', '--json'], dir)) as {
      snapshots: { id: string; trigger: string }[];
    };
    const newest = listed.snapshots[0];
    assert.equal(newest?.id, second.safety.id);
    assert.equal(newest?.trigger, 'restore', 'the safety snapshots are there, newest, and skipped');
  });
});
