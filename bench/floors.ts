/**
 * `npm run bench` section "floors": what no status, snapshot or update of this collection can go below on
 * this machine, measured in the same run, so the other sections' figures can be read against them:
 * - one `lstat` of every file and folder (an exact check must see an edit saved in place, which moves
 *   neither its folder's mtime nor anything else: every file is asked);
 * - a bare Node start (`node -e 0`) beside the CLI's own start (`--version`);
 * - starting one git process from this process, at its own size and again with ~256 MiB more of live
 *   heap (the extension host's size): Node starts a child with fork + exec, whose cost grows with the
 *   parent's memory.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatBytes, formatCount, formatRows, median, medianOf, reps, runCli } from './util.js';

/** Every file and folder below `dir` (our state and `.git` left out), for one `lstat` each. */
export function entriesBelow(dir: string): string[] {
  const paths: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      if (entry.name === '.artifact-keeper' || entry.name === '.git') continue;
      const abs = `${folder}/${entry.name}`;
      paths.push(abs);
      if (entry.isDirectory()) walk(abs);
    }
  };
  walk(path.resolve(dir));
  return paths;
}

/** Median time of one `lstat` of each of `paths`. */
export function lstatFloor(paths: readonly string[], runs = reps(7)): number {
  return medianOf(runs, () => {
    for (const p of paths) fs.lstatSync(p, { throwIfNoEntry: false });
  }).ms;
}

export async function benchFloors(collectionDir: string): Promise<string[]> {
  const paths = entriesBelow(collectionDir);
  const lstatAll = { ms: lstatFloor(paths) };
  const bareNode = medianOf(reps(5), () => execFileSync(process.execPath, ['-e', '0']));
  const cliStart = median(Array.from({ length: reps(5) }, () => runCli(['--version']).ms));
  const small = await spawnCost();
  const ballast = Array.from({ length: 64 }, () => Buffer.alloc(4 * 1024 * 1024, 1));
  const objects = Array.from({ length: 400_000 }, (_, i) => ({ i, name: `object ${i}` }));
  const large = await spawnCost();
  if (ballast.length + objects.length === 0) throw new Error('unreachable');
  return formatRows([
    {
      label: 'lstat of every file and folder, once',
      ms: lstatAll.ms,
      notes: [
        `${formatCount(paths.length)} calls`,
        `${((lstatAll.ms * 1000) / paths.length).toFixed(1)} µs each`,
        'the floor of any exact status or snapshot of this collection',
      ],
    },
    { label: 'node -e 0', ms: bareNode.ms, notes: ['a bare Node start'] },
    { label: 'node dist/cli.js --version', ms: cliStart, notes: ['the CLI start, bundle loaded'] },
    {
      label: 'one git process (git --version), this process',
      ms: small.ms,
      notes: [`spawn call ${small.spawnMs.toFixed(1)} ms`, `RSS ${formatBytes(small.rss)}`],
    },
    {
      label: '  the same with ~256 MiB more live heap',
      ms: large.ms,
      notes: [`spawn call ${large.spawnMs.toFixed(1)} ms`, `RSS ${formatBytes(large.rss)}`],
    },
  ]);
}

/** Median time to start `git --version` and see it exit, and of the synchronous `spawn` call alone. */
async function spawnCost(): Promise<{ ms: number; spawnMs: number; rss: number }> {
  const total: number[] = [];
  const call: number[] = [];
  for (let i = 0; i < reps(9); i++) {
    const started = performance.now();
    const child = spawn('git', ['--version'], { stdio: 'ignore' });
    call.push(performance.now() - started);
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    total.push(performance.now() - started);
  }
  return { ms: median(total), spawnMs: median(call), rss: process.memoryUsage().rss };
}
