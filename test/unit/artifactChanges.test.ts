/**
 * An artifact's changed files against its locked content (the stored upstream tree at the lock's sha),
 * through the real CLI on a real git upstream: M, A, D, C, noise left out, a single-file artifact, and
 * an artifact without a stored base.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { artifactFileChanges } from '../../src/core/status/artifactChanges.js';
import type { ArtifactChanges } from '../../src/core/status/artifactChanges.js';
import { checkCollection } from '../../src/core/status/consistency.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { silentLogger } from '../../src/core/base/changes.js';
import { collectionWith } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const SKILL = '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nStep one.\n';

function setup(): string {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': SKILL,
        'skills/pdf/notes.md': 'notes\n',
        'skills/pdf/ref/api.md': 'api\n',
        'commands/review.md': '# Review\n',
      },
      tag: 'v1',
    },
  ]);
  const dir = collectionWith([`${up.url}#skills/pdf@v1`, `${up.url}#commands/review.md@v1`]);
  return dir;
}

async function check(dir: string, id: string): Promise<ArtifactChanges> {
  const report = await checkCollection(dir, { fs: nodeFs, persist: false });
  const artifact = report.artifacts.find((a) => a.id === id);
  assert.ok(artifact, id);
  return artifactFileChanges(dir, artifact, { fs: nodeFs, logger: silentLogger });
}

const listing = (changes: ArtifactChanges): string[] => changes.files.map((f) => `${f.kind} ${f.rel}`);

describe('artifactFileChanges', () => {
  it('a clean artifact has no changed file', async () => {
    const dir = setup();
    const changes = await check(dir, 'skill/pdf');
    assert.equal(changes.hasBase, true);
    assert.equal(changes.isFolder, true);
    assert.deepEqual(changes.files, []);
  });

  it('lists modified, added and deleted files against the locked content; noise is never a change', async () => {
    const dir = setup();
    const root = path.join(dir, 'skills/pdf');
    fs.writeFileSync(path.join(root, 'SKILL.md'), SKILL + 'Mine.\n');
    fs.writeFileSync(path.join(root, 'extra.md'), 'mine\n');
    fs.rmSync(path.join(root, 'ref/api.md'));
    fs.writeFileSync(path.join(root, '.DS_Store'), 'noise');
    assert.deepEqual(listing(await check(dir, 'skill/pdf')), [
      'modified SKILL.md',
      'added extra.md',
      'deleted ref/api.md',
    ]);
  });

  it('a file with conflict markers or an .upstream copy is conflicted; the copy itself is not listed', async () => {
    const dir = setup();
    const root = path.join(dir, 'skills/pdf');
    fs.writeFileSync(
      path.join(root, 'SKILL.md'),
      `${SKILL}<<<<<<< local\nmine\n=======\ntheirs\n>>>>>>> upstream\n`,
    );
    fs.writeFileSync(path.join(root, 'notes.md.upstream'), 'theirs\n');
    fs.writeFileSync(path.join(root, 'notes.md'), 'mine\n');
    const changes = await check(dir, 'skill/pdf');
    assert.deepEqual(listing(changes), ['conflicted SKILL.md', 'conflicted notes.md']);
    // A file deleted locally with upstream's copy beside it is still the conflict, not a deletion.
    fs.rmSync(path.join(root, 'notes.md'));
    assert.deepEqual(listing(await check(dir, 'skill/pdf')), ['conflicted SKILL.md', 'conflicted notes.md']);
    // A copy whose file neither side knows is the conflict itself.
    fs.renameSync(path.join(root, 'notes.md.upstream'), path.join(root, 'other.md.upstream'));
    assert.deepEqual(listing(await check(dir, 'skill/pdf')), [
      'conflicted SKILL.md',
      'deleted notes.md',
      'conflicted other.md.upstream',
    ]);
  });

  it('a single-file artifact is keyed by its local file name; a missing one is deleted', async () => {
    const dir = setup();
    const file = path.join(dir, 'commands/review.md');
    fs.writeFileSync(file, '# Review, mine\n');
    let changes = await check(dir, 'command/review');
    assert.equal(changes.isFolder, false);
    assert.deepEqual(listing(changes), ['modified review.md']);
    fs.rmSync(file);
    changes = await check(dir, 'command/review');
    assert.deepEqual(listing(changes), ['deleted review.md']);
  });

  it('without a stored base only conflicts can be told', async () => {
    const dir = setup();
    fs.rmSync(path.join(dir, '.artifact-keeper'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL + 'Mine.\n');
    const report = await checkCollection(dir, { fs: nodeFs, persist: false });
    const artifact = report.artifacts.find((a) => a.id === 'skill/pdf');
    assert.ok(artifact);
    const changes = await artifactFileChanges(
      dir,
      { ...artifact, resolvedSha: undefined },
      { fs: nodeFs, logger: silentLogger },
    );
    assert.equal(changes.hasBase, false);
    assert.deepEqual(changes.files, []);
  });
});
