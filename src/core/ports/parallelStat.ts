/**
 * The stamps of many paths at once, taken by this thread and one helper thread together. A warm status
 * is one stat per file and folder and little else, and those system calls run in parallel: on this
 * 2-core machine 15,104 of them take 47 ms on two threads against 88 ms on one (a C loop: 24 and 48).
 *
 * Both threads claim chunks of the list from a shared counter, so a helper still starting (about 30 ms
 * in a new process) or busy elsewhere only means this thread takes more chunks; nothing waits on it but
 * a chunk it has claimed. The helper is one plain worker for the whole process, unref'd (it never keeps
 * a process alive), made on first use; if it cannot start, dies, or leaves a claimed chunk unfinished for
 * `HELPER_TIMEOUT_MS`, this thread stats that chunk itself and every later call runs on this thread
 * alone. The caller gets a table of its own, never the shared one.
 *
 * A stamp is what the stat cache records of a path: `lstat`, then `stat` when it is a symlink (the cache
 * stamps what a link points at); a path that cannot be stat'ed (gone, ENOTDIR, EACCES) is `missing`. The
 * snapshot scan asks for the links themselves (`links: 'keep'`): a symlink is then `link`, with its own
 * `lstat`.
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { traceCount } from '../base/trace.js';

/** Numbers per path in a table: kind, size, mtimeMs, ctimeMs, ino, mode (st_mode, type bits included). */
export const STAMP_FIELDS = 6;
export const STAMP_MISSING = 0;
export const STAMP_FILE = 1;
export const STAMP_DIR = 2;
export const STAMP_OTHER = 3;
/** A symlink itself, when links are kept (`links: 'keep'`). */
export const STAMP_LINK = 4;

export interface StatManyOptions {
  /** `follow` (the default): a symlink's stamp is its target's. `keep`: the link's own, as `link`. */
  links?: 'follow' | 'keep';
  /** On this thread alone, whatever the list's length (a one-off process: see CheckOptions.parallelStat). */
  oneThread?: boolean;
}

/** Below this many paths the messages cost more than the second thread saves. */
const PARALLEL_MIN_PATHS = 2_000;
const CHUNK_PATHS = 256;
/** A helper that holds a claimed chunk this long is stuck or gone: its chunks are done here. */
const HELPER_TIMEOUT_MS = 2_000;

