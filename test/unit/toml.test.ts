import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CoreError } from '../../src/core/base/errors.js';
import {
  MAX_DEPTH,
  parseToml,
  pythonFloatRepr,
  serializeToml,
  serializeTomlNoting,
} from '../../src/core/model/toml.js';
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

  it("reads integers beyond 64 bits exactly, as Python's tomllib does, and writes them back so", () => {
    const text = [
      'big = 99999999999999999999',
      'neg = -99999999999999999999',
      'max = 9223372036854775807',
      'over = 9223372036854775808',
      'under = -9223372036854775809',
      'hex = 0xFFFF_FFFF_FFFF_FFFF_FF',
      'oct = 0o7777777777777777777777',
      'bin = 0b11111111111111111111111111111111111111111111111111111111111111111',
      'list = [18446744073709551616, 1]',
      'inline = { id = 340282366920938463463374607431768211457 }',
      '',
    ].join('\n');
    const doc = parseToml(text, 'x.toml');
    const script =
      'import sys, tomllib, json\n' +
      'def ints(v):\n' +
      '    if isinstance(v, dict): return {k: ints(x) for k, x in v.items()}\n' +
      '    if isinstance(v, list): return [ints(x) for x in v]\n' +
      '    return str(v)\n' +
      'print(json.dumps(ints(tomllib.loads(sys.stdin.read()))))\n';
    const run = spawnSync('python3', ['-c', script], { input: text, encoding: 'utf8' });
    assert.equal(run.status, 0, `python3: ${String(run.error ?? run.stderr)}`);
    const asText = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(asText)
        : typeof value === 'object' && value !== null
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asText(v)]))
          : String(value);
    assert.deepEqual(asText(doc), JSON.parse(run.stdout));
    assert.equal(typeof doc.big, 'bigint');
    // Written back as tomli_w writes ints (in decimal), and read again to the same values.
    const written = serializeToml(doc);
    assert.match(written, /^big = 99999999999999999999$/m);
    assert.match(written, /^hex = 4722366482869645213695$/m);
    assert.deepEqual(parseToml(written, 'x.toml'), doc);
    // The parser's global was put back.
    assert.equal(BigInt.asIntN(64, 2n ** 64n), 0n);
  });
});

/** Python's `repr` of each double, from its IEEE bits (no decimal text crosses between the languages). */
function pythonReprs(values: number[]): string[] {
  const bits = Buffer.alloc(8);
  const input = values.map((value) => {
    bits.writeDoubleBE(value);
    return bits.toString('hex');
  });
  const script =
    'import struct, sys\n' +
    'for line in sys.stdin.read().split():\n' +
    '    print(repr(struct.unpack(">d", bytes.fromhex(line))[0]))\n';
  const run = spawnSync('python3', ['-c', script], { input: input.join('\n'), encoding: 'utf8' });
  assert.equal(run.status, 0, `python3: ${String(run.error ?? run.stderr)}`);
  const reprs = run.stdout.trim().split('\n');
  assert.equal(reprs.length, values.length);
  return reprs;
}

