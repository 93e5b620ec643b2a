/**
 * The parse cache learns what our own transactions write (issue 16): after a command commits a new
 * manifest and lock, the next command reads them back from the cache instead of parsing them again,
 * and what it reads is exactly what parsing the bytes on disk gives.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { collectionWrites, loadCollection, rememberWrittenDocs } from '../../src/core/model/collection.js';
import { parseToml } from '../../src/core/model/toml.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { copySharedFixture, runCli } from './support/collections.js';

const CACHE = '.artifact-keeper/parse-cache.json';

interface CacheFile {
  docs: Record<string, { hash: string; doc: unknown }>;
}

function readCache(dir: string): CacheFile {
  return JSON.parse(fs.readFileSync(path.join(dir, CACHE), 'utf8')) as CacheFile;
}

/** The parse-cache counts a CLI run's trace printed (`count parse cache hit collection.lock 1`). */
function parseCounts(stderr: string): string[] {
  return [...stderr.matchAll(/count (parse cache (?:hit|miss) \S+) \d+/g)].map((m) => m[1] as string).sort();
}

void describe('the parse cache after our own writes', () => {
  void it('after a relock commits, the next command hits for both files, and the cached tables equal a parse of the bytes on disk', () => {
    const dir = copySharedFixture();
    fs.appendFileSync(path.join(dir, 'agents/planner.md'), '\nan edit to accept\n');
    const relock = runCli(['relock', 'agent/planner', '--collection', dir]);
    assert.equal(relock.code, 0, relock.stderr);

    const cache = readCache(dir);
    for (const file of ['collection.toml', 'collection.lock']) {
      const bytes = fs.readFileSync(path.join(dir, file));
      const entry = cache.docs[file];
      assert.ok(entry, `${file} is in the cache`);
      assert.equal(
        entry.hash,
        createHash('sha256').update(bytes).digest('hex'),
        `${file}: the bytes on disk`,
      );
      assert.deepEqual(entry.doc, JSON.parse(JSON.stringify(parseToml(bytes, file))), `${file}: a parse`);
    }
    // The relock's own entry is in the cached lock: it is the new lock, not the one read before.
    assert.match(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), /planner/);

    const status = runCli(['status', '--collection', dir], { env: { ARTIFACT_KEEPER_TRACE: '1' } });
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(parseCounts(status.stderr), [
      'parse cache hit collection.lock',
      'parse cache hit collection.toml',
    ]);
  });

  void it('keeps a copy: editing the model after the commit does not change what the cache says', async () => {
    const dir = copySharedFixture();
    const collection = loadCollection(dir);
    const changes = collectionWrites(collection, '2026-12-05T10:00:00');
    for (const change of changes) {
      if (change.kind === 'write' && Buffer.isBuffer(change.data))
        fs.writeFileSync(path.join(dir, change.rel), change.data);
    }
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    await rememberWrittenDocs(dir, changes, nodeFs);
    collection.manifest.raw.edited_after = 'yes';
    const cached = readCache(dir).docs['collection.toml'];
    assert.ok(cached);
    assert.equal((cached.doc as Record<string, unknown>).edited_after, undefined);
    assert.deepEqual(
      cached.doc,
      JSON.parse(JSON.stringify(parseToml(fs.readFileSync(path.join(dir, 'collection.toml')), 'x'))),
    );
  });

  void it('ignores changes it did not serialise, another collection’s, and a project’s', async () => {
    const dir = copySharedFixture();
    const other = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    const changes = collectionWrites(loadCollection(other), '2026-12-05T10:00:00');
    await rememberWrittenDocs(dir, changes, nodeFs);
    await rememberWrittenDocs(
      dir,
      [
        { kind: 'write', rel: 'collection.toml', data: Buffer.from('name = "x"\n'), mode: 0o644 },
        ...changes.map((change) => ({ ...change, root: other })),
      ],
      nodeFs,
    );
    assert.equal(fs.existsSync(path.join(dir, CACHE)), false);
  });
});
