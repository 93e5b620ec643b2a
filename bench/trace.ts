/**
 * The phase breakdown of one CLI command: runs it with `ARTIFACT_KEEPER_TRACE=1`, reads the phases and
 * counters it prints on stderr (src/cli/trace.ts), and turns several runs into rows of medians.
 */
import { spawnSync } from 'node:child_process';
import { CLI, formatCount, median, measure } from './util.js';
import type { Row } from './util.js';

export interface TracedRun {
  /** Wall time from spawn to exit, as the bench's other CLI rows measure it. */
  ms: number;
  stdout: string;
  /** Phase name (indented two spaces per nesting level) → milliseconds, in the order printed. */
  phases: Map<string, number>;
  counts: Map<string, number>;
  /** Milliseconds from the process's start to its exit, as the process saw it. */
  inProcessMs: number;
}

const PHASE = /^artifact-keeper trace: ([\d.]+) ms (\s*)(\S.*)$/;
const COUNT = /^artifact-keeper trace: count (.+) (\d+)$/;

/** Runs the bundled CLI with tracing on; throws on an unexpected exit code like `runCli`. */
export function runCliTraced(args: readonly string[], okCodes: readonly number[] = [0]): TracedRun {
  const { value, ms } = measure(() =>
    spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ARTIFACT_KEEPER_TRACE: '1' },
    }),
  );
  if (value.error) throw value.error;
  if (value.status === null || !okCodes.includes(value.status))
    throw new Error(
      `artifact-keeper ${args.join(' ')} exited ${value.status ?? value.signal}: ${value.stderr}`,
    );
  const phases = new Map<string, number>();
  const counts = new Map<string, number>();
  let inProcessMs = Number.NaN;
  for (const line of value.stderr.split('\n')) {
    const count = COUNT.exec(line);
    if (count) {
      counts.set(count[1] as string, Number(count[2]));
      continue;
    }
    const phase = PHASE.exec(line);
    if (!phase) continue;
    const [, msText = '', indent = '', name = ''] = phase;
    if (name === 'total in process') {
      inProcessMs = Number(msText);
      continue;
    }
    // The printer puts one space before a top-level name and two more per level.
    const key = `${'  '.repeat(Math.max(0, indent.length - 1) / 2)}${name}`;
    phases.set(key, (phases.get(key) ?? 0) + Number(msText));
  }
  return { ms, stdout: value.stdout, phases, counts, inProcessMs };
}

/**
 * Rows of the median of each phase over `runs` (in the order of the first run), then what the phases do
 * not cover (process creation before Node's clock starts, gaps between phases) and the counters.
 */
export function phaseRows(runs: readonly TracedRun[], indent = '  '): Row[] {
  const names: string[] = [];
  for (const run of runs) for (const name of run.phases.keys()) if (!names.includes(name)) names.push(name);
  const of = (name: string): number => median(runs.map((r) => r.phases.get(name) ?? 0));
  const topLevel = (run: TracedRun): number =>
    [...run.phases].filter(([name]) => !name.startsWith(' ')).reduce((sum, [, ms]) => sum + ms, 0);
  const rows: Row[] = names.map((name) => ({ label: `${indent}${name}`, ms: of(name) }));
  rows.push({
    label: `${indent}not in a phase (process creation, gaps)`,
    ms: median(runs.map((r) => r.ms - topLevel(r))),
  });
  rows.push({ label: `${indent}wall, spawn to exit (traced runs)`, ms: median(runs.map((r) => r.ms)) });
  const counters: string[] = [];
  for (const run of runs)
    for (const name of run.counts.keys()) if (!counters.includes(name)) counters.push(name);
  const git = counters.filter((name) => name.startsWith('git '));
  const other = counters.filter((name) => name !== 'git' && !name.startsWith('git '));
  const countOf = (name: string): number => median(runs.map((r) => r.counts.get(name) ?? 0));
  if (counters.includes('git')) {
    rows.push({
      label: `${indent}git processes started`,
      value: formatCount(countOf('git')),
      notes: git.sort().map((name) => `${name.slice(4)} ${formatCount(countOf(name))}`),
    });
  }
  for (const name of other) rows.push({ label: `${indent}${name}`, value: formatCount(countOf(name)) });
  return rows;
}
