import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { nameBytes } from '../../src/core/base/fileNames.js';
import { contentHash, skillMeatHash } from '../../src/core/model/hash.js';
import { comparePaths, walkSync } from '../../src/core/ports/walk.js';
import { SHARED_FIXTURES, tempDir, writeTree } from './support/collections.js';
import { pythonHash } from './support/pythonHash.js';

/**
 * The same algorithm with the one change a name that is not UTF-8 needs: its raw bytes (`os.fsencode`)
 * where SkillMeat's `str.encode('utf-8')` raises. Python lists and sorts such names as surrogateescape
 * strings, which is the order we must equal too. `target` goes as bytes so the root may be raw as well.
 */
function pythonRawHash(target: string): string {
  const script = `
import hashlib, os, sys
from pathlib import Path
p = Path(os.fsdecode(bytes.fromhex(sys.argv[1])))
h = hashlib.sha256()
for f in sorted(p.rglob("*")):
    if f.is_file():
        h.update(os.fsencode(str(f.relative_to(p))))
        h.update(f.read_bytes())
print(h.hexdigest())
`;
  const result = spawnSync('python3', ['-c', script, nameBytes(target).toString('hex')], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

/** Creates `rel` (POSIX, below `root`) from raw bytes: `\xNN` in a name stands for the byte NN. */
function writeRaw(root: string, rel: string, content: string | null): void {
  const bytes = (text: string): Buffer =>
    Buffer.concat(
      text
        .split(/(\\x[0-9a-f]{2})/)
        .map((part) =>
          /^\\x[0-9a-f]{2}$/.test(part) ? Buffer.of(parseInt(part.slice(2), 16)) : Buffer.from(part),
        ),
    );
  const abs = bytes(path.join(root, rel));
  if (content === null) fs.mkdirSync(abs, { recursive: true });
  else {
    fs.mkdirSync(bytes(path.dirname(path.join(root, rel))), { recursive: true });
    fs.writeFileSync(abs, content);
  }
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
    assert.equal(skillMeatHash(dir), pythonHash(dir));
    const withoutEmpty = skillMeatHash(dir);
    fs.mkdirSync(path.join(dir, 'another-empty'));
    assert.equal(skillMeatHash(dir), withoutEmpty, 'empty folders do not count');
    // The hash we lock is the same algorithm without the noise file.
    const withNoise = contentHash(dir);
    fs.rmSync(path.join(dir, '.DS_Store'));
    assert.equal(withNoise, pythonHash(dir));
    assert.equal(contentHash(dir), withNoise);
  });

  it('leaves noise out of the hash we lock: any path component, never a substring', () => {
    const dir = tempDir();
    const content = {
      'SKILL.md': '---\nname: x\n---\n',
      'my.git.md': 'not noise',
      'a~b': 'not noise',
      'x.swp.md': 'not noise',
      'ref/__pycache__.md': 'not noise',
    };
    writeTree(dir, content);
    const clean = contentHash(dir);
    assert.equal(clean, pythonHash(dir), "with no noise, the hash is SkillMeat's");
    writeTree(dir, {
      '.DS_Store': 'mac',
      'ref/Thumbs.db': 'windows',
      '.SKILL.md.swp': 'vim',
      'ref/.x.swo': 'vim again',
      'notes~': 'emacs',
      '__pycache__/a.pyc': 'python',
      'ref/deep/__pycache__/b.pyc': 'python',
      '.git/config': '[core]\n',
      'vendor/.git': 'gitdir: ../elsewhere\n',
    });
    assert.equal(contentHash(dir), clean);
    assert.notEqual(skillMeatHash(dir), clean, 'SkillMeat hashes the noise too');
    assert.equal(skillMeatHash(dir), pythonHash(dir));
    // A single-file artifact is its bytes whatever its name.
    assert.equal(contentHash(path.join(dir, 'notes~')), createHash('sha256').update('emacs').digest('hex'));
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

  it('hashes awkward UTF-8 names (newline, tab, CR, backslash, leading dash, quotes) exactly as SkillMeat', () => {
    const dir = tempDir();
    writeTree(dir, {
      'SKILL.md': 'x\n',
      'new\nline.md': 'n',
      'tab\there.md': 't',
      'carriage\rreturn.md': 'r',
      'trailing-cr\r': 'c',
      'back\\slash.md': 'b',
      '-leading-dash.md': 'd',
      '--.md': 'dd',
      '"quoted" \'name\'.md': 'q',
      'sub dir/\\/x.md': 'deep',
    });
    const rels = walkSync(dir).files.map((f) => f.rel);
    assert.ok(rels.includes('new\nline.md') && rels.includes('sub dir/\\/x.md'), rels.join(' | '));
    assert.equal(contentHash(dir), pythonHash(dir));
  });

  it('hashes names that are not UTF-8 as their raw bytes, in Python order (SkillMeat itself cannot)', () => {
    const dir = tempDir();
    for (const [rel, content] of [
      ['SKILL.md', 'skill\n'],
      ['bad\\xff\\xfe.md', 'raw name\n'],
      ['bad\ufffd\ufffd.md', 'a real U+FFFD, which must not collide with the raw name\n'],
      ['z\\xed\\xb3\\xbf', 'the bytes of an encoded surrogate'],
      ['z\ue000', 'sorts after the escaped bytes in Python'],
      ['z\ud7ff', 'sorts before them'],
      ['raw\\x80dir/inside.md', 'in a folder that is not UTF-8'],
      ['raw\\x80dir/more\\xc0.md', 'both'],
    ] as const)
      writeRaw(dir, rel, content);
    const rels = walkSync(dir).files.map((f) => f.rel);
    assert.ok(rels.includes('bad\uDCFF\uDCFE.md') && rels.includes('bad\uFFFD\uFFFD.md'), rels.join(' | '));
    assert.equal(contentHash(dir), pythonRawHash(dir));
    // SkillMeat's own algorithm fails on such a folder, so no SkillMeat lock can record it.
    const skillmeat = spawnSync(
      'python3',
      [
        '-c',
        `
import sys
from pathlib import Path
p = Path(sys.argv[1])
for f in sorted(p.rglob("*")):
    if f.is_file(): str(f.relative_to(p)).encode("utf-8")
`,
        dir,
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(skillmeat.status, 0);
    assert.match(skillmeat.stderr, /UnicodeEncodeError/);
    // A root that is not UTF-8 itself (an artifact folder with such a name) is walked and hashed too.
    writeRaw(dir, 'nested\\xfe/SKILL.md', 'inner\n');
    const inner = path.join(dir, 'nested\uDCFE');
    assert.equal(contentHash(inner), pythonRawHash(inner));
  });
});
