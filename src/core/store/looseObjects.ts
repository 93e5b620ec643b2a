/**
 * The snapshot repository's object folder, read and written by this process: which objects it holds
 * (loose files and the indexes of its packs), and the few objects a snapshot adds written as loose
 * files, as `git unpack-objects` would write them, with the checks its `--strict` made that can fail
 * for objects we build (a tree's entries well-formed, sorted and unique; every object a tree or commit
 * names present). A git process forked from the extension host costs 20–30 ms, and a snapshot after one
 * change used two (objects, then the ref) for under a millisecond of git's own work.
 */
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { deflate, deflateSync } from 'node:zlib';
import { CoreError } from '../base/errors.js';
import { showName } from '../base/fileNames.js';
import type { Fs } from '../ports/fs.js';
import { entryId, parseCommit, treeEntryAt, writeThenRename } from './gitObjects.js';
import type { GitObject } from './gitObjects.js';

/** The sorted object ids of one pack index (`objects/pack/*.idx`, version 1 or 2). */
interface PackIndex {
  fanout: Uint32Array;
  ids: Buffer;
  /** Bytes from one id to the next in `ids` (20 in version 2, 24 in version 1). */
  stride: number;
  /** Offset of the first id in `ids`. */
  first: number;
}

const IDX_V2_MAGIC = 0xff744f63;
/** Objects from this size are deflated on the thread pool ahead of their write (`deflateAhead`). */
const DEFLATE_AHEAD_BYTES = 64 * 1024;
/** Objects deflated ahead at most per call: a snapshot's manifest and lock, and a few large files. */
const DEFLATE_AHEAD_MAX = 8;
const deflateAsync = promisify(deflate);
const TREE_MODES = new Set(['100644', '100755', '120000', '40000', '160000']);

export class ObjectFolder {
  /** Pack indexes by file name: a pack's name is its checksum, so one name is always the same index. */
  private readonly packs = new Map<string, PackIndex>();

  /** Large objects deflated on the thread pool for a write to come, by id (`deflateAhead`). */
  private readonly deflated = new Map<string, Promise<Buffer | undefined>>();

  constructor(
    private readonly gitDir: string,
    private readonly fs: Fs,
  ) {}

  /**
   * Starts deflating the large ones of `objects` on the thread pool, for a `write` to come: a snapshot's
   * new manifest and lock (1.4 MB for 2,000 artifacts, about 8 ms of zlib here) are deflated while it
   * builds its trees. A deflate that fails only means `write` deflates the object itself.
   */
  deflateAhead(objects: readonly GitObject[]): void {
    // Those of an earlier call not written by now never will be (a scan not used for its snapshot).
    this.deflated.clear();
    for (const object of objects) {
      if (this.deflated.size === DEFLATE_AHEAD_MAX) break;
      if (object.data.length < DEFLATE_AHEAD_BYTES) continue;
      const whole = looseBytes(object);
      // One output chunk (level 1 grows incompressible data a little): each chunk is a round trip.
      const chunkSize = whole.length + 1024;
      this.deflated.set(
        object.sha,
        deflateAsync(whole, { level: 1, chunkSize }).catch(() => undefined),
      );
    }
  }

  private get objectsDir(): string {
    return path.join(this.gitDir, 'objects');
  }

  /** Whether the repository holds `sha`, in a pack or loose (`packs` from `packIndexes`). */
  private has(sha: string, packs: readonly PackIndex[]): boolean {
    return inPacks(packs, Buffer.from(sha, 'hex'), 0) || nodeFs.existsSync(this.loosePath(sha));
  }

