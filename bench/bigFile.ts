/**
 * `npm run bench` section "50 MB binary": a skill holding a 50 MB binary (random bytes, which no
 * compression shrinks) added from a local git upstream, then one byte of it changed upstream and the
 * artifact updated end to end through the CLI (snapshot, fetch, plan, commit). Wall time and the peak
 * resident memory of the CLI's Node process (its own `maxRSS`, read at exit; git children are separate
 * processes and not counted), next to copying and hashing the same file in the same run.
 * Goal: ≤ 3 s and ≤ 200 MB.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  formatBytes,
  formatRows,
  git,
  goal,
  measure,
  median,
  reps,
  runCliMeasured,
  versus,
  writeRssProbe,
} from './util.js';
import type { CliRun } from './util.js';

const SIZE = 50 << 20;
const GOAL_MS = 3000;
const GOAL_RSS = 200 << 20;
const BINARY = 'skills/bench-blob/assets/model.bin';

/** The upstream: v1 with the binary, v2 with one byte of it changed. */
function makeUpstream(dir: string): Buffer {
  fs.mkdirSync(path.join(dir, path.dirname(BINARY)), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  fs.writeFileSync(
    path.join(dir, 'skills/bench-blob/SKILL.md'),
    '---\nname: bench-blob\ndescription: a skill with a large binary asset\n---\n# Blob\n',
  );
  const bytes = randomBytes(SIZE);
  fs.writeFileSync(path.join(dir, BINARY), bytes);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v1');
  git(dir, 'tag', 'v1');
  const middle = SIZE >> 1;
  bytes[middle] = (bytes[middle] as number) ^ 0xff;
  fs.writeFileSync(path.join(dir, BINARY), bytes);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v2: one byte');
  git(dir, 'tag', 'v2');
  // A hosting server serves packed objects; loose ones would make git compress 50 MB again on every
  // fetch, which no real upstream costs (large blobs are stored whole, as git's bigFileThreshold says).
  git(dir, '-c', 'core.bigFileThreshold=16m', 'repack', '-adq');
  return bytes;
}

export async function benchBigFile(collectionDir: string): Promise<string[]> {
  const work = path.join(path.dirname(collectionDir), 'bigfile-work');
  fs.mkdirSync(work, { recursive: true });
  try {
    const upstream = path.join(work, 'upstream');
    const v2 = makeUpstream(upstream);
    const probe = writeRssProbe(work);
    const at = (ref: string): string[] => [`${upstream}#skills/bench-blob@${ref}`];
    const add = runCliMeasured(probe, ['add', ...at('v1'), '--collection', collectionDir]);
    const target = path.join(collectionDir, BINARY);
    const updates: CliRun[] = [];
    for (let i = 0; i < reps(3); i++) {
      updates.push(
        runCliMeasured(probe, [
          'update',
          'skill/bench-blob',
          '--to',
          'v2',
          '--strategy',
          'merge',
          '--collection',
          collectionDir,
        ]),
      );
      if (!fs.readFileSync(target).equals(v2)) throw new Error('the update did not bring the new bytes');
      // Back to v1 for the next run, outside the timing.
      runCliMeasured(probe, ['update', 'skill/bench-blob', '--to', 'v1', '--collection', collectionDir]);
    }
    const ms = median(updates.map((u) => u.ms));
    const rss = Math.max(...updates.map((u) => u.rss));

    // The floor of any update of this file, in the same run: copy it, and let git hash it once.
    const copies: number[] = [];
    const hashes: number[] = [];
    for (let i = 0; i < reps(3); i++) {
      const copy = path.join(work, `copy-${i}.bin`);
      copies.push(measure(() => fs.copyFileSync(target, copy, fs.constants.COPYFILE_FICLONE)).ms);
      fs.rmSync(copy);
      hashes.push(measure(() => git(work, 'hash-object', target)).ms);
    }
    const floor = median(copies) + median(hashes);
    const load = os.loadavg()[0] ?? 0;
    return formatRows([
      { label: `add, 50 MiB binary (CLI)`, ms: add.ms, notes: [`peak RSS ${formatBytes(add.rss)}`] },
      {
        label: 'update, 1-byte change (CLI, end to end)',
        ms,
        notes: [goal(ms, GOAL_MS), versus(ms, 'cp + git hash-object of the file', floor)],
      },
      {
        label: 'update peak RSS (the CLI’s Node process)',
        value: formatBytes(rss),
        notes: [
          `goal ≤ ${formatBytes(GOAL_RSS)}: ${rss <= GOAL_RSS ? 'met' : 'MISSED'}`,
          `file ${formatBytes(SIZE)}`,
          `load ${load.toFixed(1)}`,
        ],
      },
    ]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
