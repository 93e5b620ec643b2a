/**
 * `update --all` over many artifacts of one upstream repository: the upstream is resolved and fetched
 * once for the run (counted through the git port's call recording), an artifact whose path the new
 * commit left alone is up to date without a fetch of its own, and the changed ones come out exactly as
 * updating each on its own does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { FaultPlan } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import { runCli, tempDir, treeListing } from './support/collections.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';
import type { Upstream } from './support/upstream.js';

const N = 6;
const CHANGED = [1, 4];
const skill = (i: number, text: string): string =>
  `---\nname: s${i}\ndescription: skill ${i}\n---\n${text}\n`;

function setup(): { dirs: [string, string]; url: string; up: Upstream } {
  const files: Record<string, string> = {};
  for (let i = 0; i < N; i++) files[`skills/s${i}/SKILL.md`] = skill(i, 'v1');
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [{ files }]);
  const dirs: string[] = [];
  for (const name of ['batched', 'one-by-one']) {
    const dir = path.join(tempDir(), name);
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    for (let i = 0; i < N; i++) {
      const r = runCli(['add', `${up.url}#skills/s${i}`, '--collection', dir]);
      assert.equal(r.code, 0, r.stderr);
    }
    dirs.push(dir);
  }
  const changed: Record<string, string> = {};
  for (const i of CHANGED) changed[`skills/s${i}/SKILL.md`] = skill(i, 'v2 upstream');
  commitUpstream(up, { files: changed });
  return { dirs: dirs as [string, string], url: up.url, up };
}

/** The blob at `rel` in commit `sha` of the upstream. */
const blobId = (up: Upstream, sha: string, rel: string): string =>
  execFileSync('git', ['--git-dir', up.gitDir, 'rev-parse', `${sha}:${rel}`], { encoding: 'utf8' }).trim();

/** The object ids a recorded `fetch … -- origin <id>…` asked for. */
const fetchedIds = (call: string | undefined): string[] =>
  (call ?? '').split(' -- origin ')[1]?.split(' ').sort() ?? [];

const opts = (faults: FaultPlan) => ({ fs: nodeFs, logger: silentLogger, tool: 'test', faults });

