import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CoreError } from '../../src/core/base/errors.js';
import { MAX_DEPTH, parseToml, serializeToml, serializeTomlNoting } from '../../src/core/model/toml.js';
import type { TomlTable } from '../../src/core/model/toml.js';

function check(doc: TomlTable, expected: string): void {
  assert.equal(serializeToml(doc), expected);
  assert.deepEqual(parseToml(expected, 'x.toml'), JSON.parse(JSON.stringify(doc)));
}

function parseFailure(text: string | Uint8Array): CoreError {
  try {
    parseToml(text, 'bad.toml');
  } catch (err) {
    assert.ok(err instanceof CoreError);
    return err;
  }
  assert.fail('expected a parse error');
}

describe('serializeToml (tomli_w rules)', () => {
  it('writes literals before tables, one blank line before each header', () => {
    check(
      { table: { nested: {}, val3: 3 }, val2: 2, val1: 1 },
      'val2 = 2\nval1 = 1\n\n[table]\nval3 = 3\n\n[table.nested]\n',
    );
  });

  it('writes non-empty arrays one item per line with a trailing comma', () => {
    check({ tags: ['docs', 'pdf'], empty: [] }, 'tags = [\n    "docs",\n    "pdf",\n]\nempty = []\n');
    check({ nested: [[1, 2], []] }, 'nested = [\n    [\n        1,\n        2,\n    ],\n    [],\n]\n');
  });

  it('escapes like tomli_w: compact escapes, \\u for other control characters, tab and unicode raw', () => {
    assert.equal(
      serializeToml({ s: 'a"b\\c\nd\re\tf\u0001g\u007fé😀' }),
      's = "a\\"b\\\\c\\nd\\re\tf\\u0001g\\u007fé😀"\n',
    );
  });

  it('quotes keys that are not bare', () => {
    check(
      { lock: { entries: { 'pdf::skill': { content_hash: 'x' }, 'café::skill': { content_hash: 'y' } } } },
      '[lock.entries."pdf::skill"]\ncontent_hash = "x"\n\n[lock.entries."café::skill"]\ncontent_hash = "y"\n',
    );
  });

  it('writes arrays of tables as [[name]] unless every table fits inline in 100 characters', () => {
    check(
      { artifacts: [{ name: 'a', metadata: { title: 'A' } }] },
      'artifacts = [\n    { name = "a", metadata = { title = "A" } },\n]\n',
    );
    const artifact = {
      name: 'pdf-tools',
      type: 'skill',
      path: 'skills/pdf-tools',
      origin: 'local',
      added: '2026-01-02T10:00:00.000001',
    };
    check(
      { artifacts: [artifact] },
      `[[artifacts]]\n${Object.entries(artifact)
        .map(([k, v]) => `${k} = "${v}"\n`)
        .join('')}`,
    );
    check({ groups: [{ name: 'g', position: 1 }] }, 'groups = [\n    { name = "g", position = 1 },\n]\n');
    const long = 'x'.repeat(90);
    check({ groups: [{ name: long }] }, `[[groups]]\nname = "${long}"\n`);
  });

  it('writes any document of tables, arrays of tables and literals so that it reads back the same', () => {
    const key = fc.constantFrom('a', 'b', 'name', 'x y', 'café', 'a.b', 'pdf::skill', '');
    const literal = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.integer(),
      fc.boolean(),
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
      fc.array(fc.integer(), { maxLength: 3 }),
    );
    const { table } = fc.letrec<{ table: TomlTable; value: TomlTable[string] }>((tie) => ({
      table: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        literal,
        tie('table'),
        fc.array(tie('table'), { minLength: 1, maxLength: 3 }),
      ),
    }));
    fc.assert(
      fc.property(table, (doc) => {
        const text = serializeToml(doc);
        assert.deepEqual(parseToml(text, 'x.toml'), JSON.parse(JSON.stringify(doc)), text);
      }),
      { numRuns: 1_000 },
    );
  });

  it('says a document is JSON-exact as the parse cache judges it, and then its JSON is what the text reads back as', () => {
    const key = fc.constantFrom('a', 'b', 'name', 'x y', 'pdf::skill');
    const literal = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.date({ noInvalidDate: true }),
      fc.bigInt({ min: -10n, max: 10n }),
      // Values a model could hold that TOML has no room for (the writer leaves null and undefined out).
      fc.constantFrom(null, undefined, -0, Number.NaN, Number.POSITIVE_INFINITY) as fc.Arbitrary<
        TomlTable[string]
      >,
      fc.array(fc.oneof(fc.integer(), fc.double(), fc.date({ noInvalidDate: true })), { maxLength: 3 }),
    );
    const { table } = fc.letrec<{ table: TomlTable; value: TomlTable[string] }>((tie) => ({
      table: fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        literal,
        tie('table'),
        fc.array(tie('table'), { minLength: 1, maxLength: 3 }),
      ),
    }));
    /** The parse cache's own walk (isJsonExact): strings, booleans, plain numbers, tables and arrays. */
    const walkedExact = (value: unknown): boolean =>
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' &&
        Number.isFinite(value) &&
        !Object.is(value, -0) &&
        !(Number.isInteger(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER)) ||
      (typeof value === 'object' &&
        value !== null &&
        !(value instanceof Date) &&
        Object.values(value as object).every(walkedExact));
    let exact = 0;
    fc.assert(
      fc.property(table, (doc) => {
        const noted = serializeTomlNoting(doc);
        assert.equal(noted.text, serializeToml(doc));
        assert.equal(noted.jsonExact, walkedExact(doc), noted.text);
        if (!noted.jsonExact) return;
        exact++;
        // What the cache keeps (the document through JSON) is what the written text reads back as.
        assert.deepEqual(JSON.parse(JSON.stringify(doc)), parseToml(noted.text, 'x.toml'), noted.text);
      }),
      { numRuns: 1_000 },
    );
    assert.ok(exact > 50 && exact < 950, `both answers are tried (${exact} exact of 1,000)`);
  });

  it('keeps numbers, booleans and big integers', () => {
    check({ a: 1, b: 1.5, c: true, d: false }, 'a = 1\nb = 1.5\nc = true\nd = false\n');
    assert.equal(serializeToml({ big: 9007199254740993n }), 'big = 9007199254740993\n');
  });
});

