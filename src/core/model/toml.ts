/**
 * TOML in and out. Parsing is @iarna/toml with errors turned into `toml-invalid` at file:line:column.
 * Serialising follows tomli_w (the writer SkillMeat uses) rule for rule, so a document SkillMeat wrote
 * comes back byte-identical and a document we write looks like one SkillMeat wrote.
 */
import * as path from 'node:path';
import { firstMarkerLine } from './gitMarkers.js';
import { CoreError, firstLine } from '../base/errors.js';

export type TomlValue = string | number | bigint | boolean | Date | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and parses; `file` is only used to name the file in errors. */
export function parseToml(bytes: Uint8Array | string, file: string): TomlTable {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : utf8.decode(bytes);
  } catch {
    throw new CoreError({ code: 'toml-invalid', file, line: 1, column: 1, reason: 'not valid UTF-8' });
  }
  let doc: TomlTable;
  try {
    doc = parseNotingFloats(text);
  } catch (err) {
    const e = err as { line?: number; col?: number; message?: string; fromTOML?: boolean };
    if (err instanceof RangeError) {
      // A document nested thousands of levels deep overflows the parser's stack.
      throw new CoreError(
        { code: 'toml-invalid', file, line: 1, column: 1, reason: 'nested too deeply' },
        { cause: err },
      );
    }
    const marker = firstMarkerLine(text);
    if (marker !== undefined) {
      // A git merge left its markers here: say so, and name the way out.
      throw new CoreError(
        {
          code: 'toml-invalid',
          file,
          line: marker,
          column: 1,
          reason: `git conflict markers in ${path.basename(file)} line ${marker}: resolve them, or run \`artifact-keeper repair\``,
        },
        { cause: err },
      );
    }
    if (e.fromTOML) {
      const reason = firstLine(e.message ?? 'syntax error').replace(/ at row \d+, col \d+, pos \d+:?$/, '');
      throw new CoreError(
        { code: 'toml-invalid', file, line: (e.line ?? 0) + 1, column: (e.col ?? 0) + 1, reason },
        { cause: err },
      );
    }
    throw err;
  }
  const tooDeep = firstTooDeep(doc);
  if (tooDeep !== undefined) {
    throw new CoreError({
      code: 'toml-invalid',
      file,
      line: lineOfTopLevelKey(text, tooDeep) ?? 1,
      column: 1,
      reason: `nested more than ${MAX_DEPTH} levels deep`,
    });
  }
  return doc;
}

/** @iarna/toml's parser as far as `FloatNotingParser` uses it (`lib/toml-parser.js`, version 3). */
interface TomlParser {
  /** The table that `key = value` lines go into (the last header's). */
  ctx: TomlTable;
  /** The state of the value being parsed: the inline array or inline table built so far. */
  state: { resultArr: TomlValue[] | null; resultTable: TomlTable | null };
  parse(text: string): void;
  finish(): TomlTable;
  /** `key = value` in a table, dotted keys included; `value` is still boxed. */
  recordAssignStatement(kv: { key: string[]; value: unknown }): unknown;
  recordInlineListValue(value: unknown): unknown;
  recordInlineTableValue(kv: { key: string[]; value: unknown }): unknown;
}
// The parser class and the error formatting `TOML.parse` uses (`parse-string.js`): the package's own
// parse gives no way to subclass it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const TomlParserClass = require('@iarna/toml/lib/toml-parser.js') as new () => TomlParser;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const prettyError = require('@iarna/toml/parse-pretty-error.js') as (err: unknown, text: string) => unknown;

/**
 * The keys (table) or indexes (array) of each container that held an integral float in the TOML it was
 * parsed from (`x = 1.0`, `1e16`, `-0.0`): @iarna/toml gives every float as a plain number, so without
 * this the writer could not tell `1.0` from `1` and would write it back as an integer. Non-integral
 * floats need no mark: only a float can hold them. Keyed by the parsed objects themselves, so a mark lives
 * as long as its container and goes with it wherever the model moves it; a table copied to reorder its
 * keys takes its marks along (`copyFloatMarks`).
 *
 * A mark is honoured only while the value there is still an integral number. Our code never writes a
 * number into a table it parsed (the keys it sets hold strings, booleans and tables) nor edits an array
 * holding numbers, so a mark never outlives the float it was made for; code that did so would have to
 * drop the mark (`floatKeys.get(table)?.delete(key)`) or its integer would be written as a float.
 */
const floatKeys = new WeakMap<object, Set<string | number>>();