describe('floats (tomli_w writes str(float), Python repr)', () => {
  // Written by tomli_w from the data Python's tomllib reads from it (tomli_w.dumps(tomllib.loads(text))
  // is this text again): integral floats at the top, in tables, in arrays of tables, in inline tables
  // and inline arrays, beside integers and a big integer.
  const WRITTEN = `version = 1
ratio = 1.0
neg_zero = -0.0
big_float = 1e+16
tiny = 1e-05
huge = 1.5e+300
up = inf
down = -inf
odd = nan
half = 0.5
delta = -3
big = 9007199254740993
weights = [
    1.0,
    1,
    -3,
    -0.0,
    [
        2.0,
        3,
    ],
    1e+16,
    100.0,
]
groups = [
    { name = "g", weight = 2.0, pos = { x = 1.0, y = 2 } },
    { name = "h", weight = 2 },
]

[collection]
name = "c"
threshold = 3.0

[collection.limits]
low = 0.0
high = 100.0
count = 100

[[artifacts]]
name = "pdf-tools"
type = "skill"
path = "skills/pdf-tools"
origin = "github"
upstream = "https://github.com/example/skills/tree/main/pdf-tools"

[artifacts.metadata.extra]
rating = 4.0
count = 4
share = 0.25
at = 1e+22

[[artifacts]]
name = "x"
type = "agent"
path = "agents/x.md"
origin = "local"
score = 10.0
rank = 10
`;

  it('writes a document tomli_w wrote back byte-identical: integral floats stay floats, integers stay integers', () => {
    const doc = parseToml(WRITTEN, 'x.toml');
    const noted = serializeTomlNoting(doc);
    assert.equal(noted.text, WRITTEN);
    assert.equal(noted.jsonExact, false, 'JSON would give 1.0 back as 1');
    // Read twice, written twice: the same.
    assert.equal(serializeToml(parseToml(noted.text, 'x.toml')), WRITTEN);
  });

  it('writes floats read under dotted keys as tomli_w writes the tables they make', () => {
    const text =
      'point.x = 1.0\npoint.y = -0.0\nt = { a.b = 2.0, c = 3, d = [4.0, { e = 5.0 }] }\nl = [{ f.g = 6.0 }, [7.0]]\n\n[s]\nu.v.w = 1e16\n';
    // tomli_w.dumps(tomllib.loads(text)):
    assert.equal(
      serializeToml(parseToml(text, 'x.toml')),
      'l = [\n    { f = { g = 6.0 } },\n    [\n        7.0,\n    ],\n]\n\n[point]\nx = 1.0\ny = -0.0\n\n[t]\nc = 3\nd = [\n    4.0,\n    { e = 5.0 },\n]\n\n[t.a]\nb = 2.0\n\n[s.u.v]\nw = 1e+16\n',
    );
  });

  it('measures an inline table with its floats as written: 1.0 can push it past 100 characters', () => {
    const name = 'n'.repeat(75);
    const read = (w: string): string =>
      serializeToml(parseToml(`groups = [{ name = "${name}", w = ${w} }]\n`, 'x.toml'));
    assert.equal(read('1'), `groups = [\n    { name = "${name}", w = 1 },\n]\n`);
    assert.equal(read('1.0'), `[[groups]]\nname = "${name}"\nw = 1.0\n`);
  });

  it('writes a number that can only be a float as one, with or without a mark: -0, beyond 2^53, exponents', () => {
    assert.equal(
      serializeToml({ a: -0, b: 1e16, c: 2 ** 53 + 2, d: 1e-7, e: 1e21, f: 0.0001, g: 123.456, h: 3 }),
      'a = -0.0\nb = 1e+16\nc = 9007199254740994.0\nd = 1e-07\ne = 1e+21\nf = 0.0001\ng = 123.456\nh = 3\n',
    );
  });

  it('honours a mark only while the value is integral: a float replaced by 2.5 is written 2.5, the others stay 1.0', () => {
    const doc = parseToml('x = 1.0\ny = 1.0\nl = [\n    1.0,\n    1.0,\n]\n', 'x.toml');
    doc.x = 2.5;
    (doc.l as number[])[0] = 0.5;
    assert.deepEqual(serializeTomlNoting(doc), {
      text: 'x = 2.5\ny = 1.0\nl = [\n    0.5,\n    1.0,\n]\n',
      jsonExact: false,
    });
  });

  it('writes any double as Python repr does (2,000 random doubles against python3), and so does the writer unless it is a plain integer', () => {
    const seed = Date.now();
    const values = [
      ...[0, -0, 1, -1, 1e16, 1e15, 9999999999999998, 1e-4, 1e-5, 0.1, 1 / 3, 2 ** 53, 2 ** 63],
      ...[Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, Number.EPSILON, NaN, Infinity, -Infinity],
      ...fc.sample(fc.double(), { numRuns: 2_000, seed }),
    ];
    const reprs = pythonReprs(values);
    // The writer, for a number it has no mark for: Python's repr unless a plain integer.
    const writer = values.flatMap((value, i) => {
      const repr = reprs[i] as string;
      const expected = `x = ${Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : repr}\n`;
      const text = serializeToml({ x: value });
      return text === expected ? [] : [`${text.trim()} for ${repr}`];
    });
    assert.deepEqual(writer.slice(0, 10), [], `seed ${seed}`);
    const repr = values.flatMap((value, i) =>
      pythonFloatRepr(value) === reprs[i] ? [] : [`${pythonFloatRepr(value)} for ${reprs[i]}`],
    );
    assert.deepEqual(repr.slice(0, 10), [], `seed ${seed}`);
  });

  it('gives back byte-identical any array of floats as tomli_w writes it (python3 repr of 300 random lists)', () => {
    const seed = Date.now();
    const lists = fc.sample(fc.array(fc.double(), { minLength: 1, maxLength: 8 }), { numRuns: 300, seed });
    const reprs = pythonReprs(lists.flat());
    let at = 0;
    for (const list of lists) {
      const items = list.map(() => `    ${reprs[at++] as string},\n`).join('');
      const text = `first = ${reprs[at - list.length] as string}\nlist = [\n${items}]\n`;
      assert.equal(serializeToml(parseToml(text, 'x.toml')), text, `seed ${seed}`);
    }
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
