/**
 * The stat index (`.artifact-keeper/snapshot-index.json`): what the last snapshot of the collection saw,
 * file by file (stat and blob id) and folder by folder (stamps and tree id), so the next one hashes only
 * what changed. Derived data: a missing, torn or foreign index only costs a full re-hash.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import type { Fs } from '../ports/fs.js';
import { isObjectId } from '../ports/git.js';
import type { Git } from '../ports/git.js';
import { io } from './gitObjects.js';
import type { ScannedFile } from './trees.js';

export const SNAPSHOT_INDEX_FILE = 'snapshot-index.json';
/** Stat entries stamped this close to the index write are re-hashed next time (a later edit may share the stamp). */
export const RACY_WINDOW_MS = 2000;

const INDEX_VERSION = 3;

export interface DirStamp {
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface IndexedFile {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** Full st_mode (type and permission bits). */
  mode: number;
  sha: string;
  /** The tree entry derived from this record, made once per parsed index (not stored). */
  entry?: ScannedFile;
}

export interface IndexedDir extends DirStamp {
  tree: string;
}

/** The stat index in memory: what the last snapshot of the collection saw, file by file and folder by folder. */
export interface StatIndex {
  writtenAt: number;
  files: Map<string, IndexedFile>;
  /** Every folder, the root ('') included, with its stamps and tree id. */
  dirs: Map<string, IndexedDir>;
}

/** On disk, as columns: a few flat arrays parse and print several times faster than one object per file. */
interface StatIndexJson {
  version: number;
  /** Identity of the object store the shas live in, so a recreated repository never trusts old shas. */
  repo: string;
  writtenAt: number;
  files: {
    rel: string[];
    size: number[];
    mtime: number[];
    ctime: number[];
    ino: number[];
    mode: number[];
    sha: string[];
  };
  dirs: { rel: string[]; mtime: number[]; ctime: number[]; ino: number[]; tree: string[] };
}

/** The stat index file of one snapshot store. */
export class StatIndexFile {
  constructor(
    private readonly indexFile: string,
    /** The repository whose object ids the index holds. */
    private readonly gitDir: string,
    private readonly fs: Fs,
    private readonly git: Git,
  ) {}

  private repoIdentity(): string {
    const st = nodeFs.statSync(path.join(this.gitDir, 'objects'));
    return `${st.ino}:${st.birthtimeMs}`;
  }