function noteFloat(container: object, key: string | number): void {
  let keys = floatKeys.get(container);
  if (keys === undefined) floatKeys.set(container, (keys = new Set()));
  keys.add(key);
}

/** Whether `container[key]`, an integral number, was read as a float (see `floatKeys`). */
function isRememberedFloat(container: object, key: string | number): boolean {
  return floatKeys.get(container)?.has(key) === true;
}

/**
 * Whether a table or array holds, directly, an integral number that was read as a float: JSON would give
 * it back as an integer, so the parse cache must not keep a document holding one.
 */
export function holdsRememberedFloat(container: object): boolean {
  const keys = floatKeys.get(container);
  if (keys === undefined) return false;
  for (const key of keys) {
    const value = (container as Record<string | number, unknown>)[key];
    if (typeof value === 'number' && Number.isInteger(value)) return true;
  }
  return false;
}

/** Gives `to`, a copy of the table `from` (its keys reordered), the float marks of `from`. */
export function copyFloatMarks(from: TomlTable, to: TomlTable): void {
  const keys = floatKeys.get(from);
  if (keys !== undefined) for (const key of keys) if (key in to) noteFloat(to, key);
}

/**
 * A float box of @iarna/toml whose value is integral: a `Number` object whose type tag (a module-private
 * symbol property) is the symbol described 'float' (an integer's is 'integer').
 */
function isIntegralFloatBox(value: unknown): boolean {
  if (!(value instanceof Number) || !Number.isInteger(value.valueOf())) return false;
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    const tag: unknown = (value as unknown as Record<symbol, unknown>)[symbol];
    if (typeof tag === 'symbol' && tag.description === 'float') return true;
  }
  return false;
}

/**
 * @iarna/toml's parser, noting where an integral float was (`floatKeys`). It unboxes numbers in the three
 * methods overridden here; an override does more than the parser's own method only for an integral float
 * (one `instanceof` test for any other value), so a document without one costs nothing more. The container
 * is found after the parser's own method ran (a dotted key creates its tables there), from the context or
 * state it ran in: that method may go on to finish the inline array or table and leave its state.
 */
class FloatNotingParser extends TomlParserClass {
  override recordAssignStatement(kv: { key: string[]; value: unknown }): unknown {
    if (!isIntegralFloatBox(kv.value)) return super.recordAssignStatement(kv);
    const keys = [...kv.key];
    const ctx = this.ctx;
    const next = super.recordAssignStatement(kv);
    noteFloat(tableAt(ctx, keys), keys[keys.length - 1] as string);
    return next;
  }

  override recordInlineListValue(value: unknown): unknown {
    if (!isIntegralFloatBox(value)) return super.recordInlineListValue(value);
    const state = this.state;
    const next = super.recordInlineListValue(value);
    const list = state.resultArr as TomlValue[];
    noteFloat(list, list.length - 1);
    return next;
  }

  override recordInlineTableValue(kv: { key: string[]; value: unknown }): unknown {
    if (!isIntegralFloatBox(kv.value)) return super.recordInlineTableValue(kv);
    const keys = [...kv.key];
    const state = this.state;
    const next = super.recordInlineTableValue(kv);
    noteFloat(tableAt(state.resultTable as TomlTable, keys), keys[keys.length - 1] as string);
    return next;
  }
}

/** The table a dotted key's last part is in: `keys` but the last, walked from `table`. */
function tableAt(table: TomlTable, keys: string[]): TomlTable {
  let target = table;
  for (let i = 0; i < keys.length - 1; i++) target = target[keys[i] as string] as TomlTable;
  return target;
}

/**
 * `TOML.parse` (@iarna/toml's `parse-string.js`) with `FloatNotingParser`: the same errors and messages,
 * and integers beyond 64 bits kept exact (`exactBigInt`).
 */
function parseNotingFloats(text: string): TomlTable {
  const parser = new FloatNotingParser();
  const asIntN = BigInt.asIntN;
  BigInt.asIntN = exactBigInt;
  try {
    parser.parse(text);
    return parser.finish();
  } catch (err) {
    throw prettyError(err, text);
  } finally {
    BigInt.asIntN = asIntN;
  }
}

/**
 * What @iarna/toml's parser gets for `BigInt.asIntN` while it parses: the integer itself, not wrapped.
 * Its only call is where it boxes an integer that is not a safe one, and it cut that to 64 bits there:
 * `99999999999999999999` read as 7766279631452241919 and was written back so. Python's tomllib, which
 * SkillMeat reads with, keeps any integer exact, and so does this: the writer gives it back as it was.
 * Parsing is synchronous, so nothing else runs while the global is swapped.
 */