describe('parseToml errors', () => {
  it('names file, line and column', () => {
    const err = parseFailure('a = 1\nb = \n');
    assert.deepEqual(
      { ...err.failure },
      {
        code: 'toml-invalid',
        file: 'bad.toml',
        line: 2,
        column: 5,
        reason: err.failure.code === 'toml-invalid' ? err.failure.reason : '',
      },
    );
    assert.match(err.message, /^bad\.toml:2:5: /);
  });

  it('rejects duplicate keys and redefined tables', () => {
    assert.match(parseFailure('a = 1\na = 2\n').message, /^bad\.toml:2:\d+: .*redefine/);
    assert.match(parseFailure('[x]\ny = 1\n[x]\nz = 2\n').message, /^bad\.toml:3:/);
  });

  it('rejects invalid UTF-8 and NUL bytes', () => {
    assert.match(
      parseFailure(Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22, 0x0a])).message,
      /not valid UTF-8/,
    );
    assert.match(parseFailure('a = "x\u0000y"\n').message, /^bad\.toml:1:/);
  });
});

describe('parseToml nesting limit', () => {
  const arrays = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  const inlineTables = (depth: number): string => `${'{ a = '.repeat(depth)}1${' }'.repeat(depth)}`;

  it(`reads ${MAX_DEPTH} levels, and writes them back`, () => {
    // The root table holds `deep`, which is level 1.
    for (const text of [`deep = ${arrays(MAX_DEPTH)}\n`, `deep = ${inlineTables(MAX_DEPTH)}\n`]) {
      const doc = parseToml(text, 'x.toml');
      assert.deepEqual(parseToml(serializeToml(doc), 'x.toml'), doc);
    }
  });

  it('refuses one level more, naming the line of the top-level key', () => {
    const err = parseFailure(`a = 1\n\n# deep below\ndeep = ${arrays(MAX_DEPTH + 1)}\n`);
    assert.equal(err.failure.code, 'toml-invalid');
    assert.equal(err.message, `bad.toml:4:1: nested more than ${MAX_DEPTH} levels deep`);
    assert.match(parseFailure(`[t]\nx = ${inlineTables(MAX_DEPTH)}\n`).message, /^bad\.toml:1:1: nested/);
  });

  it('finds the line of a table header, and of a quoted key', () => {
    const dotted = Array.from({ length: MAX_DEPTH + 1 }, (_, i) => `t${i}`).join('.');
    assert.match(parseFailure(`a = 1\n\n[${dotted}]\nx = 1\n`).message, /^bad\.toml:3:1: /);
    assert.match(parseFailure(`[b]\n[[t0.x]]\n[${dotted}]\n`).message, /^bad\.toml:2:1: /);
    assert.match(parseFailure(`a = 1\n"deep" = ${arrays(MAX_DEPTH + 1)}\n`).message, /^bad\.toml:2:1: /);
    // A key of the same name inside a table is not the top-level one.
    assert.match(
      parseFailure(`deep = ${arrays(MAX_DEPTH + 1)}\n[t]\ndeep = 1\n`).message,
      /^bad\.toml:1:1: /,
    );
  });

  it('refuses 100,000 levels of arrays or inline tables as a data error, not a stack overflow', () => {
    for (const text of [
      `deep = ${arrays(100_000)}\n`,
      `deep = ${'{a='.repeat(100_000)}1${'}'.repeat(100_000)}\n`,
    ]) {
      const err = parseFailure(text);
      assert.equal(err.failure.code, 'toml-invalid');
      assert.match(err.message, /^bad\.toml:1:1: nested (more than \d+ levels|too) deep/);
    }
  });
});
