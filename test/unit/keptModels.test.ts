/**
 * The collections a process that lives on keeps parsed between updates (OperationOptions.loaded, the
 * daemon's): an update borrows its folder's, gives it back once committed, and the kept model is always
 * what manifest and lock on disk parse to; a failed update or another writer never leaves a model that
 * disagrees with the disk. And the parse cache's write left for after the answer (OperationOptions.defer).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger, STATE_DIR } from '../../src/core/base/changes.js';
import { loadCollection } from '../../src/core/model/collection.js';
import type { Collection } from '../../src/core/model/collection.js';
import { parseCacheEntry } from '../../src/core/model/parseCache.js';
import type { ParseCache } from '../../src/core/model/parseCache.js';
import { parseToml } from '../../src/core/model/toml.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { SNAPSHOT_REPO } from '../../src/core/store/snapshots.js';
import type { OperationOptions } from '../../src/core/transfer/operations.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import { acquireWriterLock } from '../../src/core/txn/writerLock.js';
import { collectionWith, runCli } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

function setup(): string {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    {
      files: {
        'skills/pdf/SKILL.md': '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nOne.\nTwo.\nThree.\n',
        'skills/pdf/ref/usage.md': 'usage v1\n',
        'commands/review.md': '# Review\nLine A\nLine B\nLine C\n',
      },
      tag: 'v1',
    },
    {
      files: {
        'skills/pdf/SKILL.md':
          '---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\nOne, upstream.\nTwo.\nThree.\n',
        'skills/pdf/ref/new.md': 'new in v2\n',
        'commands/review.md': '# Review\nLine A\nLine B\nLine C, upstream\n',
      },
      tag: 'v2',
    },
  ]);
  const dir = collectionWith([`${up.url}#skills/pdf@v1`, `${up.url}#commands/review.md@v1`]);
  // A local edit each update merges with.
  fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'A local line.\n');
  return dir;
}

/** Parses every time: what manifest and lock on disk say, whatever any cache holds. */
const noCache: ParseCache = {
  parse: (bytes, file) => parseToml(bytes, file),
  remember: () => undefined,
  save: () => Promise.resolve(),
};

/** A model as plain data (Maps as entry lists), so one parsed from TOML and one from JSON compare. */
function plain(collection: Collection): unknown {
  return JSON.parse(
    JSON.stringify({ manifest: collection.manifest, lock: collection.lock }, (_key, value: unknown) =>
      value instanceof Map ? [...value] : value,
    ),
  );
}

/** The kept model is exactly what the disk holds: the same bytes, and the same model as a fresh parse. */
function assertSameAsDisk(kept: Collection | undefined, dir: string): Collection {
  assert.ok(kept, 'a model is kept for the folder');
  const fresh = loadCollection(dir, { parseCache: noCache });
  assert.ok(kept.manifestBytes.equals(fresh.manifestBytes), 'manifest bytes');
  assert.ok(fresh.lockBytes && kept.lockBytes?.equals(fresh.lockBytes), 'lock bytes');
  assert.deepEqual(plain(kept), plain(fresh));
  return kept;
}

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function warm(): { opts: OperationOptions; loaded: Map<string, Collection>; later: (() => Promise<void>)[] } {
  const loaded = new Map<string, Collection>();
  const later: (() => Promise<void>)[] = [];
  const opts: OperationOptions = {
    fs: nodeFs,
    logger: silentLogger,
    tool: 'test',
    loaded,
    defer: (work) => {
      later.push(work);
    },
  };
  return { opts, loaded, later };
}

