import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { checkCollection } from '../../src/core/status/consistency.js';
import type { ConsistencyReport } from '../../src/core/status/consistency.js';
import { emptyStatCache } from '../../src/core/status/statCache.js';
import { RECORD_FILE } from '../../src/core/status/checkRecord.js';
import { journalPath } from '../../src/core/txn/journal.js';
import { copySharedFixture, runCli } from './support/collections.js';

const KEY = 'test-build-1';
/** A clock far enough ahead that every stamp taken now is outside the racy window. */
const later = (): number => Date.now() + 60_000;

function stateFile(dir: string, name: string): string {
  return path.join(dir, '.artifact-keeper', name);
}

/** The report as the full check gives it, from nothing cached. */
async function fullReport(dir: string): Promise<ConsistencyReport> {
  return checkCollection(dir, { cache: emptyStatCache(), persist: false, now: later });
}

function withoutCount(report: ConsistencyReport): Omit<ConsistencyReport, 'rehashed'> {
  const { rehashed: _, ...rest } = report;
  return rest;
}

/**
 * A check through the record, with the stat cache removed first: when the record answers, no stat cache is
 * written (the full check would write one, having re-hashed every artifact).
 */
async function viaRecord(
  dir: string,
  now: () => number = later,
  key = KEY,
): Promise<{ report: ConsistencyReport; answered: boolean }> {
  fs.rmSync(stateFile(dir, 'status-cache.json'), { force: true });
  const report = await checkCollection(dir, { record: key, now });
  return { report, answered: !fs.existsSync(stateFile(dir, 'status-cache.json')) };
}

