/**
 * Stamps taken on two threads (ports/parallelStat.ts) are the stamps one thread takes, and a check that
 * takes them that way (CheckOptions.parallelStat, as the extension's check worker runs it) reports what
 * the one-thread check reports, edit for edit, on a collection large enough for the helper to take part.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { generateCollection } from '../../bench/generate.js';
import { startTrace, traceReport } from '../../src/core/base/trace.js';
import {
  STAMP_DIR,
  STAMP_FIELDS,
  STAMP_FILE,
  STAMP_LINK,
  STAMP_MISSING,
  STAMP_OTHER,
  statMany,
  warmStatHelper,
} from '../../src/core/ports/parallelStat.js';
import { silentLogger } from '../../src/core/base/changes.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import { RACY_WINDOW_MS, SNAPSHOT_INDEX_FILE } from '../../src/core/store/statIndex.js';
import { checkCollection } from '../../src/core/status/consistency.js';
import type { ConsistencyReport } from '../../src/core/status/consistency.js';
import { emptyStatCache } from '../../src/core/status/statCache.js';
import type { StatCache } from '../../src/core/status/statCache.js';
import { tempDir } from './support/collections.js';

/** What one `lstat` (then `stat` for a link) says of `file`, as a stamp. */
function oneByOne(file: string): number[] {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(file);
    if (st.isSymbolicLink()) st = fs.statSync(file);
  } catch {
    return [STAMP_MISSING];
  }
  const kind = st.isFile() ? STAMP_FILE : st.isDirectory() ? STAMP_DIR : STAMP_OTHER;
  return [kind, st.size, st.mtimeMs, st.ctimeMs, st.ino, st.mode];
}

/** What one `lstat` says of `file`, links kept (`links: 'keep'`, as the snapshot scan asks). */
function lstatOne(file: string): number[] {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return [STAMP_MISSING];
  }
  // From the type bits of st_mode, not the Stats methods statMany uses: an independent reading.
  const kind = KIND_OF_TYPE.get(st.mode & 0o170000) ?? STAMP_OTHER;
  return [kind, st.size, st.mtimeMs, st.ctimeMs, st.ino, st.mode];
}

const KIND_OF_TYPE = new Map([
  [0o100000, STAMP_FILE],
  [0o040000, STAMP_DIR],
  [0o120000, STAMP_LINK],
]);

function stampsOf(table: Float64Array, count: number): number[][] {
  return Array.from({ length: count }, (_, i) => {
    const stamp = Array.from(table.subarray(i * STAMP_FIELDS, (i + 1) * STAMP_FIELDS));
    return stamp[0] === STAMP_MISSING ? [STAMP_MISSING] : stamp;
  });
}

const helperChunks = (): number => traceReport()?.counts['stat chunks taken by the helper thread'] ?? 0;

void describe('stamps on two threads', () => {
  void it('are what one thread sees, path for path, with the helper taking chunks', async () => {
    const dir = tempDir();
    const paths: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      const file = path.join(dir, `f${i}.md`);
      fs.writeFileSync(file, 'x'.repeat(i % 97));
      paths.push(file);
    }
    fs.mkdirSync(path.join(dir, 'folder'));
    fs.symlinkSync('f1.md', path.join(dir, 'link'));
    fs.symlinkSync('nowhere', path.join(dir, 'dangling'));
    fs.symlinkSync('folder', path.join(dir, 'folder-link'));
    // A folder, a link to a file, one to nothing, one to a folder, nothing, a path through a file (ENOTDIR), the folder itself.
    const odd = ['folder', 'link', 'dangling', 'folder-link', 'gone.md', 'f2.md/below', '.'];
    // Spread through the list, so that both threads meet them.
    for (const [k, name] of odd.entries()) paths.splice(k * 400, 0, path.join(dir, name));

    startTrace();
    warmStatHelper();
    let taken = 0;
    for (let round = 0; round < 5 && taken === 0; round++) {
      await sleep(200); // the helper starts in the meantime
      const before = helperChunks();
      const table = statMany(paths);
      taken = helperChunks() - before;
      assert.deepEqual(stampsOf(table, paths.length), paths.map(oneByOne));
    }
    assert.ok(taken > 0, 'the helper thread took part');
    const kinds = stampsOf(statMany(paths), paths.length).map((s) => s[0]);
    assert.deepEqual(
      odd.map((_, k) => kinds[k * 400]),
      [STAMP_DIR, STAMP_FILE, STAMP_MISSING, STAMP_DIR, STAMP_MISSING, STAMP_MISSING, STAMP_DIR],
    );
    // Links kept: each link's own lstat, on both threads.
    let kept: number[][] = [];
    taken = 0;
    for (let round = 0; round < 5 && taken === 0; round++) {
      const before = helperChunks();
      kept = stampsOf(statMany(paths, { links: 'keep' }), paths.length);
      taken = helperChunks() - before;
      assert.deepEqual(kept, paths.map(lstatOne));
      await sleep(50);
    }
    assert.ok(taken > 0, 'the helper thread took part, links kept');
    assert.deepEqual(
      odd.map((_, k) => kept[k * 400]?.[0]),
      [STAMP_DIR, STAMP_LINK, STAMP_LINK, STAMP_LINK, STAMP_MISSING, STAMP_MISSING, STAMP_DIR],
    );
  });

  void it('a short list or a name in bytes is stat’ed on this thread alone, to the same stamps', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.md'), 'a');
    const raw = Buffer.concat([Buffer.from(`${dir}/b-`), Buffer.of(0xff), Buffer.from('.md')]);
    fs.writeFileSync(raw, 'bb');
    startTrace();
    const before = helperChunks();
    const table = statMany([path.join(dir, 'a.md'), raw, path.join(dir, 'missing')]);
    assert.equal(helperChunks(), before);
    const rawStat = fs.statSync(raw);
    assert.deepEqual(stampsOf(table, 3), [
      oneByOne(path.join(dir, 'a.md')),
      [STAMP_FILE, 2, rawStat.mtimeMs, rawStat.ctimeMs, rawStat.ino, rawStat.mode],
      [STAMP_MISSING],
    ]);
  });
});

