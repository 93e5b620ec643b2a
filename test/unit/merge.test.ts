/**
 * Tests for the three-way merge in src/core/merge/merge.ts: examples for line endings, markers and binary files,
 * and fast-check properties over texts from a tiny alphabet, so that edits collide often.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isBinary, mergeBytes, mergeKeepingBase, mergeText } from '../../src/core/merge/merge.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join('');
const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

void describe('mergeText examples', () => {
  void it('keeps non-overlapping edits from both sides', () => {
    const base = lines('a', 'b', 'c', 'd', 'e');
    const result = mergeText(base, lines('A', 'b', 'c', 'd', 'e'), lines('a', 'b', 'c', 'd', 'E'));
    assert.deepEqual(result, { text: lines('A', 'b', 'c', 'd', 'E'), conflicts: 0, clean: true });
  });

  void it('reports an overlapping edit as one conflict around only the conflicting lines', () => {
    const base = lines('one', 'two', 'three', 'four');
    const result = mergeText(
      base,
      lines('one', 'MINE', 'three', 'four'),
      lines('one', 'UPSTREAM', 'three', 'four'),
    );
    assert.equal(result.conflicts, 1);
    assert.equal(result.clean, false);
    assert.equal(
      result.text,
      lines(
        'one',
        '<<<<<<< mine',
        'MINE',
        '||||||| base',
        'two',
        '=======',
        'UPSTREAM',
        '>>>>>>> upstream',
        'three',
        'four',
      ),
    );
  });

  void it('uses the given labels after the markers', () => {
    const result = mergeText(lines('x'), lines('m'), lines('u'), {
      mine: 'local',
      base: 'v1.0',
      upstream: 'v1.1',
    });
    assert.equal(
      result.text,
      lines('<<<<<<< local', 'm', '||||||| v1.0', 'x', '=======', 'u', '>>>>>>> v1.1'),
    );
  });

  void it('keeps a CRLF file CRLF, markers included', () => {
    const crlf = (...ls: string[]): string => ls.map((l) => `${l}\r\n`).join('');
    const base = crlf('a', 'b', 'c', 'd', 'e');
    const clean = mergeText(base, crlf('A', 'b', 'c', 'd', 'e'), crlf('a', 'b', 'c', 'd', 'E'));
    assert.equal(clean.text, crlf('A', 'b', 'c', 'd', 'E'));

    const conflicted = mergeText(base, crlf('a', 'X', 'c', 'd', 'e'), crlf('a', 'Y', 'c', 'd', 'e'));
    assert.equal(
      conflicted.text,
      crlf('a', '<<<<<<< mine', 'X', '||||||| base', 'b', '=======', 'Y', '>>>>>>> upstream', 'c', 'd', 'e'),
    );
    assert.doesNotMatch(conflicted.text, /[^\r]\n/);
  });

  void it('does not normalise mixed line endings', () => {
    const base = 'a\r\nb\nc\r\nd\ne\n';
    const result = mergeText(base, 'A\r\nb\nc\r\nd\ne\n', 'a\r\nb\nc\r\nd\nE\r\n');
    assert.equal(result.text, 'A\r\nb\nc\r\nd\nE\r\n');
  });

  void it('preserves a missing final newline', () => {
    const result = mergeText('a\nb\nc\nd', 'A\nb\nc\nd', 'a\nb\nc\nD');
    assert.deepEqual(result, { text: 'A\nb\nc\nD', conflicts: 0, clean: true });
  });

  void it('ends a conflict side that lacks a final newline before the next marker', () => {
    const result = mergeText('a\nb', 'a\nX', 'a\nY');
    assert.equal(result.text, 'a\n<<<<<<< mine\nX\n||||||| base\nb\n=======\nY\n>>>>>>> upstream\n');
  });

  void it('takes the shared text when both sides made the same change', () => {
    const both = lines('a', 'B', 'c');
    assert.deepEqual(mergeText(lines('a', 'b', 'c'), both, both), { text: both, conflicts: 0, clean: true });
  });

  void it('takes the changed side when only one side changed', () => {
    const base = lines('a', 'b');
    assert.equal(mergeText(base, base, lines('a', 'B')).text, lines('a', 'B'));
    assert.equal(mergeText(base, lines('A', 'b'), base).text, lines('A', 'b'));
  });

  void it('merges an identical change inside otherwise separate edits without a conflict', () => {
    const base = lines('a', 'b', 'c', 'd', 'e', 'f', 'g');
    const mine = lines('A', 'b', 'c', 'D', 'e', 'f', 'g');
    const upstream = lines('a', 'b', 'c', 'D', 'e', 'f', 'G');
    assert.equal(mergeText(base, mine, upstream).text, lines('A', 'b', 'c', 'D', 'e', 'f', 'G'));
  });
});

void describe('mergeKeepingBase', () => {
  void it('takes both sides where they do not meet and the base lines where they conflict', () => {
    const base = lines('title', 'one', 'two', 'three', 'end');
    const mine = lines('TITLE', 'one', 'MINE', 'three', 'end');
    const upstream = lines('title', 'one', 'UPSTREAM', 'three', 'END');
    assert.equal(mergeText(base, mine, upstream).conflicts, 1);
    assert.equal(mergeKeepingBase(base, mine, upstream), lines('TITLE', 'one', 'two', 'three', 'END'));
  });

  void it('is the clean merge when nothing conflicts, and keeps each line its own ending', () => {
    const base = 'a\r\nb\nc\r\nd\ne\n';
    const mine = 'A\r\nb\nc\r\nd\ne\n';
    const upstream = 'a\r\nb\nc\r\nd\nE\r\n';
    assert.equal(mergeKeepingBase(base, mine, upstream), mergeText(base, mine, upstream).text);
    assert.equal(mergeKeepingBase(base, base, upstream), upstream);
    assert.equal(mergeKeepingBase(base, mine, base), mine);
  });

  void it('is the marked merge with every conflict block replaced by its base part', () => {
    fc.assert(
      fc.property(textArb, textArb, textArb, (base, mine, upstream) => {
        const marked = mergeText(base, mine, upstream, { mine: 'M', base: 'B', upstream: 'U' });
        // Markers start lines; a side without a final newline gets one inside the block, so compare
        // only where every side ends its lines.
        fc.pre([base, mine, upstream].every((t) => t === '' || t.endsWith('\n')));
        const expected = marked.text.replace(
          /^<{7} M\r?\n[\s\S]*?^\|{7} B\r?\n([\s\S]*?)^={7}\r?\n[\s\S]*?^>{7} U\r?\n/gm,
          '$1',
        );
        assert.equal(mergeKeepingBase(base, mine, upstream), expected);
      }),
      runs,
    );
  });
});

void describe('isBinary', () => {
  void it('is false for text, including UTF-8 and empty input', () => {
    assert.equal(isBinary(new Uint8Array(0)), false);
    assert.equal(isBinary(bytes('# Skill\n\nGrüße, ☃\n')), false);
  });

  void it('is true when a NUL byte appears in the first 8 KiB', () => {
    assert.equal(isBinary(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01])), true);
    const late = new Uint8Array(8192).fill(0x61);
    late[8191] = 0;
    assert.equal(isBinary(late), true);
  });

  void it('ignores a NUL byte after the first 8 KiB', () => {
    const data = new Uint8Array(9000).fill(0x61);
    data[8192] = 0;
    assert.equal(isBinary(data), false);
  });
});

void describe('mergeBytes', () => {
  const png = (n: number): Uint8Array => Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, n]);

  void it('text-merges text files', () => {
    const result = mergeBytes(
      bytes(lines('a', 'b', 'c')),
      bytes(lines('A', 'b', 'c')),
      bytes(lines('a', 'b', 'C')),
    );
    assert.equal(result.kind, 'merged');
    assert.ok(result.kind === 'merged');
    assert.equal(result.data.toString('utf8'), lines('A', 'b', 'C'));
    assert.equal(result.conflicts, 0);
  });

  void it('reports a binary file changed differently on both sides as binary-conflict', () => {
    assert.deepEqual(mergeBytes(png(1), png(2), png(3)), { kind: 'binary-conflict' });
    // One binary side is enough: a text file turned into a binary one is not text-merged either.
    assert.deepEqual(mergeBytes(bytes('a\n'), png(2), bytes('b\n')), { kind: 'binary-conflict' });
  });

  void it('resolves one-sided and identical binary changes', () => {
    assert.deepEqual(mergeBytes(png(1), png(1), png(2)), {
      kind: 'merged',
      data: Buffer.from(png(2)),
      conflicts: 0,
    });
    assert.deepEqual(mergeBytes(png(1), png(2), png(1)), {
      kind: 'merged',
      data: Buffer.from(png(2)),
      conflicts: 0,
    });
    assert.deepEqual(mergeBytes(png(1), png(3), png(3)), {
      kind: 'merged',
      data: Buffer.from(png(3)),
      conflicts: 0,
    });
  });

  void it('without a base takes identical additions', () => {
    const added = bytes(lines('same'));
    assert.deepEqual(mergeBytes(undefined, added, Buffer.from(added)), {
      kind: 'merged',
      data: added,
      conflicts: 0,
    });
    assert.deepEqual(mergeBytes(undefined, png(4), png(4)), {
      kind: 'merged',
      data: Buffer.from(png(4)),
      conflicts: 0,
    });
  });

  void it('without a base conflicts on the whole content of differing text additions', () => {
    const result = mergeBytes(undefined, bytes(lines('x', 'mine')), bytes(lines('x', 'theirs')));
    assert.ok(result.kind === 'merged');
    assert.equal(result.conflicts, 1);
    assert.equal(
      result.data.toString('utf8'),
      lines('<<<<<<< mine', 'x', 'mine', '||||||| base', '=======', 'x', 'theirs', '>>>>>>> upstream'),
    );
  });

  void it('without a base reports differing binary additions as binary-conflict', () => {
    assert.deepEqual(mergeBytes(undefined, png(5), png(6)), { kind: 'binary-conflict' });
  });

  void it('preserves bytes that are not valid UTF-8', () => {
    // 0xe9 is "é" in latin1 and an invalid lone byte in UTF-8; the UTF-8 line must come through unchanged too.
    const base = Buffer.from([0x61, 0x0a, 0xe9, 0x0a, 0x63, 0x0a]);
    const mine = Buffer.concat([bytes('A\n'), Buffer.from([0xe9, 0x0a, 0x63, 0x0a])]);
    const upstream = Buffer.concat([Buffer.from([0x61, 0x0a, 0xe9, 0x0a]), bytes('☃\n')]);
    const result = mergeBytes(base, mine, upstream);
    assert.ok(result.kind === 'merged');
    assert.deepEqual(result.data, Buffer.concat([bytes('A\n'), Buffer.from([0xe9, 0x0a]), bytes('☃\n')]));
  });
});

// Lines from a four-letter alphabet: short texts then share many lines, so diffs align ambiguously and
// edits on the two sides collide often. A text may use CRLF and may lack its final newline.
const lineArb = fc.constantFrom('a', 'b', 'c', 'd');
const textArb = fc
  .record({
    ls: fc.array(lineArb, { maxLength: 8 }),
    eol: fc.constantFrom('\n', '\r\n'),
    finalNewline: fc.boolean(),
  })
  .map(({ ls, eol, finalNewline }) => {
    const text = ls.map((l) => l + eol).join('');
    return finalNewline ? text : text.slice(0, text.length - eol.length);
  });
const runs = { numRuns: 300 };

interface Conflict {
  mine: string;
  base: string;
  upstream: string;
}

/** Splits a merge result into its conflict blocks; throws if the markers are malformed. */
function parseConflicts(text: string): Conflict[] {
  const conflicts: Conflict[] = [];
  let current: Conflict | undefined;
  let section: keyof Conflict = 'mine';
  for (const line of text.split(/(?<=\n)/)) {
    const body = line.replace(/\r?\n$/, '');
    if (body === '<<<<<<< mine') {
      assert.equal(current, undefined, 'nested <<<<<<<');
      current = { mine: '', base: '', upstream: '' };
      section = 'mine';
    } else if (body === '||||||| base') {
      assert.ok(current && section === 'mine', 'stray |||||||');
      section = 'base';
    } else if (body === '=======') {
      assert.ok(current && section === 'base', 'stray =======');
      section = 'upstream';
    } else if (body === '>>>>>>> upstream') {
      assert.ok(current && section === 'upstream', 'stray >>>>>>>');
      conflicts.push(current);
      current = undefined;
    } else if (current) {
      current[section] += line;
    }
  }
  assert.equal(current, undefined, 'unterminated conflict');
  return conflicts;
}

