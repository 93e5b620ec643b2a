/**
 * The resolve step (src/core/transfer/resolve.ts): one decide loop for every front end. A plan is made
 * by the real `classify`; the resolver is a script playing the person, as the CLI's terminal prompt and
 * the extension's editors do.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArtifactUpdatePlan, UpdatePlan } from '../../src/core/transfer/operations.js';
import { classify, contentDecision, resultTree } from '../../src/core/transfer/plan.js';
import type { Strategy, Tree, TreeFile } from '../../src/core/transfer/plan.js';
import { resolveUpdate } from '../../src/core/transfer/resolve.js';
import type { ConflictAnswer, Resolver } from '../../src/core/transfer/resolve.js';

const f = (text: string, mode = 0o644): TreeFile => ({ data: Buffer.from(text), mode });
const tree = (files: Record<string, string | TreeFile>): Tree =>
  new Map(Object.entries(files).map(([rel, v]) => [rel, typeof v === 'string' ? f(v) : v]));

/** skill/pdf: SKILL.md edited on both sides (a conflict), notes.md upstream only, run.sh made executable upstream. */
function artifact(id = 'skill/pdf'): ArtifactUpdatePlan {
  const base = tree({ 'SKILL.md': 'a\nb\nc\n', 'notes.md': 'n0\n', 'run.sh': f('echo\n') });
  const mine = tree({ 'SKILL.md': 'A\nb\nc\n', 'notes.md': 'n0\n', 'run.sh': f('echo\n') });
  const upstream = tree({
    'SKILL.md': 'a\nb\nC\n'.replace('a\n', 'a2\n'),
    'notes.md': 'n1\n',
    'run.sh': f('echo\n', 0o755),
  });
  // 'a' changed on both sides (A vs a2): a true conflict on the first line.
  return {
    id,
    name: id.split('/')[1] as string,
    type: 'skill',
    isFolder: true,
    from: { sha: 'aaa' },
    to: { sha: 'bbb' },
    upToDate: false,
    baseKnown: true,
    files: classify(base, mine, upstream),
    localRoot: '/nonexistent',
  };
}

function planOf(strategy: Strategy, ...artifacts: ArtifactUpdatePlan[]): UpdatePlan {
  return {
    collectionDir: '/nonexistent',
    strategy,
    artifacts,
    fingerprint: '',
    failed: [],
    selected: artifacts.map((a) => a.id),
    dispose: async () => undefined,
  };
}

const texts = (t: Tree): Record<string, string> =>
  Object.fromEntries([...t].map(([rel, file]) => [rel, `${file.data.toString()}@${file.mode.toString(8)}`]));

