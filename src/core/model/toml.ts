/**
 * TOML in and out. Parsing is @iarna/toml with errors turned into `toml-invalid` at file:line:column.
 * Serialising follows tomli_w (the writer SkillMeat uses) rule for rule, so a document SkillMeat wrote
 * comes back byte-identical and a document we write looks like one SkillMeat wrote.
 */
import * as path from 'node:path';
import { firstMarkerLine } from './gitMarkers.js';
import * as TOML from '@iarna/toml';
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
    doc = TOML.parse(text) as unknown as TomlTable;
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
 * or -0, no null or undefined values, no bigints), which the writer learns on its way: the parse cache
 * then keeps the table as JSON without walking it a second time.
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
    } else literals += `${formatKey(key)} = ${formatLiteral(value, 0)}\n`;
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

function formatLiteral(value: TomlValue, nestLevel: number): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'bigint') {
    jsonExact = false;
    return value.toString();
  }
  if (typeof value === 'number') {
    if (!isJsonNumber(value)) jsonExact = false;
    return formatNumber(value);
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

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

/** @iarna/toml marks local dates, times and date-times; its toISOString renders each in its own form. */
function formatDate(value: Date): string {
  return value.toISOString();
}

function formatInlineTable(table: TomlTable): string {
  const entries = Object.entries(table).filter(([, v]) => v !== undefined && v !== null);
  if (entries.length < Object.keys(table).length) jsonExact = false;
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${formatKey(k)} = ${formatLiteral(v, 0)}`).join(', ')} }`;
}

function formatInlineArray(items: TomlValue[], nestLevel: number): string {
  if (items.length === 0) return '[]';
  const itemIndent = ARRAY_INDENT.repeat(nestLevel + 1);
  const closingIndent = ARRAY_INDENT.repeat(nestLevel);
  return `[\n${items.map((item) => itemIndent + formatLiteral(item, nestLevel + 1)).join(',\n')},\n${closingIndent}]`;
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