describe('check record', () => {
  it('answers as the full check does after each kind of change, measuring only what moved', async () => {
    const dir = copySharedFixture();
    const first = await viaRecord(dir);
    assert.equal(first.answered, false, 'the first check has no record to answer from');
    assert.equal(first.report.state, 'clean');
    assert.ok(fs.existsSync(stateFile(dir, RECORD_FILE)));
    const warm = await viaRecord(dir);
    assert.equal(warm.answered, true);
    assert.equal(warm.report.rehashed, 0);
    assert.deepEqual(withoutCount(warm.report), withoutCount(await fullReport(dir)));

    const file = (rel: string): string => path.join(dir, rel);
    const review = fs.readFileSync(file('commands/review.md'));
    const changes: [string, () => void, number][] = [
      ['a file grows', () => fs.appendFileSync(file('skills/pdf-tools/ref/usage.md'), 'local edit\n'), 1],
      [
        'a file is rewritten at the same size',
        () => {
          const text = fs.readFileSync(file('skills/café-notes/SKILL.md'), 'utf8');
          fs.writeFileSync(file('skills/café-notes/SKILL.md'), text.replace(/[a-z]/, 'Q'));
        },
        1,
      ],
      // Whole seconds, which a file system keeps exactly: only the ctime tells the next change.
      ['a file gets old times', () => fs.utimesSync(file('skills/pdf-tools/ref/usage.md'), 1e9, 1e9), 1],
      [
        'a file is rewritten at the same size, its times put back',
        () => {
          const usage = file('skills/pdf-tools/ref/usage.md');
          fs.writeFileSync(usage, fs.readFileSync(usage, 'utf8').replace(/[a-z]/, 'Z'));
          fs.utimesSync(usage, 1e9, 1e9);
        },
        1,
      ],
      ['a file is added', () => fs.writeFileSync(file('skills/pdf-tools/new.md'), 'new\n'), 1],
      ['a deep file is removed', () => fs.rmSync(file('skills/café-notes/deep/a/b/c.md')), 1],
      ['noise arrives', () => fs.writeFileSync(file('skills/pdf-tools/.DS_Store'), 'noise'), 1],
      ['a skill loses its SKILL.md', () => fs.rmSync(file('skills/café-notes/SKILL.md')), 1],
      ['a file artifact changes', () => fs.appendFileSync(file('agents/planner.md'), 'more\n'), 1],
      ['a file artifact goes', () => fs.rmSync(file('commands/review.md')), 0],
      ['and comes back as it was', () => fs.writeFileSync(file('commands/review.md'), review), 1],
      [
        'a file becomes a link to the same bytes',
        () => {
          const run = file('skills/pdf-tools/scripts/run.sh');
          fs.renameSync(run, file('skills/pdf-tools/run-target.sh'));
          fs.symlinkSync('../run-target.sh', run);
        },
        1,
      ],
      [
        'a folder is renamed',
        () => fs.renameSync(file('skills/pdf-tools/ref'), file('skills/pdf-tools/ref2')),
        1,
      ],
      ['an empty folder appears', () => fs.mkdirSync(file('skills/café-notes/empty')), 0],
    ];
    for (const [what, change, rehashed] of changes) {
      change();
      const answer = await viaRecord(dir);
      assert.equal(answer.answered, true, `${what}: answered from the record`);
      assert.deepEqual(withoutCount(answer.report), withoutCount(await fullReport(dir)), what);
      assert.equal(answer.report.rehashed, rehashed, `${what}: re-hashed`);
      // And the record now vouches for the change: nothing is measured again, so nothing is rewritten.
      const written = fs.statSync(stateFile(dir, RECORD_FILE)).ino;
      const again = await viaRecord(dir);
      assert.equal(again.answered, true);
      assert.equal(again.report.rehashed, 0, `${what}: re-hashed again`);
      assert.equal(fs.statSync(stateFile(dir, RECORD_FILE)).ino, written, `${what}: the record rewritten`);
      assert.deepEqual(withoutCount(again.report), withoutCount(answer.report), `${what}: again`);
    }
    assert.equal((await viaRecord(dir)).report.state, 'inconsistent');
  });

  it('does not answer for other manifest or lock bytes, another key, a journal or a torn record', async () => {
    const dir = copySharedFixture();
    await viaRecord(dir);
    assert.equal((await viaRecord(dir)).answered, true);

    // Open merges and known updates are not in the record: asked with them, the full check answers.
    const withMerge = await checkCollection(dir, {
      record: KEY,
      now: later,
      conflicted: new Set(['skill/pdf-tools']),
    });
    assert.equal(withMerge.state, 'conflicted');
    const withUpdate = await checkCollection(dir, {
      record: KEY,
      now: later,
      updatesAvailable: new Set(['agent/planner']),
    });
    assert.equal(withUpdate.artifacts.find((a) => a.id === 'agent/planner')?.state, 'update-available');

    const lockFile = path.join(dir, 'collection.lock');
    const lock = fs.readFileSync(lockFile, 'utf8');
    const hash = /content_hash = "([0-9a-f]{64})"/.exec(lock)?.[1] as string;
    fs.writeFileSync(lockFile, lock.replace(hash, '0'.repeat(64)));
    const relocked = await viaRecord(dir);
    assert.equal(relocked.answered, false, 'other lock bytes');
    assert.equal(relocked.report.state, 'modified');
    assert.deepEqual(withoutCount(relocked.report), withoutCount(await fullReport(dir)));
    assert.equal((await viaRecord(dir)).answered, true, 'a record of the new bytes');

    const manifestFile = path.join(dir, 'collection.toml');
    fs.appendFileSync(manifestFile, '\n');
    assert.equal((await viaRecord(dir)).answered, false, 'other manifest bytes');

    assert.equal((await viaRecord(dir, later, 'another-build')).answered, false, 'another key');
    assert.equal((await viaRecord(dir, later, 'another-build')).answered, true);

    fs.writeFileSync(journalPath(dir), '{}');
    const interrupted = await viaRecord(dir, later, 'another-build');
    assert.equal(interrupted.report.state, 'interrupted');
    fs.rmSync(journalPath(dir));

    // A missing artifact, recorded so by a full check, that comes back.
    const review = path.join(dir, 'commands/review.md');
    const reviewBytes = fs.readFileSync(review);
    fs.rmSync(review);
    assert.equal((await viaRecord(dir, later, 'a-third-build')).answered, false);
    fs.writeFileSync(review, reviewBytes);
    const back = await viaRecord(dir, later, 'a-third-build');
    assert.equal(back.answered, true);
    assert.deepEqual(withoutCount(back.report), withoutCount(await fullReport(dir)));
    assert.equal(back.report.artifacts.find((a) => a.id === 'command/review')?.state, 'clean');

    const record = stateFile(dir, RECORD_FILE);
    fs.writeFileSync(record, fs.readFileSync(record).subarray(0, 40));
    const torn = await viaRecord(dir, later, 'a-third-build');
    assert.equal(torn.answered, false, 'a torn record');
    assert.equal(torn.report.state, 'modified');
  });

  it('measures a racy artifact at every check, and rewrites the record only once it can vouch for it', async () => {
    const dir = copySharedFixture();
    const record = stateFile(dir, RECORD_FILE);
    // The fixture was just copied: every stamp is racy, so every artifact is measured again.
    await viaRecord(dir, Date.now);
    assert.equal((await viaRecord(dir, Date.now)).report.rehashed, 4);
    await viaRecord(dir); // later: the record now vouches for all four
    assert.equal((await viaRecord(dir, Date.now)).report.rehashed, 0);

    fs.appendFileSync(path.join(dir, 'agents/planner.md'), 'an edit just now\n');
    const written = fs.readFileSync(record);
    for (let i = 0; i < 2; i++) {
      const answer = await viaRecord(dir, Date.now);
      assert.equal(answer.answered, true);
      assert.equal(answer.report.state, 'modified');
      assert.equal(answer.report.rehashed, 1, 'the edit is measured at every check');
    }
    assert.deepEqual(fs.readFileSync(record), written, 'a racy verdict alone does not rewrite the record');
    await viaRecord(dir);
    assert.notDeepEqual(fs.readFileSync(record), written);
    const settled = await viaRecord(dir, Date.now);
    assert.equal(settled.report.rehashed, 0);
    assert.equal(settled.report.state, 'modified');
  });

  it('serves the CLI: its second status answers from the record, and sees an edit', () => {
    const dir = copySharedFixture();
    const status = (): { code: number; out: string; answered: boolean } => {
      const run = runCli(['status', '--collection', dir], { env: { ARTIFACT_KEEPER_TRACE: '1' } });
      return { code: run.code, out: run.stdout, answered: /answered from the check record/.test(run.stderr) };
    };
    const first = status();
    assert.deepEqual([first.code, first.answered], [0, false]);
    assert.ok(fs.existsSync(stateFile(dir, RECORD_FILE)));
    const second = status();
    assert.deepEqual([second.code, second.answered], [0, true]);
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'edit\n');
    const edited = status();
    assert.deepEqual([edited.code, edited.answered], [1, true]);
    assert.match(edited.out, /skill\/pdf-tools +modified/);
  });
});
