/**
 * Git objects as the snapshot store makes and reads them: ids, commits and packs built in JS, written
 * through one git process that verifies them (`--strict`, minus fsck's checkout-only checks), and read back
 * through one long-lived `cat-file --batch`. Knows nothing of snapshots, folders or refs. Also `io`, which
 * every write of the store goes through.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { CoreError, ioFailure } from '../base/errors.js';
import { decodeName, isRawName } from '../base/fileNames.js';
import { traceCount } from '../base/trace.js';
import type { Fs } from '../ports/fs.js';
import { assertObjectId, compareVersions, isObjectId, SNAPSHOT_IDENTITY } from '../ports/git.js';
import type { Git, ObjectReader, SpilledObject, SpillOptions } from '../ports/git.js';
import type { ObjectFolder } from './looseObjects.js';

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
export const ZERO_SHA = '0'.repeat(40);

export type GitMode = '100644' | '100755' | '120000' | '040000';

/** A loose object as git stores it: its id is sha1("<type> <length>\0" + data). */
export interface GitObject {
  type: 'blob' | 'tree' | 'commit';
  data: Buffer;
  sha: string;
}

/** A commit of a ref's history: its id, tree and message. */
export interface HistoryCommit {
  commit: string;
  tree: string;
  message: string;
}

/** Reading and writing the objects of one repository; the `cat-file` process lives until `close`. */
export class GitObjects {
  private reader: ObjectReader | undefined;

  constructor(
    private readonly git: Git,
    /** The `--strict=…` argument of the object writes, for this git version (see strictFsck). */
    private readonly strict: string,
    private readonly fs: Fs,
    /** Where blobs from memory are staged for `hash-object` (`.artifact-keeper/`). */
    private readonly stateDir: string,
    /** Writes a few objects here instead of through git (see `writeObjects`). */
    private readonly folder?: ObjectFolder,
  ) {}

  /** A blob's bytes, through one long-lived `cat-file --batch`. Throws `git-failed` when the object is missing. */
  async readBlob(sha: string): Promise<Buffer> {
    assertObjectId(sha);
    this.reader ??= this.git.openObjectReader();
    const object = await this.reader.read(sha);
    if (!object || object.type !== 'blob') {
      throw new CoreError({
        code: 'git-failed',
        command: 'cat-file',
        reason: `no blob ${sha} in the snapshot repository`,
      });
    }
    return object.data;
  }

  /**
   * The commits of `ref` (one of ours), newest first, following first parents: id, tree and message. None
   * when the ref does not exist. One `cat-file --batch` answers it all (no `for-each-ref`, no `log`). Read
   * one at a time, only as far as the caller goes: a ref that gains a commit at every update of its
   * artifact is searched from its newest end, and a search that stops early costs what it read, not the
   * length of the history.
   */
  async *walkHistory(ref: string): AsyncGenerator<HistoryCommit> {
    this.reader ??= this.git.openObjectReader();
    let object = await this.reader.readRef(ref);
    let sha: string | undefined;
    const seen = new Set<string>();
    while (object) {
      if (object.type !== 'commit') {
        throw new CoreError({ code: 'git-failed', command: 'cat-file', reason: `${ref} is not a commit` });
      }
      const { tree, parents, message } = parseCommit(object.data);
      const parent = parents[0];
      if (!tree)
        throw new CoreError({
          code: 'git-failed',
          command: 'cat-file',
          reason: `${ref}: a commit has no tree`,
        });
      sha ??= objectId('commit', object.data);
      traceCount('history commit read');
      yield { commit: sha, tree, message };
      if (!parent || seen.has(parent)) break;
      seen.add(parent);
      sha = parent;
      object = await this.reader.read(parent);
      if (!object)
        throw new CoreError({
          code: 'git-failed',
          command: 'cat-file',
          reason: `${ref}: commit ${parent} is missing`,
        });
    }
  }

  /**
   * The first-parent commits of `ref` whose message holds `text`, newest first: one `git log`, for a
   * search of a history too long to read commit by commit through `cat-file` (each a round trip).
   */
  async commitsMentioning(ref: string, text: string): Promise<HistoryCommit[]> {
    traceCount('history searched (git log)');
    const { stdout } = await this.git.pipe([
      'log',
      '--first-parent',
      '--format=%H',
      '--fixed-strings',
      `--grep=${text}`,
      ref,
      '--',
    ]);
    this.reader ??= this.git.openObjectReader();
    const reader = this.reader;
    const found: HistoryCommit[] = [];
    for (const id of stdout.toString('utf8').split('\n').filter(isObjectId)) {
      const object = await reader.read(id);
      if (object?.type !== 'commit') continue;
      const { tree, message } = parseCommit(object.data);
      if (tree) found.push({ commit: id, tree, message });
    }
    return found;
  }

