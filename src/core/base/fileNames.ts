/// <reference lib="es2024.string" />
/**
 * File names that are not UTF-8. A POSIX name is bytes, but the core keeps paths as strings; node:fs
 * would decode such a name lossily (every bad byte becomes U+FFFD) and then not find the file it listed.
 * So a name is held the way Python's `os.fsdecode` holds it (the `surrogateescape` error handler): each
 * byte that is not part of a valid UTF-8 sequence becomes the lone surrogate U+DC80–U+DCFF. The mapping
 * is lossless and one to one, and a valid name never decodes to a lone surrogate, so such a "raw" string
 * is exactly one that is not well-formed UTF-16: `isWellFormed()`, a native scan, tells it apart, and only
 * raw names ever take the slow paths below.
 *
 * Where a path meets the outside world it goes back to bytes: `fsPath` for node:fs (the Fs port does it
 * for every mutation), `nameBytes` for hashes and git trees; names read from disk or git come in through
 * `readDirSync` and `decodeName`. JSON (the status cache, the stat index, the journal) keeps lone
 * surrogates as `\udcXX` escapes, so those files round-trip them without help.
 */
import * as fs from 'node:fs';

const REPLACEMENT = '\uFFFD';

/** True when `p` holds bytes that are not UTF-8 (escaped as lone surrogates). */
export function isRawName(p: string): boolean {
  return !p.isWellFormed();
}

/** The bytes a name or path stands for: its UTF-8, with escaped bytes restored (`os.fsencode`). */
export function nameBytes(p: string): Buffer {
  // Any other lone surrogate never comes from a decoded name; Buffer.from makes it U+FFFD.
  return encodeLoneSurrogates(p, (unit) =>
    unit >= 0xdc80 && unit <= 0xdcff ? Buffer.of(unit - 0xdc00) : undefined,
  );
}

/** What to give node:fs for `p`: the string itself, or its bytes when it holds raw bytes. */
export function fsPath(p: string): string | Buffer {
  return p.isWellFormed() ? p : nameBytes(p);
}

/** Bytes (a name from a folder listing or a git tree) → the string form: Python's `bytes.decode('utf-8', 'surrogateescape')`. */
export function decodeName(bytes: Buffer, start = 0, end = bytes.length): string {
  const text = bytes.toString('utf8', start, end);
  // A real U+FFFD in a valid name also lands here; the careful decode gives it back unchanged.
  return text.includes(REPLACEMENT) ? decodeCarefully(bytes.subarray(start, end)) : text;
}

/**
 * A folder's entries, like `fs.readdirSync(dir, { withFileTypes: true })` but with every name in the
 * string form. The folder is listed a second time, as bytes, only when some name came back with U+FFFD.
 */
export function readDirSync(dir: string): fs.Dirent[] {
  const target = fsPath(dir);
  const entries = fs.readdirSync(target, { withFileTypes: true });
  if (!entries.some((entry) => entry.name.includes(REPLACEMENT))) return entries;
  return fs.readdirSync(target, { withFileTypes: true, encoding: 'buffer' }).map((entry) => {
    // The Dirent keeps its type in a private field; only its name changes form.
    const decoded = entry as unknown as { name: string | Buffer };
    decoded.name = decodeName(entry.name);
    return decoded as unknown as fs.Dirent;
  });
}

/**
 * A sort key that orders paths like Python orders their `os.fsdecode` strings (by code point, escaped
 * bytes as the code points U+DC80–U+DCFF): UTF-8, with each lone surrogate in the same three-byte form.
 */
export function codePointBytes(p: string): Buffer {
  return encodeLoneSurrogates(p, (unit) =>
    Buffer.of(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)),
  );
}

/**
 * `p` as UTF-8, but each lone surrogate as `encode` gives it (undefined: left to Buffer.from, which makes
 * it U+FFFD). Valid surrogate pairs are ordinary UTF-8.
 */
function encodeLoneSurrogates(p: string, encode: (unit: number) => Buffer | undefined): Buffer {
  if (p.isWellFormed()) return Buffer.from(p, 'utf8');
  const chunks: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < p.length; i++) {
    const unit = p.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(p.charCodeAt(i + 1))) {
      i++; // a valid pair: part of the UTF-8 run
      continue;
    }
    const bytes = unit >= 0xd800 && unit <= 0xdfff ? encode(unit) : undefined;
    if (bytes) {
      chunks.push(Buffer.from(p.slice(from, i), 'utf8'), bytes);
      from = i + 1;
    }
  }
  chunks.push(Buffer.from(p.slice(from), 'utf8'));
  return Buffer.concat(chunks);
}

/** For messages: escaped bytes shown as `\xNN` (a raw byte printed as is would come out as U+FFFD). */
export function showName(p: string): string {
  if (p.isWellFormed()) return p;
  return p.replace(/[\uDC80-\uDCFF]/gu, (ch) => `\\x${(ch.charCodeAt(0) - 0xdc00).toString(16)}`);
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF); every other byte escaped. */
function decodeCarefully(bytes: Buffer): string {
  let out = '';
  let from = 0;
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    const length =
      lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0;
    let valid = length > 0 && i + length <= bytes.length;
    if (valid && length > 1) {
      // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4).
      const second = bytes[i + 1] as number;
      const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
      const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
      valid = second >= low && second <= high;
      for (let k = 2; valid && k < length; k++) valid = ((bytes[i + k] as number) & 0xc0) === 0x80;
    }
    if (valid) {
      i += length;
      continue;
    }
    out += bytes.toString('utf8', from, i) + String.fromCharCode(0xdc00 + lead);
    i++;
    from = i;
  }
  return out + bytes.toString('utf8', from, bytes.length);
}
