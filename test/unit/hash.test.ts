import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { contentHash } from '../../src/core/hash.js';
import { comparePaths, walkSync } from '../../src/core/walk.js';
import { SHARED_FIXTURES, tempDir, writeTree } from './support/collections.js';

/** SkillMeat's own algorithm (format doc §2.1), run by Python itself: the reference we must equal. */
function pythonHash(target: string): string {
  const script = `
import hashlib, sys
from pathlib import Path
p = Path(sys.argv[1])
h = hashlib.sha256()
if p.is_file():
    h.update(p.read_bytes())
else:
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(p)).encode("utf-8"))
            h.update(f.read_bytes())
print(h.hexdigest())
`;
  const result = spawnSync('python3', ['-c', script, target], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

describe('content hash', () => {
  it('reproduces the test vector of the format doc', () => {
    const dir = tempDir();
    writeTree(dir, { 'SKILL.md': 'hello\n', 'ref/a.md': 'A\n' });
    assert.equal(contentHash(dir), '4b8f6fc6c43abfcc0fc2ee7319fb5c9c2627a8f86ff1021d40564f77b7c6057b');
  });

  it('orders path components like Python: a/b before a-c', () => {
    const dir = tempDir();
    writeTree(dir, { 'a/b': '1', 'a-c': '2', 'a.d': '3', a0: '4' });
    assert.deepEqual(
      walkSync(dir).files.map((f) => f.rel),
      ['a/b', 'a-c', 'a.d', 'a0'],
    );
    const expected = createHash('sha256').update('a/b1a-c2a.d3a04').digest('hex');
    assert.equal(contentHash(dir), expected);
    assert.equal(contentHash(dir), pythonHash(dir));
  });

  it('orders by code point, not UTF-16 unit (astral vs U+FFFD)', () => {
    assert.ok(comparePaths('z\uFFFD', 'z\u{1F600}') < 0);
    assert.ok(comparePaths('Z', 'a') < 0);
    const dir = tempDir();
    writeTree(dir, { 'z\uFFFD.md': 'x', 'z\u{1F600}.md': 'y', 'é/ü.md': 'z', 'E.md': 'w' });
    assert.equal(contentHash(dir), pythonHash(dir));
  });

  it('equals Python on the SkillMeat fixture, deep nesting, hidden files, empty folders', () => {
    for (const name of ['pdf-tools', 'café-notes']) {
      const dir = path.join(SHARED_FIXTURES, 'skillmeat-written/skills', name);
      assert.equal(contentHash(dir), pythonHash(dir));
    }
    const dir = tempDir();
    writeTree(dir, {
      'SKILL.md': '---\nname: x\n---\n',
      '.hidden': 'h',
      '.DS_Store': 'noise',
      'empty/': null,
      'a/b/c/d/e/f/g.md': 'deep',
      'a/b/c/d/e/f.md': 'less deep',
    });
    assert.equal(contentHash(dir), pythonHash(dir));
    const withoutEmpty = contentHash(dir);
    fs.mkdirSync(path.join(dir, 'another-empty'));
    assert.equal(contentHash(dir), withoutEmpty, 'empty folders do not count');
  });

  it('hashes a single-file artifact as its bytes, and links like Python (file links followed, folder links not)', () => {
    const dir = tempDir();
    writeTree(dir, { 'review.md': '# review\n', 'skill/SKILL.md': 'x', 'outside/secret.md': 's' });
    assert.equal(
      contentHash(path.join(dir, 'review.md')),
      createHash('sha256').update('# review\n').digest('hex'),
    );
    fs.symlinkSync('../review.md', path.join(dir, 'skill/linked.md'));
    fs.symlinkSync('../outside', path.join(dir, 'skill/linkdir'));
    fs.symlinkSync('missing', path.join(dir, 'skill/dangling'));
    assert.equal(contentHash(path.join(dir, 'skill')), pythonHash(path.join(dir, 'skill')));
  });

  it('streams large files (bigger than the 1 MiB chunk) to the same digest', () => {
    const dir = tempDir();
    const big = Buffer.alloc(5 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    writeTree(dir, { 'SKILL.md': 'x', 'data.bin': big });
    assert.equal(contentHash(dir), pythonHash(dir));
  });
});