  /**
   * The commit each of `refs` points at (id, tree, message), or undefined for a ref that does not exist
   * or is not a commit: all asked of the one `cat-file --batch` at once, so a hundred refs cost one round
   * trip, not a `for-each-ref` process.
   */
  async readRefCommits(
    refs: readonly string[],
  ): Promise<({ commit: string; tree: string; message: string } | undefined)[]> {
    this.reader ??= this.git.openObjectReader();
    const reader = this.reader;
    const objects = await Promise.all(refs.map((ref) => reader.readRef(ref)));
    return objects.map((object) => {
      if (object?.type !== 'commit') return undefined;
      const { tree, message } = parseCommit(object.data);
      return tree ? { commit: objectId('commit', object.data), tree, message } : undefined;
    });
  }

  /**
   * A blob's bytes, or, when it is larger than `spill.over`, the file they were written to (`spill.file`,
   * created): a large blob never sits in memory. Throws `git-failed` when the object is missing.
   */
  async readBlobSpilling(sha: string, spill: SpillOptions): Promise<Buffer | SpilledObject> {
    assertObjectId(sha);
    this.reader ??= this.git.openObjectReader();
    const object = await this.reader.readSpilling(sha, spill);
    if (!object || object.type !== 'blob') {
      throw new CoreError({
        code: 'git-failed',
        command: 'cat-file',
        reason: `no blob ${sha} in the snapshot repository`,
      });
    }
    return 'data' in object ? object.data : object;
  }

  /** One tree object's entries by name (modes as diff-tree prints them: `040000` for folders). */
  async readTreeEntries(tree: string): Promise<Map<string, { mode: string; sha: string }>> {
    this.reader ??= this.git.openObjectReader();
    const object = await this.reader.read(tree);
    if (!object || object.type !== 'tree') {
      throw new CoreError({
        code: 'git-failed',
        command: 'cat-file',
        reason: `no tree ${tree} in the snapshot repository`,
      });
    }
    const entries = new Map<string, { mode: string; sha: string }>();
    const data = object.data;
    for (let at = 0; at < data.length;) {
      const entry = treeEntryAt(data, at);
      if (!entry) {
        throw new CoreError({ code: 'git-failed', command: 'cat-file', reason: `tree ${tree} is malformed` });
      }
      const name = decodeName(data, entry.nameStart, entry.nameEnd);
      entries.set(name, { mode: entry.mode.padStart(6, '0'), sha: entryId(data, entry) });
      at = entry.next;
    }
    return entries;
  }

  /**
   * Writes blobs with one `git hash-object -w --stdin-paths`: a string is a file to read, a Buffer is
   * content (a symlink target, an in-memory file), staged in a temp folder under `.artifact-keeper/`.
   * `uncompressed` writes them without zlib (`core.looseCompression=0`), for large files
   * (`LARGE_FILE_BYTES` and up): zlib took 1.2 s of a 50 MB binary's 1.3 s here, and the next `git gc`
   * compresses them into the pack anyway.
   */
  async hashObjects(
    items: readonly (string | Buffer)[],
    options: { uncompressed?: boolean } = {},
  ): Promise<string[]> {
    if (items.length === 0) return [];
    let temp: string | undefined;
    try {
      const paths: string[] = [];
      for (const [i, item] of items.entries()) {
        if (typeof item === 'string') {
          paths.push(item);
          continue;
        }
        if (!temp) {
          temp = path.join(this.stateDir, `tmp-hash-${process.pid}-${randomBytes(4).toString('hex')}`);
          const dir = temp;
          await io('mkdir', dir, () => this.fs.mkdir(dir));
        }
        const file = path.join(temp, String(i));
        await io('write', file, () => this.fs.writeFile(file, item));
        paths.push(file);
      }
      const config = options.uncompressed ? ['-c', 'core.looseCompression=0'] : [];
      const args = [...config, 'hash-object', '-w', '--no-filters', '--stdin-paths'];
      const result = await this.git.pipe(args, {
        input: paths.map((p) => `${quoteForStdinPaths(p)}\n`).join(''),
      });
      const shas = result.stdout.toString('utf8').split('\n').filter(Boolean);
      if (shas.length !== items.length || !shas.every(isObjectId)) {
        throw new CoreError({
          code: 'git-failed',
          command: 'hash-object',
          reason: `expected ${items.length} ids, got ${shas.length}`,
        });
      }
      return shas;
    } finally {
      if (temp) await this.fs.rm(temp).catch(() => undefined);
    }
  }