function exactBigInt(_bits: number, value: bigint | string): bigint {
  return BigInt(value);
}

/**
 * How deep arrays and tables may nest. @iarna/toml parses any depth without recursion, but everything
 * after it walks values recursively (the writer, the parse cache, JSON): 100,000 levels would overflow
 * the stack there. Real manifests and locks nest four or five levels.
 */
export const MAX_DEPTH = 64;

/** The top-level key under which a value nests deeper than MAX_DEPTH, walking without recursion. */
function firstTooDeep(doc: TomlTable): string | undefined {
  for (const [key, value] of Object.entries(doc)) {
    const stack: [unknown, number][] = [[value, 1]];
    for (let item = stack.pop(); item; item = stack.pop()) {
      const [node, depth] = item;
      if (typeof node !== 'object' || node === null || node instanceof Date) continue;
      if (depth > MAX_DEPTH) return key;
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
      }
    }
  }
  return undefined;
}

/**
 * The 1-based line where a top-level key is assigned (before the first table header) or where a table
 * header under it starts. Best effort: a line inside a multi-line string can look like either.
 */
function lineOfTopLevelKey(text: string, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const name = `(?:${escaped}|"${escaped}"|'${escaped}')`;
  const assignment = new RegExp(`^[ \\t]*${name}[ \\t]*[=.]`);
  const header = new RegExp(`^[ \\t]*\\[\\[?[ \\t]*${name}[ \\t]*[\\].]`);
  let inTable = false;
  let line = 1;
  for (let at = 0; ; line++) {
    const end = text.indexOf('\n', at);
    const current = text.slice(at, end < 0 ? text.length : end);
    if (header.test(current) || (!inTable && assignment.test(current))) return line;
    if (/^[ \t]*\[/.test(current)) inTable = true;
    if (end < 0) return undefined;
    at = end + 1;
  }
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const ARRAY_INDENT = '    ';
const MAX_LINE_LENGTH = 100;
const COMPACT_ESCAPES: Record<string, string> = {
  '\b': '\\b',
  '\n': '\\n',
  '\f': '\\f',
  '\r': '\\r',
  '"': '\\"',
  '\\': '\\\\',
};

export function serializeToml(table: TomlTable): string {
  return serializeTomlNoting(table).text;
}

/** Cleared while writing when a value JSON would not give back as it is (see `serializeTomlNoting`). */
let jsonExact = true;

/**
 * `serializeToml`, also saying whether JSON gives the table back exactly (no dates, no NaN, infinities
 * or -0, no null or undefined values, no bigints, no integral number read as a float: `1.0`), which the
 * writer learns on its way: the parse cache then keeps the table as JSON without walking it a second time.
 */
export function serializeTomlNoting(table: TomlTable): { text: string; jsonExact: boolean } {
  jsonExact = true;
  const text = writeTable(table, '', false);
  return { text, jsonExact };
}

export function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function isArrayOfTables(value: unknown): value is TomlTable[] {
  return Array.isArray(value) && value.length > 0 && value.every(isTable);
}

/**
 * One table and everything under it, as text. Strings are built by `+=` and joined once per table, not
 * pushed piece by piece: a 2,000-artifact manifest and lock took 95 ms the old way in a new process,
 * 34 ms this way (a rope per table flattens cheaply; one rope of the whole document did not).
 */
function writeTable(table: TomlTable, name: string, insideArrayOfTables: boolean): string {
  let literals = '';
  /** Sub-tables as flat triples: key, table, inside an array of tables. */
  let tables: (string | TomlTable | boolean)[] | undefined;
  for (const key of Object.keys(table)) {
    const value = table[key];
    if (value === undefined || value === null) {
      jsonExact = false;
      continue;
    }
    if (isTable(value)) (tables ??= []).push(key, value, false);
    else if (isArrayOfTables(value) && !value.every(isSuitableInlineTable)) {
      tables ??= [];
      for (const item of value) tables.push(key, item, true);
    } else literals += `${formatKey(key)} = ${formatLiteral(value, 0, table, key)}\n`;
  }
  let out = '';
  let yielded = false;
  if (insideArrayOfTables || (name && (literals !== '' || tables === undefined))) {
    yielded = true;
    out = insideArrayOfTables ? `[[${name}]]\n` : `[${name}]\n`;
  }
  if (literals !== '') {
    yielded = true;
    out += literals;
  }
  if (tables === undefined) return out;
  const parts = [out];
  for (let i = 0; i < tables.length; i += 3) {
    if (yielded) parts.push('\n');
    else yielded = true;
    const part = formatKey(tables[i] as string);
    parts.push(
      writeTable(tables[i + 1] as TomlTable, name ? `${name}.${part}` : part, tables[i + 2] as boolean),
    );
  }
  return parts.join('');
}

/** `value`, which is `container[key]`: a number's container and key tell whether it was read as a float. */
function formatLiteral(
  value: TomlValue,
  nestLevel: number,
  container: TomlTable | TomlValue[],
  key: string | number,
): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') {
    jsonExact = false;
    return value.toString();
  }
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      if (!isRememberedFloat(container, key)) return String(value);
      // Read as a float (`1.0`): JSON would give it back as an integer.
      jsonExact = false;
    } else if (!isJsonNumber(value)) jsonExact = false;
    return pythonFloatRepr(value);
  }
  if (value instanceof Date) {
    jsonExact = false;
    return formatDate(value);
  }
  if (typeof value === 'string') return formatString(value);
  if (Array.isArray(value)) return formatInlineArray(value, nestLevel);
  return formatInlineTable(value);
}

