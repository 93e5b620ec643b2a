/**
 * Three-way merge of one file for the `merge` strategy (DESIGN §5 step 6): a line-level text merge with
 * git-style diff3 conflict markers, and the byte-level entry point that decides when a file is binary and
 * must not be text-merged. Pure: data in, data out; conflicts are counted in the result, never thrown.
 */

// node-diff3 is an ESM package ("type": "module") whose `types` export condition points at an ESM .d.ts, so
// a static import from this CommonJS build is rejected by tsc (TS1479) although the package ships a CJS
// build under its `require` condition. We therefore take only the types through an import-mode type import
// and load the CJS build with require(), which both tsc's output and the esbuild bundle resolve.
import type * as Diff3 from 'node-diff3' with { 'resolution-mode': 'import' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { diff3Merge } = require('node-diff3') as typeof Diff3;

export interface MergeLabels {
  mine?: string;
  base?: string;
  upstream?: string;
}

export interface TextMergeResult {
  /** The merged text; contains conflict markers when `conflicts > 0`. */
  text: string;
  /** Number of conflict blocks in `text`. */
  conflicts: number;
  clean: boolean;
}

export type ByteMergeResult =
  | { kind: 'merged'; data: Buffer; conflicts: number }
  // Both sides changed a binary file differently: there is no sensible merge, the caller must choose.
  | { kind: 'binary-conflict' };

/** Git's (and SkillMeat's) heuristic: a NUL byte in the first 8 KiB means binary. */
const BINARY_SNIFF_BYTES = 8 * 1024;

export function isBinary(data: Uint8Array): boolean {
  return data.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}

/**
 * Merges `mine` and `upstream`, both derived from `base`. Lines keep their own endings, so CRLF, LF and a
 * missing final newline survive byte-exactly from whichever side a line is taken; mixed endings are not
 * normalised. Changes that touch the same or adjacent base lines conflict (as in git), and the conflict
 * block covers only those lines.
 */
export function mergeText(
  base: string,
  mine: string,
  upstream: string,
  labels?: MergeLabels,
): TextMergeResult {
  // The trivial cases are decided without diffing: they must hold exactly, whatever the diff would align.
  if (mine === upstream || upstream === base) return { text: mine, conflicts: 0, clean: true };
  if (mine === base) return { text: upstream, conflicts: 0, clean: true };

  const regions = mergeRegions(base, mine, upstream);
  const eol = dominantEol(mine, upstream, base);
  const marker = {
    mine: `<<<<<<< ${labels?.mine ?? 'mine'}${eol}`,
    base: `||||||| ${labels?.base ?? 'base'}${eol}`,
    split: `=======${eol}`,
    upstream: `>>>>>>> ${labels?.upstream ?? 'upstream'}${eol}`,
  };

  let text = '';
  let conflicts = 0;
  // Markers must start a line: a side whose last line has no newline gets one before the next marker. (So
  // sides that differ only in the final newline look identical inside the markers, as they do in git.)
  const startLine = (): void => {
    if (text !== '' && !text.endsWith('\n')) text += eol;
  };
  for (const region of regions) {
    if (region.ok) {
      text += region.ok.join('');
    } else if (region.conflict) {
      conflicts++;
      const { a, o, b } = region.conflict;
      startLine();
      text += marker.mine + a.join('');
      startLine();
      text += marker.base + o.join('');
      startLine();
      text += marker.split + b.join('');
      startLine();
      text += marker.upstream;
    }
  }
  return { text, conflicts, clean: conflicts === 0 };
}

/**
 * The merge with each conflict left at its base lines: what VS Code's merge editor starts its result
 * from, and so what a merge completed without handling any conflict holds (both sides' changes dropped
 * wherever they met). The conflict walk asks before it takes such a result.
 */
export function mergeKeepingBase(base: string, mine: string, upstream: string): string {
  if (mine === upstream || upstream === base) return mine;
  if (mine === base) return upstream;
  let text = '';
  for (const region of mergeRegions(base, mine, upstream))
    text += (region.ok ?? region.conflict?.o ?? []).join('');
  return text;
}

/** A stretch of diff3's merge: lines both sides agree on, or a conflict with each side's lines. */
interface MergeRegion {
  ok?: string[];
  conflict?: { a: string[]; o: string[]; b: string[] };
}

function mergeRegions(base: string, mine: string, upstream: string): MergeRegion[] {
  // Pass arrays: given strings, node-diff3 splits on /\s+/ (words, dropping the whitespace).
  return diff3Merge(splitLines(mine), splitLines(base), splitLines(upstream), {
    excludeFalseConflicts: true,
  });
}

/**
 * Merges one file's bytes. Binary files (any side, see `isBinary`) are never text-merged: identical or
 * one-sided changes still resolve, anything else is a `binary-conflict`.
 *
 * `base === undefined` means no common ancestor is known (both sides added the file). It is treated as an
 * empty file: identical additions resolve to that content, differing text additions produce one conflict
 * spanning the whole content of both sides, and differing binary additions are a `binary-conflict`.
 * A side taken unchanged is returned as is (it may share memory with the input).
 */
export function mergeBytes(
  base: Uint8Array | undefined,
  mine: Uint8Array,
  upstream: Uint8Array,
  labels?: MergeLabels,
): ByteMergeResult {
  const b = toBuffer(base ?? new Uint8Array(0));
  const m = toBuffer(mine);
  const u = toBuffer(upstream);
  if (m.equals(u) || u.equals(b)) return { kind: 'merged', data: m, conflicts: 0 };
  if (m.equals(b)) return { kind: 'merged', data: u, conflicts: 0 };
  if (isBinary(b) || isBinary(m) || isBinary(u)) return { kind: 'binary-conflict' };

  // One encoding for all three sides, so equal bytes compare as equal lines. latin1 maps every byte to one
  // char and back, so non-UTF-8 input (and an unpaired half of a multi-byte sequence) is preserved exactly.
  const encoding: BufferEncoding = [b, m, u].every(roundTripsUtf8) ? 'utf8' : 'latin1';
  const merged = mergeText(b.toString(encoding), m.toString(encoding), u.toString(encoding), labels);
  return { kind: 'merged', data: Buffer.from(merged.text, encoding), conflicts: merged.conflicts };
}

/** Splits into lines that keep their terminator ("\n" or "\r\n"); the last line may have none. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
    lines.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/**
 * The line ending for marker lines: CRLF when mine mostly uses CRLF, else LF. A side without any line
 * ending (a one-line file) has no opinion, so the next side decides.
 */
function dominantEol(...texts: string[]): '\n' | '\r\n' {
  for (const text of texts) {
    const lf = text.split('\n').length - 1;
    if (lf === 0) continue;
    const crlf = text.split('\r\n').length - 1;
    return crlf > lf - crlf ? '\r\n' : '\n';
  }
  return '\n';
}

function roundTripsUtf8(data: Buffer): boolean {
  return Buffer.from(data.toString('utf8'), 'utf8').equals(data);
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