describe('resolveUpdate', () => {
  it('merge without a resolver: clean files decided, the conflict left unresolved', async () => {
    const resolved = await resolveUpdate(planOf('merge', artifact()));
    assert.notEqual(resolved, 'cancelled');
    if (resolved === 'cancelled') return;
    assert.deepEqual(
      resolved.unresolved.map((u) => [u.artifact, u.conflict.rel]),
      [['skill/pdf', 'SKILL.md']],
    );
    const decisions = resolved.decisions.get('skill/pdf');
    assert.ok(decisions instanceof Map);
    assert.deepEqual([...decisions.keys()].sort(), ['notes.md', 'run.sh']);
  });

  it('a completed merge is a content decision; the other artifact of the update is decided too', async () => {
    const seen: string[] = [];
    const resolver: Resolver = {
      beginConflicts: (a, conflicts) => seen.push(`begin ${a.id} ${conflicts.length}`),
      resolveConflict: async (a, conflict, _file, at) => {
        seen.push(`${a.id} ${conflict.rel} ${at.index}/${at.total}`);
        return { kind: 'content', data: Buffer.from('A2\nb\nC\n') };
      },
    };
    const resolved = await resolveUpdate(planOf('merge', artifact(), artifact('skill/docx')), resolver);
    assert.notEqual(resolved, 'cancelled');
    if (resolved === 'cancelled') return;
    assert.deepEqual(seen, [
      'begin skill/pdf 1',
      'skill/pdf SKILL.md 1/1',
      'begin skill/docx 1',
      'skill/docx SKILL.md 1/1',
    ]);
    assert.deepEqual(resolved.unresolved, []);
    const pdf = resolved.decisions.get('skill/pdf');
    assert.ok(pdf instanceof Map);
    assert.deepEqual(texts(resultTree(artifact().files, pdf)), {
      'SKILL.md': 'A2\nb\nC\n@644',
      'notes.md': 'n1\n@644',
      'run.sh': 'echo\n@755',
    });
  });

  it('skip-artifact skips only that artifact; cancel stops everything', async () => {
    const answers: ConflictAnswer[] = ['skip-artifact', { kind: 'take', side: 'upstream' }];
    const resolved = await resolveUpdate(planOf('merge', artifact(), artifact('skill/docx')), {
      resolveConflict: async () => answers.shift() ?? 'cancel',
    });
    assert.notEqual(resolved, 'cancelled');
    if (resolved === 'cancelled') return;
    assert.equal(resolved.decisions.get('skill/pdf'), 'skip');
    const docx = resolved.decisions.get('skill/docx');
    assert.ok(docx instanceof Map);
    assert.equal(texts(resultTree(artifact().files, docx))['SKILL.md'], 'a2\nb\nC\n@644');
    assert.equal(
      await resolveUpdate(planOf('merge', artifact()), { resolveConflict: async () => 'cancel' }),
      'cancelled',
    );
  });

  it('prompt: one question per file upstream touched; merge leads to the conflict question', async () => {
    const asked: string[] = [];
    const resolved = await resolveUpdate(planOf('prompt', artifact()), {
      chooseFile: async (_a, file, at) => {
        asked.push(`${file.rel} ${at.index}/${at.total}`);
        return file.rel === 'SKILL.md' ? 'merge' : file.rel === 'notes.md' ? 'mine' : 'upstream';
      },
      resolveConflict: async () => ({ kind: 'take', side: 'mine' }),
    });
    assert.deepEqual(asked, ['SKILL.md 1/3', 'notes.md 2/3', 'run.sh 3/3']);
    assert.notEqual(resolved, 'cancelled');
    if (resolved === 'cancelled') return;
    const pdf = resolved.decisions.get('skill/pdf');
    assert.ok(pdf instanceof Map);
    assert.deepEqual(texts(resultTree(artifact().files, pdf)), {
      'SKILL.md': 'A\nb\nc\n@644',
      'notes.md': 'n0\n@644',
      'run.sh': 'echo\n@755',
    });
  });

  it('the review sees every decision and can cancel; an up-to-date artifact is never asked about', async () => {
    const upToDate = { ...artifact('skill/done'), upToDate: true };
    let reviewed: string[] = [];
    const cancelled = await resolveUpdate(planOf('overwrite', artifact(), upToDate), {
      review: async (update) => {
        reviewed = [...update.decisions.keys()];
        return 'cancel';
      },
    });
    assert.equal(cancelled, 'cancelled');
    assert.deepEqual(reviewed, ['skill/pdf']);
  });
});

describe('contentDecision', () => {
  it('gives a hand-merged file the mode the merge would: a mode change on one side wins', () => {
    const [file] = classify(
      tree({ 'run.sh': f('a\n') }),
      tree({ 'run.sh': f('b\n') }),
      tree({ 'run.sh': f('c\n', 0o755) }),
    );
    assert.ok(file);
    assert.deepEqual(contentDecision(file, Buffer.from('merged\n')), {
      kind: 'content',
      data: Buffer.from('merged\n'),
      mode: 0o755,
    });
    const [local] = classify(
      tree({ 'run.sh': f('a\n') }),
      tree({ 'run.sh': f('b\n', 0o755) }),
      tree({ 'run.sh': f('c\n') }),
    );
    assert.ok(local);
    assert.equal((contentDecision(local, Buffer.from('m\n')) as { mode: number }).mode, 0o755);
  });
});