/**
 * Whether JSON keeps `value` as the number TOML reads back from its text: finite, not -0, and not an
 * integer beyond 2^53 (whose text reads back as a big integer).
 */
export function isJsonNumber(value: number): boolean {
  return (
    Number.isFinite(value) &&
    !Object.is(value, -0) &&
    !(Number.isInteger(value) && !Number.isSafeInteger(value))
  );
}

/**
 * A float as tomli_w writes it: Python's `repr` (`str`) of a float. The digits are the shortest that read
 * back as the same double, which JavaScript's `toExponential()` gives too; Python writes them in fixed
 * notation when the decimal exponent is from -4 to 15 (an integral value with `.0`), otherwise as
 * `d.ddde±XX` (at least two exponent digits). Every number the writer gets that is not a safe integer
 * is written so (an integral one beyond 2^53 or -0 can only have come from a float: TOML reads such an
 * integer as a bigint, and has no integer -0).
 */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  // `d.ddde±x` (`de±x` for one digit) without the sign.
  const exponential = Math.abs(value).toExponential();
  const e = exponential.indexOf('e');
  const digits = exponential.slice(0, e).replace('.', '');
  const exponent = Number(exponential.slice(e + 1));
  if (exponent < -4 || exponent >= 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const magnitude = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${magnitude}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = exponent + 1;
  if (digits.length <= whole) return `${sign}${digits}${'0'.repeat(whole - digits.length)}.0`;
  return `${sign}${digits.slice(0, whole)}.${digits.slice(whole)}`;
}

/** @iarna/toml marks local dates, times and date-times; its toISOString renders each in its own form. */
function formatDate(value: Date): string {
  return value.toISOString();
}

function formatInlineTable(table: TomlTable): string {
  const entries = Object.entries(table).filter(([, v]) => v !== undefined && v !== null);
  if (entries.length < Object.keys(table).length) jsonExact = false;
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${formatKey(k)} = ${formatLiteral(v, 0, table, k)}`).join(', ')} }`;
}

function formatInlineArray(items: TomlValue[], nestLevel: number): string {
  if (items.length === 0) return '[]';
  const itemIndent = ARRAY_INDENT.repeat(nestLevel + 1);
  const closingIndent = ARRAY_INDENT.repeat(nestLevel);
  const lines = items.map((item, i) => itemIndent + formatLiteral(item, nestLevel + 1, items, i));
  return `[\n${lines.join(',\n')},\n${closingIndent}]`;
}

function isSuitableInlineTable(table: TomlTable): boolean {
  const rendered = `${ARRAY_INDENT}${formatInlineTable(table)},`;
  // tomli_w measures in code points (Python len), not UTF-16 units.
  return [...rendered].length <= MAX_LINE_LENGTH && !rendered.includes('\n');
}

function formatKey(key: string): string {
  return BARE_KEY.test(key) ? key : formatString(key);
}

// Anything tomli_w escapes: quote, backslash, and control characters other than tab.
const NEEDS_ESCAPE = /["\\\u0000-\u0008\u000a-\u001f\u007f]/;

function formatString(text: string): string {
  // Most strings need no escape; writing them whole keeps a 2,000-artifact manifest fast.
  if (!NEEDS_ESCAPE.test(text)) return `"${text}"`;
  let result = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === '\\' || (code < 32 && char !== '\t') || code === 127) {
      result += COMPACT_ESCAPES[char] ?? `\\u${code.toString(16).padStart(4, '0')}`;
    } else result += char;
  }
  return `${result}"`;
}