  /**
   * Writes `objects` as loose objects, after checking each tree and commit (as `unpack-objects --strict`
   * did): throws `snapshot-invalid` (no cause) and writes nothing when one is malformed or names an
   * object that is neither among `objects` nor in the repository. Objects it already has are skipped.
   * Each file is written to a temp name and renamed (git's own `tmp_obj_*`, which its prune removes when a
   * write was cut short), so an object is whole or absent. False, with nothing written, where this
   * cannot tell what the repository holds (it borrows objects through `objects/info/alternates`, or a
   * pack index does not read): git writes them then.
   */
  async write(objects: readonly GitObject[]): Promise<boolean> {
    const packs = this.packIndexes();
    if (!packs) return false;
    const batch = new Set(objects.map((o) => o.sha));
    const present: Presence = {
      sha: (sha) => batch.has(sha) || this.has(sha, packs),
      // A tree's entries are looked up in the packs by their raw bytes first: a folder of a thousand
      // skills is checked at every snapshot after one of them changed, and hex both ways cost more. Only
      // an id no pack holds is made hex, for the batch and the loose files.
      idAt: (data, at) => {
        if (inPacks(packs, data, at)) return true;
        const sha = entryId(data, { idStart: at });
        return batch.has(sha) || nodeFs.existsSync(this.loosePath(sha));
      },
    };
    for (const object of objects) checkLinks(object, present);
    // Loose or packed: git's own writes skip an object the repository has, wherever it is.
    const missing = objects.filter((object) => !this.has(object.sha, packs));
    // Side by side: each file is a mkdir, a write and a rename on the thread pool, and one after another
    // every file waited for the one before (a create that stalled on a busy disk held up all the rest).
    // Every write has ended, kept or cleaned up, before this returns or throws.
    const written = await Promise.allSettled(missing.map((object) => this.writeLoose(object)));
    const failed = written.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return true;
  }

  private async writeLoose(object: GitObject): Promise<void> {
    const file = this.loosePath(object.sha);
    const ahead = this.deflated.get(object.sha);
    this.deflated.delete(object.sha);
    const body = (ahead && (await ahead)) ?? deflateSync(looseBytes(object), { level: 1 });
    const temp = path.join(path.dirname(file), `tmp_obj_${randomBytes(6).toString('hex')}`);
    await writeThenRename(this.fs, temp, file, body, 0o444);
  }

  private loosePath(sha: string): string {
    return path.join(this.objectsDir, sha.slice(0, 2), sha.slice(2));
  }

  /**
   * The indexes of the packs there now, each read once per process; undefined when one does not read
   * or objects are borrowed from elsewhere (an object could then be there unseen).
   */
  private packIndexes(): PackIndex[] | undefined {
    if (nodeFs.existsSync(path.join(this.objectsDir, 'info', 'alternates'))) return undefined;
    let names: string[];
    try {
      names = nodeFs.readdirSync(path.join(this.objectsDir, 'pack')).filter((n) => n.endsWith('.idx'));
    } catch {
      return [];
    }
    // Packs a gc removed are forgotten: the extension host lives through many gcs.
    for (const name of this.packs.keys()) if (!names.includes(name)) this.packs.delete(name);
    const packs: PackIndex[] = [];
    for (const name of names) {
      let pack = this.packs.get(name);
      if (!pack) {
        pack = readPackIndex(path.join(this.objectsDir, 'pack', name));
        if (!pack) return undefined;
        this.packs.set(name, pack);
      }
      packs.push(pack);
    }
    return packs;
  }
}

/** A loose object's bytes before zlib: `<type> <size>\0` and the data. */
function looseBytes(object: GitObject): Buffer {
  return Buffer.concat([Buffer.from(`${object.type} ${object.data.length}\0`, 'latin1'), object.data]);
}

/** A pack index's fan-out table and ids; undefined when it does not read as version 1 or 2. */
function readPackIndex(file: string): PackIndex | undefined {
  let data: Buffer;
  try {
    data = nodeFs.readFileSync(file);
  } catch {
    return undefined;
  }
  const v2 = data.length >= 8 && data.readUInt32BE(0) === IDX_V2_MAGIC;
  if (v2 && data.readUInt32BE(4) !== 2) return undefined;
  const fanoutAt = v2 ? 8 : 0;
  if (data.length < fanoutAt + 1024) return undefined;
  const fanout = new Uint32Array(256);
  for (let i = 0; i < 256; i++) fanout[i] = data.readUInt32BE(fanoutAt + i * 4);
  const count = fanout[255] ?? 0;
  const stride = v2 ? 20 : 24;
  const first = v2 ? fanoutAt + 1024 : fanoutAt + 1024 + 4;
  if (count > 0 && data.length < first + (count - 1) * stride + 20) return undefined;
  return { fanout, ids: data, stride, first };
}

/** Whether one of `packs` holds the id of 20 bytes at `idStart` in `id`. */
function inPacks(packs: readonly PackIndex[], id: Buffer, idStart: number): boolean {
  for (const pack of packs) if (inPack(pack, id, idStart)) return true;
  return false;
}