void describe('models kept between updates', () => {
  void it('an update gives back the model it edited, equal to the disk parsed afresh; the next update borrows it; the parse cache is written when the deferred work runs', async () => {
    const dir = setup();
    const { opts, loaded, later } = warm();
    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v2' }, opts);
    const first = assertSameAsDisk(loaded.get(dir), dir);
    const entry = parseCacheEntry(dir, sha256(path.join(dir, 'collection.toml')));
    assert.equal(fs.existsSync(entry), false, 'the parse cache entry waits for the deferred work');
    assert.ok(later.length > 0);
    for (const work of later.splice(0)) await work();
    assert.equal(fs.existsSync(entry), true, 'written once the deferred work ran');

    await updateArtifacts(dir, ['command/review'], { strategy: 'merge', to: 'v2' }, opts);
    const second = assertSameAsDisk(loaded.get(dir), dir);
    assert.equal(second.manifest, first.manifest, 'the second update borrowed the model the first gave back');
    assert.match(
      fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'),
      /One, upstream\.[\s\S]*A local line\./,
    );
    assert.match(fs.readFileSync(path.join(dir, 'commands/review.md'), 'utf8'), /Line C, upstream/);
  });

  void it('the files an update wrote are stored as blobs once the deferred work runs, and the next snapshot finds them there', async () => {
    const dir = setup();
    const { opts, later } = warm();
    const gitDir = path.join(dir, STATE_DIR, SNAPSHOT_REPO);
    const blobOf = (rel: string): string =>
      spawnSync('git', ['hash-object', path.join(dir, rel)], { encoding: 'utf8' }).stdout.trim();
    const stored = (id: string): boolean =>
      spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', id]).status === 0;
    // The merged SKILL.md is in no upstream tree; the manifest and lock in no snapshot.
    const written = ['collection.toml', 'collection.lock', 'skills/pdf/SKILL.md'];
    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v2' }, opts);
    const ids = written.map(blobOf);
    assert.deepEqual(
      ids.map(stored),
      ids.map(() => false),
      'not before the deferred work: no snapshot holds them yet',
    );
    for (const work of later.splice(0)) await work();
    assert.deepEqual(
      ids.map(stored),
      ids.map(() => true),
    );
    // The next update's snapshot takes them as they are, without writing them again.
    const faults = new FaultPlan([]);
    await updateArtifacts(
      dir,
      ['command/review'],
      { strategy: 'merge', to: 'v2' },
      { ...opts, fs: withFaults(nodeFs, faults) },
    );
    const renamed = faults.calls.filter((c) => c.op === 'rename').map((c) => c.path);
    assert.ok(
      renamed.some((p) => p.includes(`${path.sep}objects${path.sep}`)),
      'the snapshot wrote its trees',
    );
    for (const id of ids)
      assert.ok(
        !renamed.some((p) => p.endsWith(path.join(id.slice(0, 2), id.slice(2)))),
        `${id} not written again`,
      );
  });

  void it('the blobs are stored ahead only as the collection’s writer: while another process writes, not at all', async () => {
    const dir = setup();
    const { opts, later } = warm();
    const gitDir = path.join(dir, STATE_DIR, SNAPSHOT_REPO);
    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v2' }, opts);
    const manifest = spawnSync('git', ['hash-object', path.join(dir, 'collection.toml')], {
      encoding: 'utf8',
    }).stdout.trim();
    const lock = await acquireWriterLock(dir, { tool: 'another', fs: nodeFs });
    try {
      for (const work of later.splice(0)) await work();
    } finally {
      await lock.release();
    }
    assert.notEqual(spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', manifest]).status, 0);
    // The next update's snapshot stores it as it always did.
    await updateArtifacts(dir, ['command/review'], { strategy: 'merge', to: 'v2' }, opts);
    assert.equal(spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', manifest]).status, 0);
  });

  void it('an update that fails after editing the model (its commit refused) leaves none behind, and the next one starts from the disk', async () => {
    const dir = setup();
    const { opts, loaded } = warm();
    await updateArtifacts(dir, ['command/review'], { strategy: 'merge', to: 'v2' }, opts);
    assertSameAsDisk(loaded.get(dir), dir);
    const before = fs.readFileSync(path.join(dir, 'collection.toml'));
    // The lock's rename is the commit point: refusing it rolls the whole update back.
    const faults = new FaultPlan([{ op: 'rename', nth: 1, errno: 'EIO', pathIncludes: 'collection.lock' }]);
    await assert.rejects(
      updateArtifacts(
        dir,
        ['skill/pdf'],
        { strategy: 'merge', to: 'v2' },
        { ...opts, fs: withFaults(nodeFs, faults) },
      ),
    );
    assert.ok(faults.fired, 'the fault was injected');
    assert.ok(fs.readFileSync(path.join(dir, 'collection.toml')).equals(before), 'rolled back');
    assert.equal(loaded.has(dir), false, 'no model kept after a failed update');

    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v2' }, opts);
    assertSameAsDisk(loaded.get(dir), dir);
    assert.match(
      fs.readFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'utf8'),
      /One, upstream\.[\s\S]*A local line\./,
    );
    assert.equal(fs.readFileSync(path.join(dir, 'skills/pdf/ref/new.md'), 'utf8'), 'new in v2\n');
  });

  void it('another writer between two updates: the kept model is not used, the second update reads the disk', async () => {
    const dir = setup();
    const { opts, loaded } = warm();
    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v2' }, opts);
    const kept = assertSameAsDisk(loaded.get(dir), dir);
    const other = runCli(['update', 'command/review', '--to', 'v2', '--collection', dir]);
    assert.equal(other.code, 0, other.stderr);
    await updateArtifacts(dir, ['skill/pdf'], { strategy: 'merge', to: 'v1' }, opts);
    const after = assertSameAsDisk(loaded.get(dir), dir);
    assert.notEqual(after.manifest, kept.manifest, 'parsed again from the other writer’s bytes');
    assert.match(fs.readFileSync(path.join(dir, 'commands/review.md'), 'utf8'), /Line C, upstream/);
    assert.equal(fs.existsSync(path.join(dir, 'skills/pdf/ref/new.md')), false);
  });
});