describe('update --all, one upstream repository', () => {
  it('resolves and fetches the repository once, fetches only the changed artifacts, same results as one by one', async () => {
    const { dirs, up } = setup();
    const [batched, oneByOne] = dirs;
    const plan = new FaultPlan([]);
    const run = await updateArtifacts(batched, 'all', { strategy: 'overwrite' }, opts(plan));
    const git = plan.calls.filter((c) => c.op === 'git').map((c) => c.path);
    const count = (verb: string): number => git.filter((c) => c.startsWith(verb)).length;
    assert.equal(count('ls-remote'), 1, git.join('\n'));
    // One shared fetch of both commits' trees, one of the changed artifacts' blobs (their bases are in
    // the store since the add); each changed artifact is checked out of that repository.
    assert.equal(count('fetch'), 2, git.join('\n'));
    assert.deepEqual(
      fetchedIds(git.filter((c) => c.startsWith('fetch')).at(-1)),
      CHANGED.map((i) => blobId(up, up.shas.at(-1) as string, `skills/s${i}/SKILL.md`)).sort(),
    );
    assert.equal(count('read-tree'), CHANGED.length, git.join('\n'));
    const outcomes = new Map(run.outcomes.map((o) => [o.id, o.outcome]));
    for (let i = 0; i < N; i++) {
      assert.equal(outcomes.get(`skill/s${i}`), CHANGED.includes(i) ? 'updated' : 'up-to-date', `s${i}`);
    }

    for (const i of CHANGED) {
      const single = await updateArtifacts(
        oneByOne,
        [`skill/s${i}`],
        { strategy: 'overwrite' },
        opts(new FaultPlan([])),
      );
      assert.deepEqual(
        single.outcomes.map((o) => o.outcome),
        ['updated'],
      );
    }
    assert.deepEqual(treeListing(path.join(batched, 'skills')), treeListing(path.join(oneByOne, 'skills')));
    for (const i of CHANGED) {
      assert.match(fs.readFileSync(path.join(batched, `skills/s${i}/SKILL.md`), 'utf8'), /v2 upstream/);
    }
  });

  it('with no stored bases (a collection from SkillMeat), checks out upstream and base of files and folders from one fetch of trees and one of blobs: merged as one by one', async () => {
    const files: Record<string, string> = { 'commands/c0.md': 'c0 v1\n', 'commands/c1.md': 'c1 v1\n' };
    for (let i = 0; i < N; i++) files[`skills/s${i}/SKILL.md`] = skill(i, 'line one\nline two\nline three');
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [{ files }]);
    const [batched, oneByOne] = ['batched', 'one-by-one'].map((name) => {
      const dir = path.join(tempDir(), name);
      assert.equal(runCli(['init', '--collection', dir]).code, 0);
      for (const rel of [
        ...CHANGED.map((i) => `skills/s${i}`),
        'skills/s0',
        'commands/c0.md',
        'commands/c1.md',
      ]) {
        const r = runCli(['add', `${up.url}#${rel}`, '--collection', dir]);
        assert.equal(r.code, 0, r.stderr);
      }
      // No stored upstream content: every base has to come from upstream.
      fs.rmSync(path.join(dir, '.artifact-keeper/snapshots.git'), { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'skills/s1/SKILL.md'),
        skill(1, 'line one\nline two\nline three, mine'),
      );
      return dir;
    }) as [string, string];
    const changed: Record<string, string> = { 'commands/c1.md': 'c1 v2\n' };
    for (const i of CHANGED)
      changed[`skills/s${i}/SKILL.md`] = skill(i, 'line one, upstream\nline two\nline three');
    commitUpstream(up, { files: changed });

    const plan = new FaultPlan([]);
    const run = await updateArtifacts(batched, 'all', { strategy: 'merge' }, opts(plan));
    const git = plan.calls.filter((c) => c.op === 'git').map((c) => c.path);
    const count = (verb: string): number => git.filter((c) => c.startsWith(verb)).length;
    // The trees of both commits, then every blob of the changed artifacts at both, in one fetch.
    assert.equal(count('fetch'), 2, git.join('\n'));
    const [v1, v2] = up.shas as [string, string];
    assert.deepEqual(
      fetchedIds(git.filter((c) => c.startsWith('fetch')).at(-1)),
      [v1, v2]
        .flatMap((sha) => [
          ...CHANGED.map((i) => blobId(up, sha, `skills/s${i}/SKILL.md`)),
          blobId(up, sha, 'commands/c1.md'),
        ])
        .sort(),
    );
    // Upstream and base of each changed artifact: two skills (trees) and one command (a file).
    assert.equal(count('read-tree'), 2 * CHANGED.length, git.join('\n'));
    assert.equal(count('checkout-index'), 2, git.join('\n'));
    assert.deepEqual(
      run.outcomes
        .filter((o) => o.outcome === 'updated')
        .map((o) => o.id)
        .sort(),
      ['command/c1', ...CHANGED.map((i) => `skill/s${i}`)].sort(),
    );
    for (const id of ['command/c1', ...CHANGED.map((i) => `skill/s${i}`)]) {
      const single = await updateArtifacts(oneByOne, [id], { strategy: 'merge' }, opts(new FaultPlan([])));
      assert.deepEqual(
        single.outcomes.map((o) => o.outcome),
        ['updated'],
        id,
      );
    }
    const listing = (dir: string): string[] =>
      treeListing(dir).filter((line) => !/ collection\.(toml|lock) /.test(line));
    assert.deepEqual(listing(batched), listing(oneByOne));
    assert.match(
      fs.readFileSync(path.join(batched, 'skills/s1/SKILL.md'), 'utf8'),
      /line one, upstream\nline two\nline three, mine/,
      'a true three-way merge: the base came along',
    );
    assert.equal(fs.readFileSync(path.join(batched, 'commands/c1.md'), 'utf8'), 'c1 v2\n');
    assert.equal(runCli(['status', '--collection', batched]).code, 0);
  });
});
