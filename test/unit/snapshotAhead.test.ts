/**
 * The snapshot before an update, scanned while the update fetches (snapshotAhead.ts): used when it holds
 * what the transaction replaces, taken again when not, and in both cases restoring it undoes the update
 * to the byte. Real collections, a real local upstream, real git.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger, STATE_DIR } from '../../src/core/base/changes.js';
import { startTrace, traceReport } from '../../src/core/base/trace.js';
import type { TracePhase } from '../../src/core/base/trace.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { SNAPSHOT_REPO } from '../../src/core/store/snapshots.js';
import type { OperationOptions } from '../../src/core/transfer/operations.js';
import { restoreSnapshot } from '../../src/core/transfer/restore.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import type { UpdateRunOptions } from '../../src/core/transfer/update.js';
import { collectionWith, treeListing } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const SCANNED_AGAIN = 'snapshot scanned again: the scan did not hold the replaced bytes';
const SCAN_PHASE = 'snapshot scan, during the fetch';

function setup(): string {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nOne.\nTwo.\nThree.\n',
        'skills/pdf/ref/usage.md': 'usage v1\n',
        'commands/review.md': '# Review\nLine A\nLine B\n',
      },
      tag: 'v1',
    },
    {
      files: {
        'skills/pdf/SKILL.md':
          '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nOne, upstream.\nTwo.\nThree.\n',
        'skills/pdf/ref/new.md': 'new in v2\n',
        'commands/review.md': '# Review\nLine A\nLine B\n',
      },
      tag: 'v2',
    },
  ]);
  const dir = collectionWith([`${up.url}#skills/pdf@v1`, `${up.url}#commands/review.md@v1`]);
  // A local edit the update merges with, and one in an artifact it does not touch.
  fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'A local line.\n');
  fs.appendFileSync(path.join(dir, 'commands/review.md'), 'Mine.\n');
  return dir;
}

const opts: OperationOptions = { fs: nodeFs, logger: silentLogger, tool: 'test' };

/** The update's trace: whether the scan ran during the fetch, and how often it was not used. */
async function tracedUpdate(
  dir: string,
  run: UpdateRunOptions,
  options: OperationOptions = opts,
): Promise<{ preSnapshot: string; scannedAhead: boolean; scannedAgain: number; phases: TracePhase[] }> {
  startTrace();
  const before = traceReport();
  const phasesBefore = before?.phases.length ?? 0;
  const againBefore = before?.counts[SCANNED_AGAIN] ?? 0;
  const outcome = await updateArtifacts(dir, ['skill/pdf'], run, options);
  const after = traceReport();
  assert.ok(outcome.result?.preSnapshot, 'the update committed with a snapshot before it');
  const phases = (after?.phases ?? []).slice(phasesBefore);
  return {
    preSnapshot: outcome.result.preSnapshot,
    scannedAhead: phases.some((p) => p.name === SCAN_PHASE),
    scannedAgain: (after?.counts[SCANNED_AGAIN] ?? 0) - againBefore,
    phases,
  };
}

function snapshotFile(dir: string, id: string, rel: string): string {
  const gitDir = path.join(dir, STATE_DIR, SNAPSHOT_REPO);
  const shown = spawnSync('git', ['--git-dir', gitDir, 'show', `refs/snapshots/${id}:${rel}`], {
    encoding: 'utf8',
  });
  assert.equal(shown.status, 0, shown.stderr);
  return shown.stdout;
}

void describe('the snapshot scanned during the fetch', () => {
  void it('becomes the snapshot before the update, and restoring it gives back every byte the update changed', async () => {
    const dir = setup();
    const before = treeListing(dir);
    const { preSnapshot, scannedAhead, scannedAgain, phases } = await tracedUpdate(dir, {
      strategy: 'merge',
      to: 'v2',
    });
    assert.equal(scannedAhead, true, 'the scan ran while the update fetched');
    assert.equal(scannedAgain, 0, 'and its scan became the snapshot');
    // Its stat index was read while git resolved the ref, when the update only waited.
    const resolving = phases.find((p) => p.name === 'resolve the ref (ls-remote)');
    const firstLoad = phases.find((p) => p.name === 'load the stat index');
    assert.ok(resolving && firstLoad, 'both phases traced');
    assert.ok(
      firstLoad.startMs >= resolving.startMs &&
        firstLoad.startMs + firstLoad.ms <= resolving.startMs + resolving.ms,
      'the stat index was read during the resolve',
    );
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /One, upstream\./);
    assert.notDeepEqual(treeListing(dir), before);
    await restoreSnapshot(dir, preSnapshot, opts);
    assert.deepEqual(treeListing(dir), before);
  });

  void it('is taken again when the manifest changed after the scan, and the snapshot holds the manifest the update replaced', async () => {
    const dir = setup();
    const manifest = path.join(dir, 'collection.toml');
    let edited = '';
    const { preSnapshot, scannedAhead, scannedAgain } = await tracedUpdate(dir, {
      strategy: 'merge',
      to: 'v2',
      resolver: {
        // After the plan (and the scan), before the apply: another edit of the manifest, outside the
        // updated artifact's entry, which the apply reads and goes on with.
        review: () => {
          fs.appendFileSync(manifest, '# noted during the update\n');
          edited = fs.readFileSync(manifest, 'utf8');
          return Promise.resolve('apply');
        },
      },
    });
    assert.equal(scannedAhead, true);
    assert.equal(scannedAgain, 1, 'the scan held the manifest as it was before the edit');
    assert.equal(snapshotFile(dir, preSnapshot, 'collection.toml'), edited);
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /One, upstream\./);
  });

  void it("is not made when the operation says so (`scanAhead: false`, the bench's baseline): the snapshot is scanned at the commit, and undoes the update as well", async () => {
    const dir = setup();
    const before = treeListing(dir);
    const { preSnapshot, scannedAhead, scannedAgain } = await tracedUpdate(
      dir,
      { strategy: 'merge', to: 'v2' },
      { ...opts, scanAhead: false },
    );
    assert.deepEqual([scannedAhead, scannedAgain], [false, 0]);
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /One, upstream\./);
    await restoreSnapshot(dir, preSnapshot, opts);
    assert.deepEqual(treeListing(dir), before);
  });

  void it('is not made when the content comes from the store (nothing to wait for)', async () => {
    const dir = setup();
    const first = await tracedUpdate(dir, { strategy: 'merge', to: 'v2' });
    assert.equal(first.scannedAhead, true);
    await restoreSnapshot(dir, first.preSnapshot, opts);
    const again = await tracedUpdate(dir, { strategy: 'merge', to: 'v2' });
    assert.equal(again.scannedAhead, false, 'v2 was read from the store, not fetched');
    assert.match(fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'), /One, upstream\./);
  });
});
