import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLockKey } from '../../src/core/model/artifact.js';
import { CoreError } from '../../src/core/base/errors.js';
import { deleteEntry, emptyLock, parseLock, serializeLock, setEntry } from '../../src/core/model/lock.js';

const HASH = 'ad7d0112840f142a778efc98d3fdf393a81e5f2a7f62385f8bb52259bca496b4';

function lockError(text: string): CoreError {
  try {
    parseLock(text, 'collection.lock');
  } catch (err) {
    assert.ok(err instanceof CoreError);
    return err;
  }
  assert.fail('expected the lock to be rejected');
}

describe('lock', () => {
  it('splits keys on the first "::"', () => {
    assert.deepEqual(parseLockKey('pdf::skill'), { name: 'pdf', type: 'skill' });
    assert.deepEqual(parseLockKey('a::b::skill'), { name: 'a', type: 'b::skill' });
    assert.equal(parseLockKey('nokey'), undefined);
  });

  it('reads a missing or empty lock as no entries', () => {
    assert.equal(parseLock(undefined).entries.size, 0);
    assert.equal(parseLock('').entries.size, 0);
    assert.equal(serializeLock(emptyLock()), '[lock]\nversion = "1.0.0"\n\n[lock.entries]\n');
  });

  it('refuses an unknown version instead of guessing', () => {
    const err = lockError('[lock]\nversion = "2.0.0"\n');
    assert.equal(err.failure.code, 'lock-version-unsupported');
    assert.match(err.message, /collection\.lock: unsupported lock version "2\.0\.0"/);
  });

  it('names the entry and its line when an entry is malformed', () => {
    const err = lockError(`[lock]\nversion = "1.0.0"\n\n[lock.entries."pdf::skill"]\nfetched = "x"\n`);
    assert.match(err.message, /^collection\.lock:4: artifact skill\/pdf: .*no content_hash/);
    assert.match(
      lockError(`[lock.entries."pdf::skill"]\ncontent_hash = "zz"\n`).message,
      /malformed content_hash/,
    );
    assert.match(lockError(`[lock.entries.pdf]\ncontent_hash = "${HASH}"\n`).message, /NAME::TYPE/);
  });

  it('keeps integral floats of unknown keys as floats when an entry is rebuilt, and in a lock without [lock]', () => {
    const lock = parseLock(
      `[lock]\nversion = "1.0.0"\n\n[lock.entries."pdf::skill"]\ncontent_hash = "${HASH}"\nfetched = "t0"\nweight = 2.0\n`,
    );
    setEntry(lock, { name: 'pdf', type: 'skill' }, { content_hash: HASH, fetched: 't1', upstream: 'u' });
    assert.equal(
      serializeLock(lock),
      `[lock]\nversion = "1.0.0"\n\n[lock.entries."pdf::skill"]\ncontent_hash = "${HASH}"\nfetched = "t1"\nupstream = "u"\nweight = 2.0\n`,
    );
    assert.equal(
      serializeLock(parseLock('ratio = 1.0\n')),
      'ratio = 1.0\n\n[lock]\nversion = "1.0.0"\n\n[lock.entries]\n',
    );
  });

  it('sets entries in SkillMeat key order, omitting nulls, keeping unknown keys', () => {
    const lock = parseLock(
      `[lock]\nversion = "1.0.0"\n\n[lock.entries."pdf::skill"]\ncontent_hash = "${HASH}"\nfetched = "t0"\nextra = "kept"\n`,
    );
    setEntry(
      lock,
      { name: 'pdf', type: 'skill' },
      { content_hash: HASH, fetched: 't1', upstream: 'u', resolved_sha: 's', resolved_version: undefined },
    );
    setEntry(lock, { name: 'new', type: 'command' }, { content_hash: HASH, fetched: 't2' });
    assert.equal(
      serializeLock(lock),
      `[lock]\nversion = "1.0.0"\n\n[lock.entries."pdf::skill"]\ncontent_hash = "${HASH}"\nfetched = "t1"\nupstream = "u"\nresolved_sha = "s"\nextra = "kept"\n\n[lock.entries."new::command"]\ncontent_hash = "${HASH}"\nfetched = "t2"\n`,
    );
    deleteEntry(lock, { name: 'new', type: 'command' });
    assert.equal(parseLock(serializeLock(lock)).entries.size, 1);
  });
});