  /** Starts deflating large objects a `writeObjects` will write loose (ObjectFolder.deflateAhead). */
  deflateAhead(objects: readonly GitObject[]): void {
    if (objects.length < UNPACK_LIMIT) this.folder?.deflateAhead(objects);
  }

  /**
   * Writes objects made in JS, each checked (format, links) before any is kept: a few as loose objects,
   * written here by the `ObjectFolder` (git's `unpack-objects` where there is none, or it cannot tell what
   * the repository holds), many as one pack through `index-pack` (as git itself does with
   * `transfer.unpackLimit`), which is far faster than thousands of loose files for a first snapshot.
   */
  async writeObjects(all: readonly GitObject[]): Promise<void> {
    // Files with the same content are one blob: a pack must hold each object once (index-pack refuses a
    // pack with an object twice; many artifacts added from one source share every file).
    const seen = new Set<string>();
    const objects = all.filter((object) => !seen.has(object.sha) && seen.add(object.sha));
    if (objects.length === 0) return;
    if (objects.length < UNPACK_LIMIT && this.folder && (await this.folder.write(objects))) return;
    const args =
      objects.length < UNPACK_LIMIT
        ? ['unpack-objects', '-q', this.strict]
        : ['index-pack', '--stdin', this.strict];
    await this.git.pipe(args, { input: packObjects(objects) });
  }

  /** Ends the `cat-file` process. The store can still be used afterwards (it starts a new one). */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }
}

/** Runs an Fs port call, turning a Node error into CoreError `io-failed` (a CoreError passes through). */
export async function io<T>(op: string, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof CoreError ? err : ioFailure(op, target, err);
  }
}

/** Fewer objects than this are written loose, more as a pack (git's default `transfer.unpackLimit`). */
const UNPACK_LIMIT = 100;

/**
 * fsck checks that protect a git checkout — `.git`-like names (`.GIT`, `git~1`), the contents of
 * `.gitmodules` and `.gitattributes` — and mean nothing to a store whose trees we restore ourselves: left
 * on, one such file in a collection would make every snapshot, and so every update, fail. Every other
 * check (object format, links, sorting, duplicates) stays strict. An id a git does not know is fatal
 * there, so each list starts at the version that has it (the `.gitattributes` checks came with 2.39.1;
 * older gits backported them, and there a `.gitattributes` with a line over 2 KiB still fails a snapshot).
 */
const CHECKOUT_ONLY_FSCK: readonly (readonly [since: string, ids: readonly string[]])[] = [
  [
    '2.30.0',
    [
      'hasDot',
      'hasDotdot',
      'hasDotgit',
      'fullPathname',
      'gitmodulesName',
      'gitmodulesUrl',
      'gitmodulesPath',
      'gitmodulesUpdate',
      'gitmodulesSymlink',
      'gitmodulesBlob',
      'gitmodulesLarge',
    ],
  ],
  ['2.39.1', ['gitattributesLarge', 'gitattributesLineLength', 'gitattributesBlob']],
];

export function strictFsck(gitVersion: string): string {
  const ids = CHECKOUT_ONLY_FSCK.filter(([since]) => compareVersions(gitVersion, since) >= 0).flatMap(
    ([, list]) => list,
  );
  return `--strict=${ids.map((id) => `${id}=ignore`).join(',')}`;
}

/**
 * The entry of a tree object's body that starts at `at`: its mode as written (`40000` for a folder),
 * where its name and its 20-byte id are, and where the next entry starts; undefined when the bytes there
 * are not one.
 */
export function treeEntryAt(
  data: Buffer,
  at: number,
): { mode: string; nameStart: number; nameEnd: number; idStart: number; next: number } | undefined {
  const space = data.indexOf(0x20, at);
  const nul = space < 0 ? -1 : data.indexOf(0, space);
  if (space < 0 || nul < 0 || nul + 21 > data.length) return undefined;
  return {
    mode: data.toString('latin1', at, space),
    nameStart: space + 1,
    nameEnd: nul,
    idStart: nul + 1,
    next: nul + 21,
  };
}

/** The id (hex) of a tree entry read by `treeEntryAt` (its 20 bytes are left raw there: a lookup needs no hex). */
export function entryId(data: Buffer, entry: { idStart: number }): string {
  return data.toString('hex', entry.idStart, entry.idStart + 20);
}

/** A commit's tree, its parents in order, and its message (after the header's blank line). */
export function parseCommit(data: Buffer): { tree: string | undefined; parents: string[]; message: string } {
  const text = data.toString('utf8');
  const headerEnd = text.indexOf('\n\n');
  const header = headerEnd < 0 ? text : text.slice(0, headerEnd);
  return {
    tree: /^tree ([0-9a-f]{40})$/m.exec(header)?.[1],
    parents: [...header.matchAll(/^parent ([0-9a-f]{40})$/gm)].map((match) => match[1] as string),
    message: headerEnd < 0 ? '' : text.slice(headerEnd + 2),
  };
}