  /** The stat index when it is valid for this repository; undefined means "hash everything". */
  loadIndex(): StatIndex | undefined {
    let stamp: string;
    try {
      const st = nodeFs.statSync(this.indexFile);
      // The repository's identity is part of the key: a recreated repository never inherits the old shas.
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}:${this.repoIdentity()}`;
    } catch {
      return undefined;
    }
    const cached = parsedIndexes.get(this.indexFile);
    if (cached?.stamp === stamp) return cached.value;
    try {
      const raw = JSON.parse(nodeFs.readFileSync(this.indexFile, 'utf8')) as StatIndexJson;
      if (raw.version !== INDEX_VERSION || raw.repo !== this.repoIdentity()) return undefined;
      const f = raw.files;
      const d = raw.dirs;
      const lengths = [f.size, f.mtime, f.ctime, f.ino, f.mode, f.sha].map((column) => column.length);
      const dirLengths = [d.mtime, d.ctime, d.ino, d.tree].map((column) => column.length);
      if (lengths.some((n) => n !== f.rel.length) || dirLengths.some((n) => n !== d.rel.length))
        return undefined;
      const files = new Map<string, IndexedFile>();
      f.rel.forEach((rel, i) => {
        files.set(rel, {
          size: f.size[i] as number,
          mtimeMs: f.mtime[i] as number,
          ctimeMs: f.ctime[i] as number,
          ino: f.ino[i] as number,
          mode: f.mode[i] as number,
          sha: f.sha[i] as string,
        });
      });
      const dirs = new Map<string, IndexedDir>();
      d.rel.forEach((rel, i) => {
        dirs.set(rel, {
          mtimeMs: d.mtime[i] as number,
          ctimeMs: d.ctime[i] as number,
          ino: d.ino[i] as number,
          tree: d.tree[i] as string,
        });
      });
      const value: StatIndex = { writtenAt: raw.writtenAt, files, dirs };
      parsedIndexes.set(this.indexFile, { value, stamp });
      return value;
    } catch {
      // A torn or foreign index only costs a full re-hash.
      return undefined;
    }
  }

  /** Records what a snapshot saw: every file's stat and blob, every folder's stamps and tree. */
  async saveIndex(
    state: { records: Map<string, IndexedFile>; dirStamps: Map<string, DirStamp> },
    dirShas: Record<string, string>,
  ): Promise<void> {
    const dirs = new Map<string, IndexedDir>();
    for (const [rel, stamp] of state.dirStamps) {
      const tree = dirShas[rel];
      if (tree) dirs.set(rel, { mtimeMs: stamp.mtimeMs, ctimeMs: stamp.ctimeMs, ino: stamp.ino, tree });
    }
    // The file system's time, not the store's clock: writtenAt is compared with files' mtime and ctime
    // (the racy window), and a pinned clock would make edits right after a snapshot look trusted.
    await this.writeIndex({ writtenAt: Date.now(), files: state.records, dirs });
  }

  /**
   * Replaces the stat index (temp + rename through the Fs port). No fsync: losing it costs one full
   * re-hash, and the rename never leaves a torn file in its place.
   */
  private async writeIndex(value: StatIndex): Promise<void> {
    const raw: StatIndexJson = {
      version: INDEX_VERSION,
      repo: this.repoIdentity(),
      writtenAt: value.writtenAt,
      files: { rel: [], size: [], mtime: [], ctime: [], ino: [], mode: [], sha: [] },
      dirs: { rel: [], mtime: [], ctime: [], ino: [], tree: [] },
    };
    for (const [rel, r] of value.files) {
      raw.files.rel.push(rel);
      raw.files.size.push(r.size);
      raw.files.mtime.push(r.mtimeMs);
      raw.files.ctime.push(r.ctimeMs);
      raw.files.ino.push(r.ino);
      raw.files.mode.push(r.mode);
      raw.files.sha.push(r.sha);
    }
    for (const [rel, r] of value.dirs) {
      raw.dirs.rel.push(rel);
      raw.dirs.mtime.push(r.mtimeMs);
      raw.dirs.ctime.push(r.ctimeMs);
      raw.dirs.ino.push(r.ino);
      raw.dirs.tree.push(r.tree);
    }
    const temp = `${this.indexFile}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`;
    try {
      await io('write', temp, () => this.fs.writeFile(temp, JSON.stringify(raw)));
      await io('rename', this.indexFile, () => this.fs.rename(temp, this.indexFile));
    } catch (err) {
      // Like every failed write, it fails the operation (the previous index stays valid either way).
      await this.fs.unlink(temp).catch(() => undefined);
      throw err;
    }
    const st = nodeFs.statSync(this.indexFile);
    parsedIndexes.set(this.indexFile, { value, stamp: `${st.size}:${st.mtimeMs}:${st.ino}:${raw.repo}` });
  }

  /**
   * After gc: drop index entries whose objects were pruned (the snapshot the index describes may have
   * been), so the next snapshot re-hashes and rebuilds them instead of pointing at nothing.
   */
  async revalidateIndex(): Promise<void> {
    const index = this.loadIndex();
    if (!index) return;
    const shas = [
      ...new Set([
        ...[...index.files.values()].map((r) => r.sha),
        ...[...index.dirs.values()].map((r) => r.tree),
      ]),
    ];
    if (shas.length === 0) return;
    const result = await this.git.pipe(['cat-file', '--batch-check=%(objectname)'], {
      input: shas.map((sha) => `${sha}\n`).join(''),
    });
    const present = new Set(result.stdout.toString('utf8').split('\n').filter(isObjectId));
    if (shas.every((sha) => present.has(sha))) return;
    const files = new Map([...index.files].filter(([, r]) => present.has(r.sha)));
    const dirs = new Map([...index.dirs].filter(([, r]) => present.has(r.tree)));
    await this.writeIndex({ writtenAt: index.writtenAt, files, dirs });
  }
}

/**
 * Parsed stat indexes by file, shared by the stores of one process (the extension opens one per
 * operation). Keyed by the file's size, mtime and inode, so a write by another process is always seen.
 */
const parsedIndexes = new Map<string, { value: StatIndex; stamp: string }>();
