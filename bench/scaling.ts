/**
 * `npm run bench` section "scaling": status, snapshot and update on collections of 200, 2,000 and
 * 20,000 artifacts, each generated here (half skills, a quarter commands, a quarter agents, as in the
 * 2,000-artifact collection), to show that their cost follows what changed, not the collection's size.
 * Per size: status warm (in-process and CLI end to end), a snapshot after one changed file (CLI), and an
 * update of one skill from a local git upstream with a merge (CLI, as the "update" section). The first
 * snapshot of each collection (taken by `add`) and the generation are shown too: they do grow with size.
 * `BENCH_SCALING_MAX=2000` stops at that size (default 20,000; 2,000 with `BENCH_QUICK=1`). At 20,000
 * (~110k files, ~390 MiB) the first snapshot is most of the section's time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkCollection } from '../src/core/status/consistency.js';
import { entriesBelow, lstatFloor } from './floors.js';
import { generateCollection } from './generate.js';
import { makeUpstream } from './update.js';
import {
  formatBytes,
  formatCount,
  formatMs,
  measure,
  median,
  medianOfAsync,
  QUICK,
  reps,
  runCli,
  sleep,
} from './util.js';

const SIZES = [200, 2_000, 20_000];
/** The stat cache and the snapshot index distrust stamps younger than 2 s: wait that out. */
const RACY_WINDOW_MS = 2_100;

interface SizeFigures {
  artifacts: number;
  files: number;
  bytes: number;
  generateMs: number;
  statusWarm: number;
  /** One lstat of every file and folder: what an exact status or snapshot cannot go below. */
  floor: number;
  statusCli: number;
  firstSnapshot: number;
  snapshot1: number;
  update1: number;
  load: number;
}