/** The helper's whole program: the same stamp as `stampInto`, for the chunks it claims. */
const HELPER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ paths, chunk, claims, table, follow }) => {
  const list = paths.split('\\0');
  const claim = new Int32Array(claims);
  const out = new Float64Array(table);
  const chunks = Math.ceil(list.length / chunk);
  for (let c = Atomics.add(claim, 0, 1); c < chunks; c = Atomics.add(claim, 0, 1)) {
    const end = Math.min(list.length, (c + 1) * chunk);
    for (let i = c * chunk; i < end; i++) {
      let st;
      try {
        st = fs.lstatSync(list[i], { throwIfNoEntry: false });
        if (follow && st && st.isSymbolicLink()) st = fs.statSync(list[i], { throwIfNoEntry: false });
      } catch {
        st = undefined;
      }
      const o = i * ${STAMP_FIELDS};
      out[o] = !st ? ${STAMP_MISSING} : st.isFile() ? ${STAMP_FILE} : st.isDirectory() ? ${STAMP_DIR} : st.isSymbolicLink() ? ${STAMP_LINK} : ${STAMP_OTHER};
      if (st) { out[o + 1] = st.size; out[o + 2] = st.mtimeMs; out[o + 3] = st.ctimeMs; out[o + 4] = st.ino; out[o + 5] = st.mode; }
    }
    Atomics.store(claim, 1 + c, 1);
    Atomics.notify(claim, 1 + c);
  }
});
`;

let helper: Worker | null | undefined;

function helperThread(): Worker | null {
  if (helper !== undefined) return helper;
  try {
    const worker = new Worker(HELPER_SOURCE, { eval: true });
    worker.unref();
    const lost = (): void => {
      if (helper === worker) helper = null;
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    helper = worker;
  } catch {
    helper = null;
  }
  return helper;
}

/**
 * Starts the helper thread now (a command that will check a large collection soon), so that its start
 * overlaps the reading of manifest, lock and caches. Never throws.
 */
export function warmStatHelper(): void {
  helperThread();
}

/** The stamp of `file` into `table` at index `i`. */
function stampInto(table: Float64Array, i: number, file: string | Buffer, follow: boolean): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (follow && st?.isSymbolicLink()) st = fs.statSync(file, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  const o = i * STAMP_FIELDS;
  if (!st) {
    table[o] = STAMP_MISSING;
    return;
  }
  table[o] = st.isFile()
    ? STAMP_FILE
    : st.isDirectory()
      ? STAMP_DIR
      : st.isSymbolicLink()
        ? STAMP_LINK
        : STAMP_OTHER;
  table[o + 1] = st.size;
  table[o + 2] = st.mtimeMs;
  table[o + 3] = st.ctimeMs;
  table[o + 4] = st.ino;
  table[o + 5] = st.mode;
}

/**
 * The stamps of `paths` (strings, or the bytes of a name that is not UTF-8), `STAMP_FIELDS` numbers each
 * in their order. Runs on this thread alone for a short list, a list with bytes, or without a helper.
 */
export function statMany(paths: readonly (string | Buffer)[], options: StatManyOptions = {}): Float64Array {
  const follow = options.links !== 'keep';
  const worker =
    !options.oneThread && paths.length >= PARALLEL_MIN_PATHS && paths.every((p) => typeof p === 'string')
      ? helperThread()
      : null;
  if (!worker) {
    const table = new Float64Array(paths.length * STAMP_FIELDS);
    for (let i = 0; i < paths.length; i++) stampInto(table, i, paths[i] as string | Buffer, follow);
    return table;
  }
  const chunks = Math.ceil(paths.length / CHUNK_PATHS);
  const claims = new SharedArrayBuffer((1 + chunks) * Int32Array.BYTES_PER_ELEMENT);
  const shared = new SharedArrayBuffer(paths.length * STAMP_FIELDS * Float64Array.BYTES_PER_ELEMENT);
  const claim = new Int32Array(claims);
  const table = new Float64Array(shared);
  worker.postMessage({ paths: paths.join('\0'), chunk: CHUNK_PATHS, claims, table: shared, follow });
  const mine = new Set<number>();
  for (let c = Atomics.add(claim, 0, 1); c < chunks; c = Atomics.add(claim, 0, 1)) {
    mine.add(c);
    statChunk(table, paths, c, follow);
  }
  // Every chunk is claimed now; wait for the helper's to be finished.
  const stuck: number[] = [];
  for (let c = 0; c < chunks; c++) {
    if (mine.has(c)) continue;
    if (Atomics.wait(claim, 1 + c, 0, HELPER_TIMEOUT_MS) === 'timed-out' && Atomics.load(claim, 1 + c) === 0)
      stuck.push(c);
  }
  traceCount('stat chunks taken by the helper thread', chunks - mine.size - stuck.length);
  traceCount('stat chunks taken by this thread', mine.size + stuck.length);
  // A copy of our own: a stuck helper may still write into the shared table.
  const own = table.slice();
  if (stuck.length > 0) {
    helper = null;
    void worker.terminate();
    for (const c of stuck) statChunk(own, paths, c, follow);
  }
  return own;
}

function statChunk(
  table: Float64Array,
  paths: readonly (string | Buffer)[],
  c: number,
  follow: boolean,
): void {
  const end = Math.min(paths.length, (c + 1) * CHUNK_PATHS);
  for (let i = c * CHUNK_PATHS; i < end; i++) stampInto(table, i, paths[i] as string | Buffer, follow);
}
