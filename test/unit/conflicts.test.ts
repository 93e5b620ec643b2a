/**
 * Conflicts as git leaves them (DESIGN §5 step 6), through the real CLI on real git upstreams: markers
 * and `.upstream` copies committed with the lock entry `conflicted = true`, `resolve`, `update --abort`,
 * `--on-conflict abort`, `--auto-resolve`, and `update --all` going on past a conflict or a failure.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadCollection } from '../../src/core/model/collection.js';
import { conflictSides, remainingConflicts } from '../../src/core/transfer/conflicts.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { silentLogger } from '../../src/core/base/changes.js';
import { collectionWith, runCli, treeListing } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';
import type { Upstream } from './support/upstream.js';

const SKILL_V1 = '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nStep one.\nStep two.\nStep three.\n';
const SKILL_V2 = SKILL_V1.replace('Step one.', 'Step one, upstream.');
const LOGO_V1 = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 1]);
const LOGO_V2 = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 2, 2]);
const LOGO_MINE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 3, 3]);

function setup(): { dir: string; up: Upstream } {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': SKILL_V1,
        'skills/pdf/logo.png': LOGO_V1,
        'skills/pdf/old.md': 'old\n',
        'commands/review.md': '# Review\nLine A\nLine B\n',
      },
      tag: 'v1',
    },
    {
      files: {
        'skills/pdf/SKILL.md': SKILL_V2,
        'skills/pdf/logo.png': LOGO_V2,
        'commands/review.md': '# Review\nLine A\nLine B, upstream\n',
      },
      remove: ['skills/pdf/old.md'],
      tag: 'v2',
    },
  ]);
  const dir = collectionWith(
    [`${up.url}#skills/pdf@v1`, `${up.url}#commands/review.md@v1`],
    ['--allow-exec'],
  );
  return { dir, up };
}

const at = (dir: string, rel: string): string => path.join(dir, rel);
const read = (dir: string, rel: string): string => fs.readFileSync(at(dir, rel), 'utf8');

/** Local edits that conflict with v2 in every way: text, binary, and a file upstream removed. */
function editAll(dir: string): void {
  fs.writeFileSync(at(dir, 'skills/pdf/SKILL.md'), SKILL_V1.replace('Step one.', 'Step one, mine.'));
  fs.writeFileSync(at(dir, 'skills/pdf/logo.png'), LOGO_MINE);
  fs.writeFileSync(at(dir, 'skills/pdf/old.md'), 'old, kept by me\n');
}

function update(dir: string, ...args: string[]): ReturnType<typeof runCli> {
  return runCli(['update', '--allow-exec', ...args, '--collection', dir]);
}