/** Whether `pack` holds the id of 20 bytes at `idStart` in `id`. */
function inPack(pack: PackIndex, id: Buffer, idStart: number): boolean {
  const byte = id[idStart] ?? 0;
  let lo = byte === 0 ? 0 : (pack.fanout[byte - 1] ?? 0);
  let hi = pack.fanout[byte] ?? 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const at = pack.first + mid * pack.stride;
    const order = compareBytes(pack.ids, at, id, idStart, 20);
    if (order === 0) return true;
    if (order > 0) hi = mid;
    else lo = mid + 1;
  }
  return false;
}

/** Whether an object is in the batch being written or in the repository: by id, or by a tree entry's bytes. */
interface Presence {
  sha(sha: string): boolean;
  /** The id of 20 bytes at `at` in `data`. */
  idAt(data: Buffer, at: number): boolean;
}

/** The checks of `unpack-objects --strict` that objects built here could fail; blobs have none we keep. */
function checkLinks(object: GitObject, present: Presence): void {
  if (object.type === 'tree') checkTree(object, present);
  else if (object.type === 'commit') {
    const { tree, parents } = parseCommit(object.data);
    if (!tree) refuse(object, 'has no tree line');
    for (const sha of [tree, ...parents])
      if (!present.sha(sha)) refuse(object, `names ${sha}, which the repository does not have`);
  }
}

function checkTree(object: GitObject, present: Presence): void {
  const data = object.data;
  const shown = (from: number, to: number): string => showName(data.toString('utf8', from, to));
  // The previous entry's name (start, end) and whether it was a folder: git sorts a folder as if its
  // name ended in '/'.
  let prevStart = -1;
  let prevEnd = -1;
  let prevDir = false;
  for (let at = 0; at < data.length;) {
    const entry = treeEntryAt(data, at);
    if (!entry) refuse(object, 'is malformed');
    const { mode, nameStart, nameEnd, idStart } = entry;
    if (!TREE_MODES.has(mode)) refuse(object, `has mode ${mode} for "${shown(nameStart, nameEnd)}"`);
    if (nameEnd === nameStart || hasSlash(data, nameStart, nameEnd))
      refuse(object, `has an entry named "${shown(nameStart, nameEnd)}"`);
    const dir = mode === '40000';
    if (prevStart >= 0 && compareEntryNames(data, prevStart, prevEnd, prevDir, nameStart, nameEnd, dir) >= 0)
      refuse(object, `is not sorted, or names "${shown(nameStart, nameEnd)}" twice`);
    prevStart = nameStart;
    prevEnd = nameEnd;
    prevDir = dir;
    if (mode !== '160000' && !present.idAt(data, idStart))
      refuse(
        object,
        `names ${entryId(data, entry)} ("${shown(nameStart, nameEnd)}"), which the repository does not have`,
      );
    at = entry.next;
  }
}

/** Whether bytes `start` to `end` of `data` hold a '/' (without a view of them made per entry). */
function hasSlash(data: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (data[i] === 0x2f) return true;
  return false;
}

/** Git's order of two entry names in `data`, a folder's read as if it ended in '/'. */
function compareEntryNames(
  data: Buffer,
  aStart: number,
  aEnd: number,
  aDir: boolean,
  bStart: number,
  bEnd: number,
  bDir: boolean,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const common = Math.min(aLen, bLen);
  const order = compareBytes(data, aStart, data, bStart, common);
  if (order !== 0) return order;
  // One name is a prefix of the other (or both are equal): compare the next character, '/' for a folder.
  const aNext = aLen > common ? (data[aStart + common] ?? 0) : aDir ? 0x2f : -1;
  const bNext = bLen > common ? (data[bStart + common] ?? 0) : bDir ? 0x2f : -1;
  return aNext - bNext;
}

/**
 * The order of `length` bytes of `a` from `aStart` and of `b` from `bStart` (negative, 0, positive). A
 * loop, not `Buffer#compare` with offsets, whose argument checks cost more than the few bytes compared:
 * checking a tree of a thousand skills made about 7,000 such calls.
 */
function compareBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): number {
  for (let i = 0; i < length; i++) {
    const difference = (a[aStart + i] ?? 0) - (b[bStart + i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function refuse(object: GitObject, reason: string): never {
  throw new CoreError({
    code: 'snapshot-invalid',
    file: 'snapshots.git',
    reason: `${object.type} ${object.sha} ${reason}`,
  });
}
