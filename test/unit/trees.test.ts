/**
 * Tests for buildTrees (src/core/store/trees.ts): the trees built for a changed folder state from the
 * previous snapshot's basis (only the folders that changed) give the same root as building every folder
 * anew, whatever the edits, also when a scan names the files that may differ (the delta); and that root is
 * the one git computes for the same files.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildTrees } from '../../src/core/store/trees.js';
import type { FolderState, ScannedFile, TreeBasis } from '../../src/core/store/trees.js';
import { tempDir } from './support/collections.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const NAMES = ['a', 'b', 'a-b', 'a.md', 'skills', 'x'];

function fileOf(content: string, exec: boolean): ScannedFile {
  const body = Buffer.from(content);
  const sha = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
  return { mode: exec ? '100755' : '100644', sha, kind: 'file' };
}

function parentsOf(rel: string): string[] {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** A state from paths: a path's parents are folders; `dirs` adds empty ones. Clashes are dropped. */
function stateOf(files: [string, ScannedFile][], emptyDirs: string[]): FolderState {
  const state: FolderState = { files: new Map(), dirs: new Set() };
  for (const [rel, file] of files) {
    if (state.dirs.has(rel) || parentsOf(rel).some((p) => state.files.has(p))) continue;
    state.files.set(rel, file);
    for (const p of parentsOf(rel)) state.dirs.add(p);
  }
  for (const dir of emptyDirs) {
    if (state.files.has(dir) || [dir, ...parentsOf(dir)].some((p) => state.files.has(p))) continue;
    if ([...state.files.keys()].some((rel) => rel.startsWith(`${dir}/`))) continue;
    state.dirs.add(dir);
    for (const p of parentsOf(dir)) state.dirs.add(p);
  }
  return state;
}

function basisOf(state: FolderState): TreeBasis {
  const built = buildTrees(state);
  return {
    files: new Map(
      [...state.files].map(([rel, f]) => [
        rel,
        { sha: f.sha, mode: f.mode === '100755' ? 0o100755 : 0o100644 },
      ]),
    ),
    dirs: new Map(Object.entries(built.dirShas).map(([rel, tree]) => [rel, { tree }])),
  };
}

const relArb = fc
  .array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'));
const fileArb = fc.tuple(relArb, fc.string({ maxLength: 3 }), fc.boolean());
const stateArb = fc
  .tuple(fc.array(fileArb, { maxLength: 25 }), fc.array(relArb, { maxLength: 4 }))
  .map(([files, dirs]) =>
    stateOf(
      files.map(([rel, c, x]) => [rel, fileOf(c, x)]),
      dirs,
    ),
  );

void describe('buildTrees', () => {
  void it('from the previous basis, gives the root of a build from nothing, after any edits', () => {
    fc.assert(
      fc.property(
        stateArb,
        stateArb,
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 8 }),
        (old, other, picks) => {
          // The new state: the old one with some files of another state swapped in, some removed.
          const files = new Map(old.files);
          const otherFiles = [...other.files];
          for (const pick of picks) {
            const take = otherFiles[pick % Math.max(1, otherFiles.length)];
            if (pick % 3 === 0 && files.size > 0)
              files.delete([...files.keys()][pick % files.size] as string);
            else if (take) files.set(take[0], take[1]);
          }
          const next = stateOf(
            [...files],
            [...other.dirs].filter((d) => picks.length % 2 === 0 && d.length > 0),
          );
          const basis = basisOf(old);
          const incremental = buildTrees(next, basis);
          const whole = buildTrees(next);
          assert.equal(incremental.root, whole.root);
          assert.deepEqual(incremental.dirShas, whole.dirShas);
          // As a scan through the basis hands it over: only the files that differ from it named (and a
          // few that do not, as a racy file re-hashed to the same blob is).
          const changed = [...next.files]
            .filter(([rel, f], i) => {
              const before = basis.files.get(rel);
              return (
                !before ||
                before.sha !== f.sha ||
                (before.mode === 0o100755) !== (f.mode === '100755') ||
                picks.includes(i)
              );
            })
            .map(([rel]) => rel);
          const scanned = buildTrees({ ...next, delta: { basis, changed } }, basis);
          assert.equal(scanned.root, whole.root);
          assert.deepEqual(scanned.dirShas, whole.dirShas);
          assert.deepEqual(
            scanned.trees.map((t) => t.sha),
            incremental.trees.map((t) => t.sha),
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  void it('gives the tree git writes for the same files', () => {
    const dir = tempDir();
    const work = path.join(dir, 'work');
    execFileSync('git', ['init', '-q', work]);
    const files: [string, string, boolean][] = [
      ['a.md', 'a\n', false],
      ['a/b.sh', 'run\n', true],
      ['a-b/c.md', 'c\n', false],
      ['skills/x/SKILL.md', 'x\n', false],
      ['skills/x/ref/r.md', 'r\n', false],
    ];
    for (const [rel, content, exec] of files) {
      fs.mkdirSync(path.dirname(path.join(work, rel)), { recursive: true });
      fs.writeFileSync(path.join(work, rel), content, { mode: exec ? 0o755 : 0o644 });
    }
    execFileSync('git', ['-C', work, 'add', '-A']);
    const gitRoot = execFileSync('git', ['-C', work, 'write-tree'], { encoding: 'utf8' }).trim();
    const state = stateOf(
      files.map(([rel, content, exec]) => [rel, fileOf(content, exec)]),
      [],
    );
    assert.equal(buildTrees(state).root, gitRoot);
    // One file changed, built from the basis: git's tree for the same change.
    fs.writeFileSync(path.join(work, 'skills/x/ref/r.md'), 'r2\n');
    execFileSync('git', ['-C', work, 'add', '-A']);
    const gitNext = execFileSync('git', ['-C', work, 'write-tree'], { encoding: 'utf8' }).trim();
    const next: FolderState = { files: new Map(state.files), dirs: new Set(state.dirs) };
    next.files.set('skills/x/ref/r.md', fileOf('r2\n', false));
    assert.equal(buildTrees(next, basisOf(state)).root, gitNext);
  });
});