void describe('a check with the stamps on two threads', () => {
  void it('reports what the one-thread check reports after every kind of edit', async () => {
    const dir = path.join(tempDir(), 'collection');
    const generated = generateCollection(dir, { skills: 300, commands: 60, agents: 60, seed: 7 });
    assert.ok(generated.files > 2_000, `${generated.files} files: enough for the helper`);
    const later = (): number => Date.now() + 60_000; // no stamp racy: the caches are trusted
    const caches: Record<'one' | 'two', StatCache> = { one: emptyStatCache(), two: emptyStatCache() };
    const check = async (): Promise<[ConsistencyReport, ConsistencyReport]> => {
      const one = await checkCollection(dir, { cache: caches.one, persist: false, now: later });
      const two = await checkCollection(dir, {
        cache: caches.two,
        persist: false,
        now: later,
        parallelStat: true,
      });
      return [one, two];
    };
    const [first] = await check();
    assert.equal(first.state, 'clean');
    startTrace();
    const chunksBefore = helperChunks();
    const [one, two] = await check();
    assert.deepEqual(two, one);
    assert.equal(two.rehashed, 0);

    const skill = (k: number): string => path.join(dir, generated.skillPaths[k] as string);
    const edits: [string, () => void, number][] = [
      ['a file rewritten with the same size', () => rewriteSameSize(path.join(skill(1), 'SKILL.md')), 1],
      [
        'a file added in a subfolder',
        () => fs.writeFileSync(path.join(skill(2), 'ref', 'new.md'), 'new\n'),
        1,
      ],
      ['a file removed', () => fs.rmSync(firstFileIn(path.join(skill(3), 'ref'))), 1],
      ['a folder replaced by a copy (new inodes)', () => replaceByCopy(skill(4)), 1],
      ['a file replaced by a link to the same bytes', () => linkToCopy(path.join(skill(5), 'SKILL.md')), 1],
      ['a skill removed', () => fs.rmSync(skill(6), { recursive: true }), 0],
      ['a skill folder replaced by a file', () => replaceByFile(skill(7)), 1],
      // Walked again (its folder stamps changed), but no file's stamp did: nothing to re-hash.
      ['an empty folder added', () => fs.mkdirSync(path.join(skill(8), 'empty')), 0],
    ];
    const seen: string[] = [];
    for (const [what, edit, rehashed] of edits) {
      edit();
      const [afterOne, afterTwo] = await check();
      assert.deepEqual(afterTwo, afterOne, what);
      assert.equal(afterTwo.rehashed, rehashed, `${what}: re-hashed`);
      seen.push(...afterTwo.findings.map((f) => `${f.code} ${f.artifact}`));
    }
    // Every edit that changes content was reported (a copy of the same files, or an empty folder, does not).
    for (const k of [1, 2, 3, 5, 6, 7]) {
      const id = `skill/${path.basename(skill(k))}`;
      assert.ok(
        seen.some((s) => s.endsWith(` ${id}`)),
        `${id} reported: ${seen.join(', ')}`,
      );
    }
    assert.ok(helperChunks() > chunksBefore, 'the helper thread took part in the checks');
  });
});