/**
 * Writes `data` to `temp` beside `file`, then renames it to `file`: a reader (git) sees the whole file or
 * none. No fsync, as git writes loose objects and refs by default. A failure removes the temp and throws
 * `io-failed`. The temp's name is the caller's: git's own (`tmp_obj_*`, `<ref>.lock`), which git and the
 * sweep of a killed command's leftovers know.
 */
export async function writeThenRename(
  fs: Fs,
  temp: string,
  file: string,
  data: Uint8Array | string,
  mode?: number,
): Promise<void> {
  await io('mkdir', path.dirname(file), () => fs.mkdir(path.dirname(file)));
  try {
    await io('write', temp, () => fs.writeFile(temp, data, mode));
    await io('rename', file, () => fs.rename(temp, file));
  } catch (err) {
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
}

export function objectId(type: GitObject['type'], data: Buffer): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

export function gitObject(type: GitObject['type'], data: Buffer): GitObject {
  return { type, data, sha: objectId(type, data) };
}

/** A commit as `git commit-tree` writes it, by the fixed snapshot identity at `time` (UTC). */
export function commitObject(
  tree: string,
  parent: string | undefined,
  message: string,
  time: Date,
): GitObject {
  const ident = `${SNAPSHOT_IDENTITY.name} <${SNAPSHOT_IDENTITY.email}> ${Math.floor(time.getTime() / 1000)} +0000`;
  const parentLine = parent ? `parent ${assertObjectId(parent)}\n` : '';
  const text = `tree ${assertObjectId(tree)}\n${parentLine}author ${ident}\ncommitter ${ident}\n\n${message}`;
  return gitObject('commit', Buffer.from(text, 'utf8'));
}

const PACK_TYPES: Record<GitObject['type'], number> = { commit: 1, tree: 2, blob: 3 };

/** Bytes of the pack handed to git at a time. */
const PACK_CHUNK_BYTES = 256 * 1024;

/**
 * A version 2 pack of whole (undeltified) objects, as `git unpack-objects` and `index-pack` read it, in
 * chunks made as git takes them: each object is deflated when its chunk is made, and copied out of the
 * 16 KiB buffer zlib answers in (a slice of it would keep the whole buffer alive). A first snapshot of
 * 11k files held 11k such buffers and two copies of the pack, about 330 MiB, before git got a byte.
 */
function* packObjects(objects: readonly GitObject[]): Generator<Buffer> {
  const sha1 = createHash('sha1');
  const header = Buffer.alloc(12);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objects.length, 8);
  let parts: Buffer[] = [header];
  let size = header.length;
  const take = (): Buffer => {
    const chunk = Buffer.concat(parts, size);
    sha1.update(chunk);
    parts = [];
    size = 0;
    return chunk;
  };
  for (const object of objects) {
    // Type and size: 3 type bits and 4 size bits, then 7 size bits per byte while the high bit is set.
    let left = object.data.length;
    const bytes: number[] = [];
    let byte = (PACK_TYPES[object.type] << 4) | (left & 0x0f);
    left = Math.floor(left / 16);
    while (left > 0) {
      bytes.push(byte | 0x80);
      byte = left & 0x7f;
      left = Math.floor(left / 128);
    }
    bytes.push(byte);
    const deflated = deflateSync(object.data, { level: 1 });
    parts.push(Buffer.from(bytes), deflated);
    size += bytes.length + deflated.length;
    if (size >= PACK_CHUNK_BYTES) yield take();
  }
  yield take();
  yield sha1.digest();
}

export function gitModeOf(statMode: number): GitMode {
  if ((statMode & 0o170000) === 0o120000) return '120000';
  return statMode & 0o111 ? '100755' : '100644';
}

/**
 * `hash-object --stdin-paths` reads one path per line and C-unquotes a line starting with '"': quote
 * the paths a bare line cannot carry (newline, CR at the end, a leading quote, bytes that are not
 * UTF-8, which go as octal escapes).
 */
export function quoteForStdinPaths(p: string): string {
  if (!isRawName(p) && !p.startsWith('"') && !/[\x00-\x1f]/.test(p)) return p;
  const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' };
  const octal = (byte: number): string => `\\${byte.toString(8).padStart(3, '0')}`;
  const escaped = p.replace(/[\\"\x00-\x1f]|[\uDC80-\uDCFF]/gu, (ch) => {
    const unit = ch.charCodeAt(0);
    return named[ch] ?? octal(unit >= 0xdc80 ? unit - 0xdc00 : unit);
  });
  return `"${escaped}"`;
}
