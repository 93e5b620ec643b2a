/**
 * Large files stay on disk. A file of `LARGE_FILE_BYTES` or more in a `Tree` is a `DiskFile`: its size,
 * its first bytes (enough for binary detection), its git blob id (hashed in chunks, once) and where its
 * bytes are; comparing, hashing, storing and copying it never holds it in memory. Its `data` still works,
 * reading the whole file at each use, so code that needs the bytes (a text merge) stays correct.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { fsPath } from '../base/fileNames.js';
import type { TreeFile } from './artifactTree.js';
import { hashFileInto } from './hash.js';

/** Files this big or bigger are kept on disk by the trees an update reads. */
export const LARGE_FILE_BYTES = 1 << 20;

/** The first bytes `DiskFile.head` keeps: git's (and `isBinary`'s) 8 KiB sniff. */
export const HEAD_BYTES = 8 * 1024;

const CHUNK = 1 << 20;
let chunkBuffer: Buffer | undefined;

/** A regular file's bytes on disk, known by size and git blob id. */
export class DiskFile {
  private blob: string | undefined;
  private first: Buffer | undefined;

  constructor(
    /** Where the bytes are (the lossless string form of fileNames.ts). */
    readonly path: string,
    readonly size: number,
    /** The blob id when it is already known (a blob spilled from the snapshot store). */
    blobId?: string,
  ) {
    this.blob = blobId;
  }

  /** Git's id of these bytes, sha1("blob <size>\0" + bytes), read once in chunks. */
  blobId(): string {
    this.blob ??= blobIdOfFile(this.path);
    return this.blob;
  }

  /** The first `HEAD_BYTES` bytes (all of them for a shorter file). */
  head(): Buffer {
    if (!this.first) {
      const fd = fs.openSync(fsPath(this.path), 'r');
      try {
        const buffer = Buffer.alloc(HEAD_BYTES);
        this.first = buffer.subarray(0, fs.readSync(fd, buffer, 0, HEAD_BYTES, 0));
      } finally {
        fs.closeSync(fd);
      }
    }
    return this.first;
  }

  /** The whole file, read now: only for code that needs every byte in memory. */
  read(): Buffer {
    return fs.readFileSync(fsPath(this.path));
  }
}

/** A tree file whose bytes stay on disk; `data` reads them on every access. */
export function diskTreeFile(disk: DiskFile, mode: number): TreeFile {
  return {
    mode,
    disk,
    get data(): Buffer {
      return disk.read();
    },
  };
}

export function fileSize(file: TreeFile): number {
  return file.disk ? file.disk.size : file.data.length;
}

/** The file's first bytes, at least `HEAD_BYTES` of them when it has that many (for `isBinary`). */
export function fileHead(file: TreeFile): Buffer {
  return file.disk ? file.disk.head() : file.data;
}

/** Git's blob id of the file's bytes. */
export function blobIdOf(file: TreeFile): string {
  if (file.disk) return file.disk.blobId();
  return createHash('sha1').update(`blob ${file.data.length}\0`).update(file.data).digest('hex');
}

/**
 * True when both hold the same bytes (modes are not compared). Files in memory are compared byte for
 * byte; a file on disk by size, then by git blob id, as git itself tells content apart.
 */
export function sameBytes(a: TreeFile, b: TreeFile): boolean {
  if (!a.disk && !b.disk) return a.data.equals(b.data);
  return fileSize(a) === fileSize(b) && blobIdOf(a) === blobIdOf(b);
}

/** Feeds the file's bytes into `hash`, a large file in chunks. */
export function hashBytesInto(hash: Hash, file: TreeFile): void {
  if (file.disk) hashFileInto(hash, file.disk.path);
  else hash.update(file.data);
}

/** Git's blob id of the file at `file`; throws if it changes size while being read. */
function blobIdOfFile(file: string): string {
  chunkBuffer ??= Buffer.allocUnsafe(CHUNK);
  const fd = fs.openSync(fsPath(file), 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const hash = createHash('sha1').update(`blob ${size}\0`);
    let total = 0;
    for (;;) {
      const n = fs.readSync(fd, chunkBuffer, 0, CHUNK, null);
      if (n === 0) break;
      total += n;
      hash.update(n === CHUNK ? chunkBuffer : chunkBuffer.subarray(0, n));
    }
    if (total !== size) throw new Error(`${file} changed while it was being read`);
    return hash.digest('hex');
  } finally {
    fs.closeSync(fd);
  }
}