void describe('a snapshot scan with the stamps on two threads', () => {
  void it('holds what a scan without a stat index holds, after every kind of edit', async () => {
    const dir = path.join(tempDir(), 'collection');
    const generated = generateCollection(dir, { skills: 300, commands: 60, agents: 60, seed: 11 });
    warmStatHelper();
    await sleep(RACY_WINDOW_MS + 100); // the stamps of the files just written may be trusted
    const options = { fs: nodeFs, logger: silentLogger, tool: 'test' };
    const indexFile = path.join(dir, '.artifact-keeper', SNAPSHOT_INDEX_FILE);
    /** The tree of the collection as it is now: the two-thread scan's, and one hashing every file. */
    const trees = async (what: string): Promise<{ two: string; truth: string; hashed: number }> => {
      const two = await openSnapshotStore(dir, { ...options, parallelStat: true });
      const withIndex = await two.create({ reason: `${what}, two threads`, trigger: 'user' });
      const hashed = two.lastScan?.hashed ?? -1;
      two.close();
      fs.rmSync(indexFile);
      const one = await openSnapshotStore(dir, options);
      const everything = await one.create({ reason: `${what}, no index`, trigger: 'user' });
      one.close();
      return { two: withIndex.tree, truth: everything.tree, hashed };
    };
    startTrace();
    const chunksBefore = helperChunks();
    const first = await trees('first');
    assert.equal(first.two, first.truth);
    await sleep(RACY_WINDOW_MS + 100);
    const unchanged = await trees('unchanged');
    assert.equal(unchanged.two, unchanged.truth);
    assert.equal(unchanged.hashed, 0, 'nothing re-hashed: the index was trusted');

    const skill = (k: number): string => path.join(dir, generated.skillPaths[k] as string);
    const edits: [string, () => void][] = [
      ['a file rewritten with the same size', () => rewriteSameSize(path.join(skill(1), 'SKILL.md'))],
      ['a file added in a subfolder', () => fs.writeFileSync(path.join(skill(2), 'ref', 'new.md'), 'new\n')],
      ['a file removed', () => fs.rmSync(firstFileIn(path.join(skill(3), 'ref')))],
      ['a folder replaced by a copy (new inodes)', () => replaceByCopy(skill(4))],
      ['a file replaced by a link to the same bytes', () => linkToCopy(path.join(skill(5), 'SKILL.md'))],
      ['a skill removed', () => fs.rmSync(skill(6), { recursive: true })],
      ['a skill folder replaced by a file', () => replaceByFile(skill(7))],
      ['an empty folder added', () => fs.mkdirSync(path.join(skill(8), 'empty'))],
      ['a script made executable', () => fs.chmodSync(path.join(skill(9), 'SKILL.md'), 0o755)],
    ];
    const seen = new Set<string>([unchanged.truth]);
    for (const [what, edit] of edits) {
      edit();
      const after = await trees(what);
      assert.equal(after.two, after.truth, what);
      // Every edit but a copy of the same files changes the tree: the check above compared something new.
      if (!what.includes('copy')) assert.ok(!seen.has(after.truth), `${what}: a new tree`);
      seen.add(after.truth);
    }
    assert.ok(helperChunks() > chunksBefore, 'the helper thread took part in the scans');
  });
});

function rewriteSameSize(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[0] = bytes[0] === 0x41 ? 0x42 : 0x41;
  fs.writeFileSync(file, bytes);
  // Stamped 5 s ahead, so its stamp differs even on a file system with a coarse clock.
  const future = new Date(Date.now() + 5_000);
  fs.utimesSync(file, future, future);
}

function firstFileIn(folder: string): string {
  const name = fs.readdirSync(folder).sort()[0];
  assert.ok(name, `${folder} has a file`);
  return path.join(folder, name);
}

function replaceByCopy(folder: string): void {
  fs.cpSync(folder, `${folder}.copy`, { recursive: true, preserveTimestamps: true });
  fs.rmSync(folder, { recursive: true });
  fs.renameSync(`${folder}.copy`, folder);
}

function linkToCopy(file: string): void {
  fs.copyFileSync(file, `${file}.target`);
  fs.rmSync(file);
  fs.symlinkSync(path.basename(`${file}.target`), file);
}

function replaceByFile(folder: string): void {
  fs.rmSync(folder, { recursive: true });
  fs.writeFileSync(folder, 'now a file\n');
}
