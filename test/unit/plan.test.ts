import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, decide, resultTree } from '../../src/core/transfer/plan.js';
import type { Tree, TreeFile } from '../../src/core/transfer/plan.js';
import { validateArtifact, frontmatterProblem } from '../../src/core/model/validate.js';

const f = (text: string, mode = 0o644): TreeFile => ({ data: Buffer.from(text), mode });
const tree = (files: Record<string, string | TreeFile>): Tree =>
  new Map(Object.entries(files).map(([rel, v]) => [rel, typeof v === 'string' ? f(v) : v]));
const texts = (t: Tree): Record<string, string> =>
  Object.fromEntries([...t].map(([rel, file]) => [rel, file.data.toString()]));

describe('classify', () => {
  it('names every kind of change against the true base', () => {
    const base = tree({
      same: 's',
      up: 'u0',
      loc: 'l0',
      both: 'a\nb\nc\n',
      gone: 'g',
      locgone: 'lg',
      sameChange: 'x',
      delMod: 'd',
      modDel: 'm',
    });
    const mine = tree({
      same: 's',
      up: 'u0',
      loc: 'l1',
      both: 'A\nb\nc\n',
      gone: 'g',
      sameChange: 'y',
      delMod: 'd2',
      mineOnly: 'mo',
      addBoth: 'p',
      modDel: 'm',
    });
    const upstream = tree({
      same: 's',
      up: 'u1',
      loc: 'l0',
      both: 'a\nb\nC\n',
      locgone: 'lg',
      sameChange: 'y',
      upOnly: 'uo',
      addBoth: 'q',
      modDel: 'm2',
    });
    const statuses = Object.fromEntries(classify(base, mine, upstream).map((p) => [p.rel, p.status]));
    assert.deepEqual(statuses, {
      addBoth: 'both-added',
      both: 'both-modified',
      delMod: 'removed-upstream-modified-locally',
      gone: 'upstream-removed',
      loc: 'local-modified',
      locgone: 'local-removed',
      mineOnly: 'local-added',
      modDel: 'upstream-modified',
      same: 'unchanged',
      sameChange: 'same-change',
      up: 'upstream-modified',
      upOnly: 'upstream-added',
    });
  });

  it('treats a mode change as a change and marks binary files', () => {
    const plans = classify(
      tree({ run: f('x', 0o644), bin: f('\0a') }),
      tree({ run: f('x', 0o644), bin: f('\0b') }),
      tree({ run: f('x', 0o755), bin: f('\0c') }),
    );
    assert.equal(plans.find((p) => p.rel === 'run')?.status, 'upstream-modified');
    assert.equal(plans.find((p) => p.rel === 'bin')?.binary, true);
  });
});

describe('strategies', () => {
  const base = tree({ 'SKILL.md': 'title\nbody\n', 'ref/a.md': 'a\n', 'ref/b.md': 'b\n', 'old.md': 'old\n' });
  const mine = tree({
    'SKILL.md': 'title\nbody\nmy note\n',
    'ref/a.md': 'a\n',
    'ref/b.md': 'b\n',
    'old.md': 'old\n',
    'mine.md': 'mine\n',
  });
  const upstream = tree({
    'SKILL.md': 'Title v2\nbody\n',
    'ref/a.md': 'a v2\n',
    'ref/b.md': 'b\n',
    'new.md': 'new\n',
  });

  it('merge keeps files upstream did not change (SkillMeat dropped SKILL.md) and both edits', () => {
    const files = classify(base, mine, upstream);
    const { decisions, conflicts } = decide(files, 'merge');
    assert.deepEqual(conflicts, []);
    assert.deepEqual(texts(resultTree(files, decisions)), {
      'SKILL.md': 'Title v2\nbody\nmy note\n',
      'mine.md': 'mine\n',
      'new.md': 'new\n',
      'ref/a.md': 'a v2\n',
      'ref/b.md': 'b\n',
    });
  });

  it('merge never silently overwrites a local edit: overlapping edits conflict with both sides', () => {
    const files = classify(
      tree({ 'x.md': 'line\n' }),
      tree({ 'x.md': 'mine\n' }),
      tree({ 'x.md': 'theirs\n' }),
    );
    const { conflicts } = decide(files, 'merge');
    assert.equal(conflicts.length, 1);
    const proposal = conflicts[0]?.proposal?.toString() ?? '';
    assert.equal(proposal, '<<<<<<< local\nmine\n||||||| base\nline\n=======\ntheirs\n>>>>>>> upstream\n');
  });

  it('merge conflicts on delete/modify and on binary changes on both sides', () => {
    const files = classify(tree({ a: 'a', b: '\0x' }), tree({ a: 'a2', b: '\0y' }), tree({ b: '\0z' }));
    assert.deepEqual(
      decide(files, 'merge').conflicts.map((c) => [c.rel, c.status, c.binary]),
      [
        ['a', 'removed-upstream-modified-locally', false],
        ['b', 'both-modified', true],
      ],
    );
  });

  it('overwrite takes upstream everywhere upstream has a say, keeps files only we have', () => {
    const files = classify(base, mine, upstream);
    assert.deepEqual(texts(resultTree(files, decide(files, 'overwrite').decisions)), {
      'SKILL.md': 'Title v2\nbody\n',
      'mine.md': 'mine\n',
      'new.md': 'new\n',
      'ref/a.md': 'a v2\n',
      'ref/b.md': 'b\n',
    });
  });

  it('keep leaves every local file as it is', () => {
    const files = classify(base, mine, upstream);
    assert.deepEqual(texts(resultTree(files, decide(files, 'keep').decisions)), texts(mine));
  });

  it('merges single-file artifacts too', () => {
    const files = classify(
      tree({ 'review.md': 'a\nb\nc\n' }),
      tree({ 'review.md': 'A\nb\nc\n' }),
      tree({ 'review.md': 'a\nb\nC\n' }),
    );
    const { decisions, conflicts } = decide(files, 'merge');
    assert.deepEqual(conflicts, []);
    assert.deepEqual(texts(resultTree(files, decisions)), { 'review.md': 'A\nb\nC\n' });
  });
});

describe('validateArtifact', () => {
  it('accepts a normal skill and rejects escapes, missing SKILL.md and broken frontmatter', () => {
    assert.deepEqual(
      validateArtifact(
        'skill',
        tree({ 'SKILL.md': '---\nname: x\ndescription: "y: z"\ntags:\n  - a\n---\nbody\n' }),
        true,
      ),
      [],
    );
    assert.deepEqual(validateArtifact('skill', tree({ 'README.md': 'x' }), true), ['SKILL.md is missing']);
    assert.match(
      validateArtifact('skill', tree({ 'SKILL.md': '---\nname: x\n' }), true).join(),
      /not closed/,
    );
    assert.match(
      validateArtifact('skill', tree({ 'SKILL.md': 'x', link: f('../../etc', 0o120000) }), true).join(),
      /points outside/,
    );
    assert.match(
      validateArtifact(
        'skill',
        tree({ 'SKILL.md': 'x', 'ok-link': f('ref/a.md', 0o120000), '../x': 'y' }),
        true,
      ).join(),
      /not inside/,
    );
    assert.equal(frontmatterProblem('---\nname x\n---\n'), 'frontmatter line 2 is not "key: value"');
    assert.deepEqual(validateArtifact('command', tree({ 'review.md': '' }), false), [
      'the command file is empty',
    ]);
  });
});
