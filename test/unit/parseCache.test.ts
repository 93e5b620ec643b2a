/**
 * The parse cache (issue 16): content-addressed entries, one per document; after a command commits a new
 * manifest and lock, the next command reads them back instead of parsing them again, and what it reads is
 * exactly what parsing the bytes on disk gives; the newest few entries are kept, and never one in use.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { collectionWrites, loadCollection, rememberWrittenDocs } from '../../src/core/model/collection.js';
import { KEEP, openParseCache, parseCacheEntry } from '../../src/core/model/parseCache.js';
import { parseToml, serializeToml, serializeTomlNoting } from '../../src/core/model/toml.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { copySharedFixture, runCli } from './support/collections.js';

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The cached tables of a file's bytes as they are now, or undefined. */
function cachedDoc(dir: string, file: string): unknown {
  const entry = parseCacheEntry(dir, sha256(fs.readFileSync(path.join(dir, file))));
  return fs.existsSync(entry)
    ? (JSON.parse(fs.readFileSync(entry, 'utf8')) as { doc: unknown }).doc
    : undefined;
}

function entries(dir: string): string[] {
  return fs.readdirSync(path.join(dir, '.artifact-keeper')).filter((name) => name.startsWith('parse-cache-'));
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

    for (const file of ['collection.toml', 'collection.lock']) {
      const bytes = fs.readFileSync(path.join(dir, file));
      const doc = cachedDoc(dir, file);
      assert.ok(doc, `${file}: the bytes on disk are in the cache`);
      assert.deepEqual(doc, JSON.parse(JSON.stringify(parseToml(bytes, file))), `${file}: a parse`);
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
    const cached = cachedDoc(dir, 'collection.toml') as Record<string, unknown> | undefined;
    assert.ok(cached);
    assert.equal(cached.edited_after, undefined);
    assert.deepEqual(
      cached,
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
    assert.deepEqual(entries(dir), []);
  });

  void it('never keeps a document JSON cannot give back exactly: a datetime, a big integer, nan; the next parse reads the bytes again', async () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    const texts = [
      'when = 2026-01-02T03:04:05Z\n',
      'local = 2026-01-02\n',
      'big = 9007199254740993\n',
      'odd = nan\n',
      '[t]\nlist = [1, 2026-01-02T03:04:05Z]\n',
    ];
    const first = openParseCache(dir);
    for (const text of texts) first.parse(text, 'collection.toml');
    // A plain document beside them is kept: the cache is working.
    first.parse('name = "plain"\n', 'collection.toml');
    await first.save(nodeFs);
    for (const text of texts)
      assert.equal(fs.existsSync(parseCacheEntry(dir, sha256(text))), false, `not kept: ${text}`);
    assert.equal(fs.existsSync(parseCacheEntry(dir, sha256('name = "plain"\n'))), true);
    // Remembered as written (the writer's own output), the same holds.
    const written = openParseCache(dir);
    written.remember('when = 2026-01-02T03:04:05.000Z\n', parseToml('when = 2026-01-02T03:04:05Z\n', 'x'));
    await written.save(nodeFs);
    assert.equal(fs.existsSync(parseCacheEntry(dir, sha256('when = 2026-01-02T03:04:05.000Z\n'))), false);
    // And a parse still gives the datetime, not a string.
    assert.ok(openParseCache(dir).parse(texts[0] as string, 'collection.toml').when instanceof Date);
  });

  void it('never keeps a document holding an integral float (JSON gives 1.0 back as 1); read twice, it still writes 1.0', async () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    const texts = [
      'ratio = 1.0\n',
      'zero = -0.0\n',
      'list = [\n    1,\n    2.0,\n]\n',
      'groups = [\n    { name = "g", weight = 2.0 },\n]\n',
      `[[artifacts]]\nname = "a"\ndescription = "${'d'.repeat(90)}"\n\n[artifacts.metadata.extra]\nrating = 4.0\n`,
    ];
    for (let round = 0; round < 2; round++) {
      const cache = openParseCache(dir);
      for (const text of texts) assert.equal(serializeToml(cache.parse(text, 'collection.toml')), text, text);
      // A non-integral float is kept: JSON and TOML agree on it.
      cache.parse('half = 0.5\n', 'collection.toml');
      await cache.save(nodeFs);
      for (const text of texts)
        assert.equal(fs.existsSync(parseCacheEntry(dir, sha256(text))), false, `not kept: ${text}`);
      assert.equal(fs.existsSync(parseCacheEntry(dir, sha256('half = 0.5\n'))), true);
    }
    // Remembered as written, with the writer's word and with the cache's own walk.
    const written = openParseCache(dir);
    for (const text of texts) {
      const doc = parseToml(text, 'x');
      const noted = serializeTomlNoting(doc);
      assert.equal(noted.jsonExact, false, text);
      written.remember(noted.text, doc, noted.jsonExact);
      written.remember(`# walked\n${noted.text}`, doc);
    }
    await written.save(nodeFs);
    for (const text of texts) {
      assert.equal(fs.existsSync(parseCacheEntry(dir, sha256(text))), false, `not remembered: ${text}`);
      assert.equal(
        fs.existsSync(parseCacheEntry(dir, sha256(`# walked\n${text}`))),
        false,
        `walked: ${text}`,
      );
    }
    assert.equal(
      serializeToml(openParseCache(dir).parse(texts[0] as string, 'collection.toml')),
      'ratio = 1.0\n',
    );
  });

  void it(`keeps the ${KEEP} newest entries and every entry this process read, and removes the one-file cache of earlier versions`, async () => {
    const dir = copySharedFixture();
    const state = path.join(dir, '.artifact-keeper');
    fs.mkdirSync(state, { recursive: true });
    fs.writeFileSync(path.join(state, 'parse-cache.json'), '{"version":1,"docs":{}}');
    const text = (n: number): string => `name = "version ${n}"\n`;
    // The oldest document, read back by a later command (as a restore's bytes are).
    const first = openParseCache(dir);
    first.parse(text(0), 'collection.toml');
    await first.save(nodeFs);
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(parseCacheEntry(dir, sha256(text(0))), old, old);
    const later = openParseCache(dir);
    assert.deepEqual(later.parse(text(0), 'collection.toml'), { name: 'version 0' });
    for (let n = 1; n <= KEEP + 3; n++) later.parse(text(n), 'collection.toml');
    await later.save(nodeFs);
    const kept = entries(dir).sort();
    assert.equal(kept.length, KEEP);
    assert.ok(kept.includes(path.basename(parseCacheEntry(dir, sha256(text(0))))), 'the entry in use stays');
    assert.equal(fs.existsSync(path.join(state, 'parse-cache.json')), false);
    // A read is a use for the pruning of later commands too. An update reads the documents a restore
    // puts back (B), writes its own (U); the restore reads U and writes nothing of B: B must still be
    // there for the next update, however many updates and restores alternate.
    const b = 'name = "restored"\n';
    const seed = openParseCache(dir);
    seed.parse(b, 'collection.toml');
    await seed.save(nodeFs);
    for (let round = 0; round < KEEP; round++) {
      const entryOfB = parseCacheEntry(dir, sha256(b));
      fs.utimesSync(entryOfB, old, old); // as if written long ago: only its reads keep it
      const update = openParseCache(dir);
      assert.deepEqual(update.parse(b, 'collection.toml'), { name: 'restored' }, `round ${round}`);
      update.remember(`name = "update ${round}"\n`, { name: `update ${round}` });
      await update.save(nodeFs);
      const restore = openParseCache(dir);
      restore.parse(`name = "update ${round}"\n`, 'collection.toml');
      restore.remember(`name = "restore log ${round}"\n`, { name: `restore log ${round}` });
      await restore.save(nodeFs);
      assert.ok(fs.existsSync(entryOfB), `round ${round}: the restored bytes' entry stays`);
    }
    // A corrupt entry is a miss, never an error: it is parsed again.
    fs.writeFileSync(parseCacheEntry(dir, sha256(text(KEEP + 3))), '{"torn');
    assert.deepEqual(openParseCache(dir).parse(text(KEEP + 3), 'collection.toml'), {
      name: `version ${KEEP + 3}`,
    });
  });
});
