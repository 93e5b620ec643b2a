/**
 * Concurrent writers (issue 6): N workers (default 4), each a loop of CLI processes doing random
 * mutations on ONE collection (snapshot, restore, update, add of an artifact of its own) for a bounded
 * time. Afterwards: no lost update (every exit-0 transaction is in history.jsonl exactly once, and no
 * entry is unaccounted for; every snapshot reported is listed), no corruption (`status` clean or
 * modified, and only the artifacts with local edits by design may be modified), every loser exited 5
 * with "locked by pid … on host … since …", nothing left behind. Used by test/unit/concurrency.test.ts
 * (~15 s) and by `campaign.js --concurrency-seconds 60`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rng } from '../unit/support/synthetic.js';
import { buildFixture, cliEnv, SIZES } from './fixture.js';
import type { Size } from './fixture.js';
import { leftovers } from './tree.js';

export type ConcurrentOp = 'snapshot' | 'restore' | 'update' | 'add' | 'deploy';

export interface ConcurrencyOptions {
  seconds: number;
  /**
   * Keep the writers going past `seconds` (up to four times as long) until this many transactions have
   * committed: on a loaded machine 15 s can hold too few commands to prove contention.
   */
  minCommits?: number;
  seed: number;
  cli: string;
  size?: Size;
  workers?: number;
  /**
   * Also run a lock hog (test/unit/support/lockChild.js) that now and then takes the writer lock for
   * longer than a writer waits (3 s) and is then SIGKILLed: writers must lose with exit 5, and the next
   * one must reclaim the dead hog's lock. Default true.
   */
  hog?: boolean;
  root?: string;
  keep?: boolean;
  log?: (line: string) => void;
}

export interface OpRecord {
  worker: number;
  op: ConcurrentOp;
  args: string[];
  code: number;
  startedAt: number;
  ms: number;
  stderr: string;
  /** Transaction id of a committed change (update that updated something, add, restore with changes). */
  txId?: string;
  snapshotId?: string;
}

export interface ConcurrencyReport {
  size: Size;
  seconds: number;
  workers: number;
  seed: number;
  ops: OpRecord[];
  committed: number;
  historyEntries: number;
  hogHolds: number;
  finalStatus: string;
  failures: string[];
  ms: number;
}