export async function benchScaling(collectionDir: string): Promise<string[]> {
  const max = Number(process.env.BENCH_SCALING_MAX ?? (QUICK ? 2_000 : 20_000));
  const sizes = SIZES.filter((n) => n <= max);
  const root = path.join(path.dirname(collectionDir), 'scaling');
  const figures: SizeFigures[] = [];
  try {
    for (const size of sizes) {
      const dir = path.join(root, `collection-${size}`);
      try {
        figures.push(await measureSize(dir, size, path.join(root, `upstream-${size}`)));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return table(figures, max);
}

async function measureSize(dir: string, size: number, upstream: string): Promise<SizeFigures> {
  fs.mkdirSync(dir, { recursive: true });
  const generated = measure(() =>
    generateCollection(dir, { skills: size / 2, commands: size / 4, agents: size / 4 }),
  );
  await sleep(RACY_WINDOW_MS);

  // Status: the first check fills the stat cache; warm checks then re-hash nothing.
  const first = await checkCollection(dir);
  if (first.state !== 'clean') throw new Error(`the ${size}-artifact collection is ${first.state}`);
  const warm = await medianOfAsync(reps(5), async () => {
    const report = await checkCollection(dir);
    if (report.rehashed !== 0) throw new Error(`status warm re-hashed ${report.rehashed} artifacts`);
  });
  const floor = lstatFloor(entriesBelow(dir), reps(5));
  runCli(['status', '--collection', dir]); // the CLI's first status writes its check record
  const statusCli = median(Array.from({ length: reps(3) }, () => runCli(['status', '--collection', dir]).ms));

  // The first snapshot (of everything) is taken by `add`, which brings in the skill the update moves.
  makeUpstream(upstream);
  const add = runCli(['add', `${upstream}#skills/bench-pdf@v1`, '--collection', dir]);
  const skill = path.join(dir, 'skills/bench-pdf/SKILL.md');
  fs.writeFileSync(
    skill,
    fs.readFileSync(skill, 'utf8').replace('line 150 v1', 'line 150 v1, my local note'),
  );

  // Snapshot after one change: one more line in one file of another skill, the stamps of the rest settled.
  const other = path.join(dir, generated.value.skillPaths[0] as string, 'SKILL.md');
  const snapshots: number[] = [];
  for (let i = 0; i < reps(3); i++) {
    await sleep(RACY_WINDOW_MS);
    fs.appendFileSync(other, `\nScaling edit ${i + 1}.\n`);
    snapshots.push(runCli(['snapshot', '-m', `scaling ${i + 1}`, '--collection', dir]).ms);
  }

  // Update one skill with a merge, then restore the snapshot before it (untimed), as the "update" section.
  const baseline = runCli(['snapshot', '-m', 'scaling baseline', '--json', '--collection', dir]);
  const baselineId = (JSON.parse(baseline.stdout) as { id: string }).id;
  const updates: number[] = [];
  for (let i = 0; i < reps(3); i++) {
    await sleep(RACY_WINDOW_MS);
    updates.push(
      runCli(['update', 'skill/bench-pdf', '--to', 'v2', '--strategy', 'merge', '--collection', dir]).ms,
    );
    if (!fs.readFileSync(skill, 'utf8').includes('line 10 v2 from upstream'))
      throw new Error('the update did not apply');
    runCli(['restore', baselineId, '--collection', dir]);
  }
  fs.rmSync(upstream, { recursive: true, force: true });

  return {
    artifacts: generated.value.artifacts,
    files: generated.value.files,
    bytes: generated.value.bytes,
    generateMs: generated.ms,
    statusWarm: warm.ms,
    floor,
    statusCli,
    firstSnapshot: add.ms,
    snapshot1: median(snapshots),
    update1: median(updates),
    load: os.loadavg()[0] ?? 0,
  };
}

function table(figures: readonly SizeFigures[], max: number): string[] {
  const columns: [string, (f: SizeFigures) => string][] = [
    ['artifacts', (f) => formatCount(f.artifacts)],
    ['files', (f) => formatCount(f.files)],
    ['size', (f) => formatBytes(f.bytes)],
    ['lstat floor', (f) => formatMs(f.floor)],
    ['status warm', (f) => formatMs(f.statusWarm)],
    ['status CLI', (f) => formatMs(f.statusCli)],
    ['snapshot, 1 change', (f) => formatMs(f.snapshot1)],
    ['update 1 skill', (f) => formatMs(f.update1)],
    ['first snapshot (add)', (f) => formatMs(f.firstSnapshot)],
    ['generate', (f) => formatMs(f.generateMs)],
    ['load', (f) => f.load.toFixed(1)],
  ];
  const cells = [columns.map(([name]) => name), ...figures.map((f) => columns.map(([, cell]) => cell(f)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  const lines = cells.map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  '),
  );
  const first = figures[0];
  const last = figures[figures.length - 1];
  const growth =
    first && last && last !== first
      ? [
          '',
          `${formatCount(last.artifacts / first.artifacts)}× the artifacts: ` +
            `status warm ${(last.statusWarm / first.statusWarm).toFixed(1)}×, ` +
            `snapshot after 1 change ${(last.snapshot1 / first.snapshot1).toFixed(1)}×, ` +
            `update of 1 skill ${(last.update1 / first.update1).toFixed(1)}× ` +
            `(the first snapshot: ${(last.firstSnapshot / first.firstSnapshot).toFixed(1)}×)`,
        ]
      : [];
  return [
    ...lines,
    ...growth,
    '',
    'lstat floor: one lstat of every file and folder (bench section "floors"); status warm: in-process' +
      ' checkCollection, median of 5; CLI rows: node dist/cli.js end to end, median of 3.',
    'A cost that follows only what changed stays near 1× as the collection grows; one that stats every file' +
      ' (status, a snapshot scan) grows with the file count, far below re-hashing it.' +
      (max < 20_000 ? ` Capped at ${formatCount(max)} (BENCH_SCALING_MAX).` : ''),
  ];
}