/** `part` is a run of whole lines of `text`, allowing the newline the merge adds to a last line without one. */
function isRunOf(part: string, text: string): boolean {
  if (part === '') return true;
  const lineStart = (i: number): boolean => i === 0 || text[i - 1] === '\n';
  const found = (p: string): boolean => {
    for (let i = text.indexOf(p); i !== -1; i = text.indexOf(p, i + 1)) {
      const end = i + p.length;
      if (lineStart(i) && (end === text.length || text[end - 1] === '\n')) return true;
    }
    return false;
  };
  return found(part) || found(part.replace(/\r?\n$/, ''));
}

void describe('mergeText properties', () => {
  void it('merge(base, base, theirs) = theirs', () => {
    fc.assert(
      fc.property(textArb, textArb, (base, theirs) => {
        assert.deepEqual(mergeText(base, base, theirs), { text: theirs, conflicts: 0, clean: true });
      }),
      runs,
    );
  });

  void it('merge(base, mine, base) = mine', () => {
    fc.assert(
      fc.property(textArb, textArb, (base, mine) => {
        assert.deepEqual(mergeText(base, mine, base), { text: mine, conflicts: 0, clean: true });
      }),
      runs,
    );
  });

  void it('merge(base, x, x) = x', () => {
    fc.assert(
      fc.property(textArb, textArb, (base, x) => {
        assert.deepEqual(mergeText(base, x, x), { text: x, conflicts: 0, clean: true });
      }),
      runs,
    );
  });

  void it('keeps both edits when they touch line ranges separated by an unchanged line', () => {
    // The separating line is unique in all three texts. With a separator from the alphabet, the diff may
    // legitimately align an edit next to the other one (base a,a,y; mine drops the first a; LCS reports the
    // second), and adjacent changes conflict, as in git. A unique line must be in every longest common
    // subsequence, so neither side's hunk can cross it.
    const block = fc.array(lineArb, { maxLength: 5 }).map((ls) => ls.map((l) => `${l}\n`));
    const edit = fc.record({ before: block, old: block, after: block, replacement: block });
    fc.assert(
      fc.property(edit, edit, (top, bottom) => {
        const join = (...parts: string[][]): string => parts.flat().join('');
        const sep = ['=separator=\n'];
        const base = join(top.before, top.old, top.after, sep, bottom.before, bottom.old, bottom.after);
        const mine = join(
          top.before,
          top.replacement,
          top.after,
          sep,
          bottom.before,
          bottom.old,
          bottom.after,
        );
        const upstream = join(
          top.before,
          top.old,
          top.after,
          sep,
          bottom.before,
          bottom.replacement,
          bottom.after,
        );
        const expected = join(
          top.before,
          top.replacement,
          top.after,
          sep,
          bottom.before,
          bottom.replacement,
          bottom.after,
        );
        assert.deepEqual(mergeText(base, mine, upstream), { text: expected, conflicts: 0, clean: true });
      }),
      runs,
    );
  });

  void it('puts both sides of every conflict between well-formed markers', () => {
    fc.assert(
      fc.property(textArb, textArb, textArb, (base, mine, upstream) => {
        const result = mergeText(base, mine, upstream);
        const conflicts = parseConflicts(result.text);
        assert.equal(result.conflicts, conflicts.length);
        assert.equal(result.clean, conflicts.length === 0);
        for (const c of conflicts) {
          // Sides that differ only in a missing final newline look alike once the marker's newline is added.
          const finalNewlineOnly = !mine.endsWith('\n') || !upstream.endsWith('\n');
          assert.ok(c.mine !== c.upstream || finalNewlineOnly, 'a false conflict was reported');
          assert.ok(isRunOf(c.mine, mine), `mine part ${JSON.stringify(c.mine)} not from mine`);
          assert.ok(isRunOf(c.base, base), `base part ${JSON.stringify(c.base)} not from base`);
          assert.ok(
            isRunOf(c.upstream, upstream),
            `upstream part ${JSON.stringify(c.upstream)} not from upstream`,
          );
        }
      }),
      runs,
    );
  });

  void it('is symmetric: swapping sides gives the same conflicts, and the same text when clean', () => {
    fc.assert(
      fc.property(textArb, textArb, textArb, (base, mine, upstream) => {
        const forward = mergeText(base, mine, upstream);
        const backward = mergeText(base, upstream, mine);
        assert.equal(forward.conflicts, backward.conflicts);
        if (forward.clean) assert.equal(forward.text, backward.text);
      }),
      runs,
    );
  });
});