const LOCKED_LINE = /^artifact-keeper: locked by pid \d+ on host \S+ since \d{4}-\d\d-\d\dT[\d:.]+Z \(/;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(cli: string, dir: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args, '--collection', dir], {
      cwd: dir,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function runConcurrency(options: ConcurrencyOptions): Promise<ConcurrencyReport> {
  const log = options.log ?? (() => undefined);
  const size = options.size ?? 'small';
  const workers = options.workers ?? 4;
  const started = performance.now();
  const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ak-concurrency-'));
  try {
    const fixture = await buildFixture(root, size, options.cli, (line) => log(`setup: ${line}`));
    const dir = fixture.dir;
    const sizes = SIZES[size];
    const upstreamIds = [
      ...Array.from({ length: sizes.upstreamSkills }, (_, i) => `skill/up-${String(i).padStart(2, '0')}`),
      ...Array.from(
        { length: sizes.upstreamCommands },
        (_, i) => `command/upcmd-${String(i).padStart(2, '0')}`,
      ),
    ];
    // Artifacts whose local edits are part of the design (see fixture.ts) may read `modified`.
    const editedByDesign = new Set([
      ...Array.from({ length: sizes.upstreamSkills }, (_, i) => i)
        .filter((i) => i % 2 === 0)
        .map((i) => `skill/up-${String(i).padStart(2, '0')}`),
      ...Array.from({ length: sizes.upstreamCommands }, (_, i) => i)
        .filter((i) => i % 2 === 0)
        .map((i) => `command/upcmd-${String(i).padStart(2, '0')}`),
    ]);
    const historyFile = path.join(dir, '.artifact-keeper', 'history.jsonl');
    const readHistoryIds = (): string[] => {
      try {
        return fs
          .readFileSync(historyFile, 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => (JSON.parse(line) as { txId: string }).txId);
      } catch {
        return [];
      }
    };
    const historyBefore = new Set(readHistoryIds());
    const snapshotIds: string[] = [fixture.restoreId];
    const ops: OpRecord[] = [];
    const runStart = performance.now();
    const deadline = runStart + options.seconds * 1000;
    const hardDeadline = runStart + options.seconds * 4000;
    log(
      `concurrency: ${workers} workers for ${options.seconds} s on the ${size} collection (${fixture.files} files), seed ${options.seed}`,
    );

    const worker = async (w: number): Promise<void> => {
      const random = rng((options.seed * 7919 + w) >>> 0);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      let added = 0;
      const enough = (): boolean => ops.filter((o) => o.txId).length >= (options.minCommits ?? 0);
      while (performance.now() < deadline || (!enough() && performance.now() < hardDeadline)) {
        const roll = random();
        const op: ConcurrentOp =
          roll < 0.2
            ? 'snapshot'
            : roll < 0.35
              ? 'restore'
              : roll < 0.65
                ? 'update'
                : roll < 0.85
                  ? 'add'
                  : 'deploy';
        let args: string[];
        switch (op) {
          case 'snapshot':
            args = ['snapshot', '-m', `worker ${w}`, '--json'];
            break;
          case 'restore':
            args = ['restore', pick(snapshotIds), '--json'];
            break;
          case 'update':
            args = [
              'update',
              pick(upstreamIds),
              '--strategy',
              pick(['overwrite', 'merge']),
              '--to',
              pick(['v1', 'v2']),
              '--allow-exec',
              '--json',
            ];
            break;
          case 'add':
            args = [
              'add',
              `${fixture.upstream}#skills/extra@${pick(['v1', 'v2'])}`,
              '--name',
              `w${w}-extra-${++added}`,
              '--allow-exec',
              '--json',
            ];
            break;
          case 'deploy':
            // Into the fixture's project (the second store), over its edited copy: merged or kept.
            args = [
              'deploy',
              pick(['up-00', 'upcmd-00']),
              '--project',
              fixture.project,
              '--strategy',
              pick(['merge', 'keep']),
              '--allow-exec',
              '--json',
            ];
            break;
        }
        // Retention would prune snapshots the workers still name (default: the newest 20), by design; the
        // check here is that none is lost, so every command keeps them all.
        if (op !== 'deploy') args.push('--keep', '100000');
        const opStarted = performance.now();
        const result = await runCli(options.cli, dir, args);
        const record: OpRecord = {
          worker: w,
          op,
          args,
          code: result.code,
          startedAt: Math.round(opStarted - runStart),
          ms: Math.round(performance.now() - opStarted),
          stderr: result.stderr.trim(),
        };
        // Exit 3 with conflicts still commits (markers, the artifact conflicted): its txId counts too.
        const json = result.code === 0 || result.code === 3 ? parseJson(result.stdout) : undefined;
        if (json) {
          if (op === 'snapshot' && typeof json.id === 'string') {
            record.snapshotId = json.id;
            snapshotIds.push(json.id);
          }
          if (op === 'add' && typeof json.txId === 'string') record.txId = json.txId;
          if ((op === 'update' || op === 'deploy') && typeof json.txId === 'string' && json.txId !== '')
            record.txId = json.txId;
          if (op === 'restore' && typeof json.txId === 'string' && Number(json.changed) > 0)
            record.txId = json.txId;
        }
        ops.push(record);
      }
    };
    let hogHolds = 0;
    /** When the hog last killed a holder that had the lock (performance.now()). */
    let hogKilledHolding = -Infinity;
    const hog = async (): Promise<void> => {
      const random = rng((options.seed * 104_729) >>> 0);
      const child = path.join(__dirname, '..', 'unit', 'support', 'lockChild.js');
      for (;;) {
        await sleep(1000 + random() * 3000);
        if (performance.now() + 5000 > deadline) return;
        // `race` mode: waits up to 10 s for the lock like any writer, then holds it (until killed here).
        const holder = spawn(process.execPath, [child, 'race', dir, String(Date.now()), '10000', '600000'], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        const got = await new Promise<boolean>((resolve) => {
          holder.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().startsWith('acquired')));
          holder.once('exit', () => resolve(false));
        });
        if (got) {
          hogHolds++;
          await sleep(3500);
        }
        // Killed while holding: its lock is left behind for the next writer to reclaim.
        holder.kill('SIGKILL');
        await new Promise((resolve) =>
          holder.exitCode !== null ? resolve(undefined) : holder.once('exit', resolve),
        );
        if (got) hogKilledHolding = performance.now();
      }
    };
    await Promise.all([
      ...Array.from({ length: workers }, (_, w) => worker(w + 1)),
      ...(options.hog === false ? [] : [hog()]),
    ]);

    const failures: string[] = [];
    // Exit codes: 0 done, 5 locked (the loser of the race), 3 a merge conflict (nothing written).
    for (const op of ops) {
      const where = `worker ${op.worker} ${op.args.join(' ')} (at ${op.startedAt} ms)`;
      if (op.code === 5) {
        const lines = op.stderr.split('\n');
        if (lines.length !== 1 || !LOCKED_LINE.test(lines[0] ?? ''))
          failures.push(
            `${where}: exit 5 without the one-line "locked by pid … on host … since …": ${op.stderr}`,
          );
      } else if (op.code !== 0 && !(op.code === 3 && (op.op === 'update' || op.op === 'deploy'))) {
        failures.push(`${where}: exit ${op.code}: ${op.stderr.split('\n')[0] ?? ''}`);
      }
      if (op.code === 0 && op.op === 'snapshot' && !op.snapshotId)
        failures.push(`${where}: no snapshot id in the output`);
      if (op.code === 0 && op.op === 'add' && !op.txId)
        failures.push(`${where}: no transaction id in the output`);
    }
    // No lost update: the history holds exactly the committed transactions, each once.
    const history = readHistoryIds().filter((id) => !historyBefore.has(id));
    const committed = ops.filter((op) => op.txId !== undefined).map((op) => op.txId as string);
    for (const txId of committed) {
      const times = history.filter((id) => id === txId).length;
      if (times !== 1) failures.push(`transaction ${txId} is in the history ${times} time(s)`);
    }
    for (const txId of new Set(history)) {
      if (!committed.includes(txId)) failures.push(`history entry ${txId} matches no exit-0 command`);
    }
    const listed = parseJson((await runCli(options.cli, dir, ['snapshots', '--json'])).stdout);
    const listedIds = new Set(((listed?.snapshots as { id: string }[] | undefined) ?? []).map((s) => s.id));
    for (const op of ops) {
      if (op.snapshotId && !listedIds.has(op.snapshotId))
        failures.push(`snapshot ${op.snapshotId} of worker ${op.worker} is not listed`);
    }
    // No corruption: consistent, and only designed local edits may read modified.
    const status = await runCli(options.cli, dir, ['status', '--json']);
    const report = parseJson(status.stdout) as
      { state?: string; artifacts?: { id: string; state: string }[] } | undefined;
    const finalStatus = report?.state ?? `unreadable (exit ${status.code})`;
    if (status.code !== 0 && status.code !== 1)
      failures.push(`final status exit ${status.code}: ${finalStatus} ${status.stderr.trim()}`);
    for (const artifact of report?.artifacts ?? []) {
      if (artifact.state === 'clean') continue;
      if (artifact.state === 'modified' && editedByDesign.has(artifact.id)) continue;
      failures.push(`artifact ${artifact.id} is ${artifact.state} after the run`);
    }
    // The hog may get the lock after the workers' last command (it waits up to 10 s for it): then no
    // writer came after to reclaim the lock of the holder it killed. The next one must, and leave none.
    const lastOpStarted = Math.max(-Infinity, ...ops.map((op) => runStart + op.startedAt));
    if (hogKilledHolding > lastOpStarted) {
      const reclaim = await runCli(options.cli, dir, ['recover']);
      if (reclaim.code !== 0)
        failures.push(`recover after the hog's last hold: exit ${reclaim.code}: ${reclaim.stderr.trim()}`);
    }
    const left = leftovers(dir);
    if (left.length > 0) failures.push(`left behind: ${left.join(', ')}`);
    // The project the deploys wrote reads: its tracking file parses, every record is where it says.
    const drift = await runCli(options.cli, dir, ['drift', '--project', fixture.project, '--json']);
    if (drift.code !== 0 && drift.code !== 1)
      failures.push(`drift of the project: exit ${drift.code}: ${drift.stderr.trim()}`);
    const result: ConcurrencyReport = {
      size,
      seconds: options.seconds,
      workers,
      seed: options.seed,
      ops,
      committed: committed.length,
      historyEntries: history.length,
      hogHolds,
      finalStatus,
      failures,
      ms: performance.now() - started,
    };
    return result;
  } finally {
    if (!options.keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

export function summarizeConcurrency(report: ConcurrencyReport): string[] {
  const byOp = (op: ConcurrentOp): string => {
    const list = report.ops.filter((o) => o.op === op);
    const codes = [...new Set(list.map((o) => o.code))].sort((a, b) => a - b);
    return `${op} ${list.length} (${codes.map((c) => `exit ${c}: ${list.filter((o) => o.code === c).length}`).join(', ')})`;
  };
  const losers = report.ops.filter((o) => o.code === 5).length;
  return [
    `concurrency: ${report.workers} workers, ${report.seconds} s, ${report.ops.length} commands: ${(['snapshot', 'restore', 'update', 'add', 'deploy'] as const).map(byOp).join('; ')}`,
    `concurrency: ${report.committed} committed transactions, ${report.historyEntries} new history entries, ${losers} losers exited 5, the lock hog held the lock ${report.hogHolds} time(s) and was killed each time, final status ${report.finalStatus}`,
    ...report.failures.map((f) => `concurrency: FAILED: ${f}`),
    `concurrency: ${report.failures.length === 0 ? 1 : 0} passed, ${report.failures.length === 0 ? 0 : 1} failed (seed ${report.seed})`,
  ];
}
