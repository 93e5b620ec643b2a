/**
 * The lossless string form of file names (src/core/base/fileNames.ts), checked against Python itself: decoding
 * equals `bytes.decode('utf-8', 'surrogateescape')`, encoding gives the bytes back, and the order of
 * comparePaths equals Python's `sorted()` of the decoded strings. Real folders for the listing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  codePointBytes,
  decodeName,
  isRawName,
  nameBytes,
  readDirSync,
  showName,
} from '../../src/core/base/fileNames.js';
import { comparePaths } from '../../src/core/ports/walk.js';
import { tempDir } from './support/collections.js';
import { rng } from './support/synthetic.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

function python(script: string, input: string): string {
  const result = spawnSync('python3', ['-c', script], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** Byte strings that probe every edge of strict UTF-8, plus random mixes of valid and invalid bytes. */
function samples(): Buffer[] {
  const edges = [
    [0xff, 0xfe],
    [0x80],
    [0xc0, 0xaf],
    [0xc1, 0xbf],
    [0xc2, 0x80],
    [0xdf, 0xbf],
    [0xe0, 0x80, 0x80],
    [0xe0, 0xa0, 0x80],
    [0xed, 0x9f, 0xbf],
    [0xed, 0xa0, 0x80],
    [0xed, 0xb3, 0xbf],
    [0xef, 0xbf, 0xbd],
    [0xf0, 0x8f, 0xbf, 0xbf],
    [0xf0, 0x90, 0x80, 0x80],
    [0xf4, 0x8f, 0xbf, 0xbf],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0xe2, 0x82],
    [0xe2, 0x82, 0x41],
    [0xf0, 0x9f, 0x98],
    [0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62],
  ].map((bytes) => Buffer.from(bytes));
  const random = rng(6);
  const pieces = [
    (): Buffer => Buffer.from('name-'),
    (): Buffer => Buffer.from(String.fromCodePoint(0x80 + Math.floor(random() * 0x700))),
    (): Buffer => Buffer.from(String.fromCodePoint(0xe000 + Math.floor(random() * 0x1000))),
    (): Buffer => Buffer.from(String.fromCodePoint(0x10000 + Math.floor(random() * 0xfffff))),
    (): Buffer => Buffer.of(0x80 + Math.floor(random() * 0x80)),
    // A lead byte and any second byte but '/' and NUL (which no name holds).
    (): Buffer => Buffer.of(0xc0 + Math.floor(random() * 0x40), 0x30 + Math.floor(random() * 0xd0)),
  ];
  const mixes = Array.from({ length: 400 }, () =>
    Buffer.concat(
      Array.from({ length: 1 + Math.floor(random() * 6) }, () => {
        const piece = pieces[Math.floor(random() * pieces.length)] as () => Buffer;
        return piece();
      }),
    ),
  );
  return [...edges, ...mixes];
}

void describe('file names that are not UTF-8', () => {
  void it("decode like Python's surrogateescape and encode back to the same bytes", () => {
    const all = samples();
    const decodedByPython = JSON.parse(
      python(
        'import json, sys\nprint(json.dumps([bytes.fromhex(h).decode("utf-8", "surrogateescape") for h in sys.stdin.read().split()]))',
        all.map((b) => b.toString('hex')).join('\n'),
      ),
    ) as string[];
    all.forEach((bytes, i) => {
      const decoded = decodeName(bytes);
      assert.equal(decoded, decodedByPython[i], `decode of ${bytes.toString('hex')}`);
      assert.ok(nameBytes(decoded).equals(bytes), `round trip of ${bytes.toString('hex')}`);
      const valid = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
      assert.equal(isRawName(decoded), !valid, `raw or not: ${bytes.toString('hex')}`);
    });
    // Decoding a slice reads only that slice.
    assert.equal(decodeName(Buffer.from('xx\xffyy', 'latin1'), 2, 3), '\uDCFF');
    assert.equal(decodeName(Buffer.from('a\uFFFDb')), 'a\uFFFDb', 'a real U+FFFD is kept');
  });

  void it("sort like Python's sorted() of the decoded paths, component by component", () => {
    const names = samples()
      .slice(0, 120)
      .map((b) => decodeName(b));
    const paths = [
      ...names,
      ...names.slice(0, 30).map((n) => `${n}/x`),
      'a/b',
      'a-c',
      'a\uDCFF',
      'a\uE000',
      'a\uD7FF',
      'a\u{1F600}',
      'a\uFFFD',
    ];
    const sortedByPython = JSON.parse(
      python(
        'import json, sys\nfrom pathlib import PurePosixPath as P\nprint(json.dumps([str(p) for p in sorted(P(s) for s in json.loads(sys.stdin.read()))]))',
        JSON.stringify(paths),
      ),
    ) as string[];
    // PurePosixPath drops nothing from these (no empty or '.' components), so the strings compare directly.
    assert.deepEqual([...paths].sort(comparePaths), sortedByPython);
    assert.ok(codePointBytes('\uDCFF').equals(Buffer.from([0xed, 0xb3, 0xbf])));
  });

  void it('are listed losslessly from a real folder, next to a real U+FFFD and plain names', () => {
    const dir = tempDir();
    const raw = Buffer.concat([
      Buffer.from(dir),
      Buffer.from('/bad'),
      Buffer.of(0xff, 0xfe),
      Buffer.from('.md'),
    ]);
    fs.writeFileSync(raw, 'raw\n');
    fs.writeFileSync(path.join(dir, 'bad\uFFFD\uFFFD.md'), 'replacement characters\n');
    fs.mkdirSync(Buffer.concat([Buffer.from(dir), Buffer.from('/dir'), Buffer.of(0x80)]));
    fs.writeFileSync(path.join(dir, 'plain.md'), 'plain\n');
    const entries = readDirSync(dir);
    const names = entries.map((e) => e.name).sort();
    assert.deepEqual(names, ['bad\uDCFF\uDCFE.md', 'bad\uFFFD\uFFFD.md', 'dir\uDC80', 'plain.md']);
    assert.ok(entries.find((e) => e.name === 'dir\uDC80')?.isDirectory());
    assert.ok(entries.find((e) => e.name === 'bad\uDCFF\uDCFE.md')?.isFile());
    assert.equal(fs.readFileSync(nameBytes(path.join(dir, 'bad\uDCFF\uDCFE.md')), 'utf8'), 'raw\n');
    assert.equal(readDirSync(path.join(dir, 'dir\uDC80')).length, 0, 'a raw folder can be listed');
    assert.equal(showName('skills/bad\uDCFF\uDCFE.md'), 'skills/bad\\xff\\xfe.md');
    assert.equal(showName('café'), 'café');
  });
});