describe('conflicts committed as git leaves them', () => {
  it('merge: markers in text, <file>.upstream for binary, local kept when upstream removed; lock conflicted; exit 3', () => {
    const { dir, up } = setup();
    editAll(dir);
    const r = update(dir, 'skill/pdf', '--to', 'v2');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /conflicted skill\/pdf at v2: 3 conflict\(s\) in 3 file\(s\)/);
    assert.match(r.stdout, /logo\.png \(upstream's copy: logo\.png\.upstream\)/);
    assert.equal(
      read(dir, 'skills/pdf/SKILL.md'),
      '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\n<<<<<<< local\nStep one, mine.\n||||||| base\nStep one.\n=======\nStep one, upstream.\n>>>>>>> upstream\nStep two.\nStep three.\n',
    );
    assert.deepEqual(fs.readFileSync(at(dir, 'skills/pdf/logo.png')), LOGO_MINE);
    assert.deepEqual(fs.readFileSync(at(dir, 'skills/pdf/logo.png.upstream')), LOGO_V2);
    assert.equal(read(dir, 'skills/pdf/old.md'), 'old, kept by me\n');
    const collection = loadCollection(dir);
    const lock = collection.lock.entries.get('pdf::skill');
    assert.equal(lock?.conflicted, true);
    assert.equal(lock?.raw.conflicted, true, 'written as `conflicted = true`');
    assert.equal(lock?.resolvedSha, up.tags.v2);
    assert.equal(collection.manifest.artifacts.find((a) => a.name === 'pdf')?.resolvedSha, up.tags.v2);
    const status = runCli(['status', '--json', '--collection', dir]);
    assert.equal(status.code, 2);
    const report = JSON.parse(status.stdout) as { state: string; artifacts: { id: string; state: string }[] };
    assert.equal(report.state, 'conflicted');
    assert.equal(report.artifacts.find((a) => a.id === 'skill/pdf')?.state, 'conflicted');
    const snapshots = runCli(['snapshots', '--json', '--collection', dir]);
    assert.match(snapshots.stdout, /before update of skill\/pdf/, 'the pre-merge snapshot is kept');
    // Another update of a conflicted artifact is refused, like git's merge with conflicts in the index.
    const again = update(dir, 'skill/pdf', '--to', 'v2');
    assert.equal(again.code, 3);
    assert.match(again.stderr, /skill\/pdf has unresolved conflicts/);
  });

  it('the three sides of a conflicted file come from the store: base and upstream trees, local from the pre-update snapshot', async () => {
    const { dir } = setup();
    editAll(dir);
    assert.equal(update(dir, 'skill/pdf', '--to', 'v2').code, 3);
    const opts = { fs: nodeFs, logger: silentLogger };
    const sides = await conflictSides(dir, 'skill/pdf', 'SKILL.md', opts);
    assert.equal(sides?.base?.toString(), SKILL_V1);
    assert.equal(sides?.local?.toString(), SKILL_V1.replace('Step one.', 'Step one, mine.'));
    assert.equal(sides?.upstream?.toString(), SKILL_V2);
    const logo = await conflictSides(dir, 'skill/pdf', 'logo.png', opts);
    assert.deepEqual(logo?.local, LOGO_MINE);
    assert.deepEqual(logo?.upstream, LOGO_V2);
    const entry = loadCollection(dir).manifest.artifacts.find((a) => a.name === 'pdf');
    assert.ok(entry);
    assert.deepEqual(remainingConflicts(dir, entry), {
      markers: ['SKILL.md'],
      upstreamCopies: ['logo.png.upstream'],
    });
    assert.equal(await conflictSides(dir, 'command/review', 'review.md', opts), undefined, 'not conflicted');
  });

  it('resolve refuses while a marker or an .upstream copy is left (nothing written), then re-locks: status clean', () => {
    const { dir } = setup();
    editAll(dir);
    assert.equal(update(dir, 'skill/pdf', '--to', 'v2').code, 3);
    const before = treeListing(dir);
    const refused = runCli(['resolve', 'skill/pdf', '--collection', dir]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /SKILL\.md \(markers\), logo\.png\.upstream \(upstream's copy\)/);
    assert.deepEqual(treeListing(dir), before);

    fs.writeFileSync(at(dir, 'skills/pdf/SKILL.md'), SKILL_V1.replace('Step one.', 'Step one, merged.'));
    const half = runCli(['resolve', 'skill/pdf', '--collection', dir]);
    assert.equal(half.code, 3, 'the binary copy is still there');
    assert.doesNotMatch(half.stderr, /SKILL\.md/);
    fs.renameSync(at(dir, 'skills/pdf/logo.png.upstream'), at(dir, 'skills/pdf/logo.png'));
    const done = runCli(['resolve', 'skill/pdf', '--collection', dir]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(loadCollection(dir).lock.entries.get('pdf::skill')?.raw.conflicted, undefined);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    const history = JSON.parse(runCli(['history', '--json', '--collection', dir]).stdout) as {
      history: { kind: string }[];
    };
    assert.equal(history.history[0]?.kind, 'resolve');
    const twice = runCli(['resolve', 'skill/pdf', '--collection', dir]);
    assert.equal(twice.code, 65);
    assert.match(twice.stderr, /skill\/pdf is not conflicted/);
  });

  it('update --abort puts the artifact back as before the update; another artifact of the same update stays updated', () => {
    const { dir, up } = setup();
    editAll(dir);
    const before = treeListing(dir).filter((line) => line.includes('skills/pdf'));
    const lockBefore = loadCollection(dir).lock.entries.get('pdf::skill');
    const r = update(dir, '--all', '--to', 'v2');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /updated command\/review to v2/);
    const aborted = update(dir, '--abort', 'skill/pdf');
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.deepEqual(
      treeListing(dir).filter((line) => line.includes('skills/pdf')),
      before,
      'files as before, the .upstream copy gone',
    );
    const collection = loadCollection(dir);
    const lock = collection.lock.entries.get('pdf::skill');
    assert.equal(lock?.contentHash, lockBefore?.contentHash);
    assert.equal(lock?.resolvedSha, up.tags.v1);
    assert.equal(lock?.conflicted, undefined);
    assert.equal(collection.manifest.artifacts.find((a) => a.name === 'pdf')?.resolvedSha, up.tags.v1);
    assert.equal(collection.lock.entries.get('review::command')?.resolvedSha, up.tags.v2);
    assert.equal(read(dir, 'commands/review.md'), '# Review\nLine A\nLine B, upstream\n');
    // Back to local edits on v1, and the upstream change is still ahead: a later merge sees it again.
    assert.equal(runCli(['status', '--collection', dir]).code, 1);
    const plan = update(dir, 'skill/pdf', '--to', 'v2', '--dry-run');
    assert.equal(plan.code, 3, plan.stdout);
    assert.match(plan.stdout, /M both +SKILL\.md/);
  });

  it('--on-conflict abort keeps the all-or-nothing update: exit 3, every byte as it was', () => {
    const { dir } = setup();
    editAll(dir);
    const before = treeListing(dir);
    const r = update(dir, '--all', '--to', 'v2', '--on-conflict', 'abort');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /skill\/pdf:SKILL\.md/);
    assert.deepEqual(treeListing(dir), before);
  });
});

describe('--auto-resolve (prompt without a terminal)', () => {
  it('without a terminal, prompt needs --auto-resolve (64); abort writes nothing and exits 3', () => {
    const { dir } = setup();
    editAll(dir);
    const before = treeListing(dir);
    const bare = update(dir, 'skill/pdf', '--to', 'v2', '--strategy', 'prompt');
    assert.equal(bare.code, 64);
    assert.match(bare.stderr, /--auto-resolve abort\|ours\|theirs/);
    const aborted = update(dir, 'skill/pdf', '--to', 'v2', '--strategy', 'prompt', '--auto-resolve', 'abort');
    assert.equal(aborted.code, 3, aborted.stderr);
    assert.match(aborted.stderr, /--auto-resolve is abort: nothing written/);
    assert.deepEqual(treeListing(dir), before);
    const misplaced = update(dir, 'skill/pdf', '--auto-resolve', 'ours');
    assert.equal(misplaced.code, 64);
  });

  it('ours leaves the artifact as it is (kept local); theirs takes upstream as overwrite does', () => {
    const { dir } = setup();
    editAll(dir);
    const before = treeListing(dir);
    const ours = update(dir, '--all', '--to', 'v2', '--strategy', 'prompt', '--auto-resolve', 'ours');
    assert.equal(ours.code, 0, ours.stderr);
    assert.match(ours.stdout, /kept local skill\/pdf/);
    assert.deepEqual(treeListing(dir), before);
    const theirs = update(dir, '--all', '--to', 'v2', '--strategy', 'prompt', '--auto-resolve', 'theirs');
    assert.equal(theirs.code, 0, theirs.stderr + theirs.stdout);
    assert.equal(read(dir, 'skills/pdf/SKILL.md'), SKILL_V2);
    assert.deepEqual(fs.readFileSync(at(dir, 'skills/pdf/logo.png')), LOGO_V2);
    assert.equal(fs.existsSync(at(dir, 'skills/pdf/old.md')), false);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });
});

describe('update --all', () => {
  it('one outcome per artifact, one summary; a conflict and a failure never block the rest; exit is the worst', () => {
    const { dir, up } = setup();
    // A third artifact whose upstream is gone by update time: it fails, the others go on.
    const gone = makeUpstream(path.join(upstreamTempDir(), 'gone'), [
      { files: { 'agents/helper.md': '# helper\n' } },
    ]);
    assert.equal(
      runCli(['add', '--allow-exec', `${gone.url}#agents/helper.md`, '--collection', dir]).code,
      0,
    );
    fs.rmSync(gone.dir, { recursive: true, force: true });
    fs.writeFileSync(at(dir, 'skills/pdf/SKILL.md'), SKILL_V1.replace('Step one.', 'Step one, mine.'));
    const r = update(dir, '--all', '--to', 'v2', '--json');
    assert.equal(r.code, 4, r.stderr + r.stdout);
    const json = JSON.parse(r.stdout) as { outcomes: { id: string; outcome: string; reason?: string }[] };
    assert.deepEqual(
      json.outcomes.map((o) => `${o.id} ${o.outcome}`),
      ['skill/pdf conflicted', 'command/review updated', 'agent/helper failed'],
    );
    assert.match(json.outcomes[2]?.reason ?? '', /unreachable/);
    const collection = loadCollection(dir);
    assert.equal(collection.lock.entries.get('review::command')?.resolvedSha, up.tags.v2);
    assert.equal(collection.lock.entries.get('pdf::skill')?.conflicted, true);

    const text = update(dir, '--all', '--to', 'v2');
    assert.equal(text.code, 4);
    assert.match(text.stdout, /3 artifact\(s\): 1 conflicted, 1 up-to-date, 1 failed/);
    assert.match(text.stdout, /conflicted skill\/pdf: artifact skill\/pdf has unresolved conflicts/);
  });
});
