/**
 * Small helpers shared by the bench sections: wall-clock timing, medians, a table printer that puts a
 * figure, its baseline and the ratio on one line, and the `BENCH_QUICK=1` switch for short runs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `BENCH_QUICK=1`: the 100-skill collection and fewer repetitions (a smoke run, not figures to quote). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** Repetitions for a measurement: `n`, or fewer in quick mode. */
export function reps(n: number): number {
  return QUICK ? Math.max(1, Math.ceil(n / 2)) : n;
}

/** Milliseconds taken by a synchronous `fn`. */
export function time(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Milliseconds taken by an asynchronous `fn`. */
export async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Runs `fn` and returns its value with the milliseconds it took. */
export function measure<T>(fn: () => T): { value: T; ms: number } {
  const start = process.hrtime.bigint();
  const value = fn();
  return { value, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

export function median(runs: readonly number[]): number {
  if (runs.length === 0) return Number.NaN;
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** `medianOf` for async work: each run is timed until its promise settles. */
export async function medianOfAsync(
  n: number,
  fn: () => Promise<unknown>,
  before?: () => void,
): Promise<{ ms: number; runs: number[] }> {
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    runs.push(await timeAsync(fn));
  }
  return { ms: median(runs), runs };
}

/** Runs `fn` `n` times (with `before` run untimed ahead of each) and returns the median milliseconds. */
export function medianOf(n: number, fn: () => unknown, before?: () => void): { ms: number; runs: number[] } {
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    runs.push(time(fn));
  }
  return { ms: median(runs), runs };
}

const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const noDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1,234.5 ms`, or `2.35 s` from ten seconds up. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (Math.abs(ms) >= 10_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${oneDecimal.format(ms)} ms`;
}

export function formatCount(n: number): string {
  return noDecimal.format(n);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${oneDecimal.format(bytes / (1 << 20))} MiB`;
  if (bytes >= 1 << 10) return `${oneDecimal.format(bytes / (1 << 10))} KiB`;
  return `${bytes} B`;
}

/** `29.3× faster` / `1.8× slower`: how `ms` compares with `baselineMs`. */
export function ratio(ms: number, baselineMs: number): string {
  if (!(ms > 0) || !(baselineMs > 0)) return 'n/a';
  const r = baselineMs / ms;
  return r >= 1 ? `${oneDecimal.format(r)}× faster` : `${oneDecimal.format(1 / r)}× slower`;
}

/** `full re-hash 1,234.5 ms, 29.3× faster`. */
export function versus(ms: number, baselineLabel: string, baselineMs: number): string {
  return `${baselineLabel} ${formatMs(baselineMs)}, ${ratio(ms, baselineMs)}`;
}

/** `goal ≤ 100 ms: met` / `goal ≤ 100 ms: MISSED`. */
export function goal(ms: number, limitMs: number, what = ''): string {
  return `goal ${what}≤ ${noDecimal.format(limitMs)} ms: ${ms <= limitMs ? 'met' : 'MISSED'}`;
}

export interface Row {
  label: string;
  /** The figure, in milliseconds; omitted for text-only rows. */
  ms?: number;
  /** Shown right-aligned in the figure column instead of `ms` (e.g. a count). */
  value?: string;
  /** Comparisons and goals, printed in parentheses after the figure. */
  notes?: string[];
}

/**
 * Lines like `status warm             42.1 ms   (full re-hash 1,234.5 ms, 29.3× faster)`, with the labels
 * and figures of all rows aligned.
 */
export function formatRows(rows: readonly Row[]): string[] {
  const cell = (r: Row): string => r.value ?? (r.ms === undefined ? '' : formatMs(r.ms));
  const labelWidth = Math.max(0, ...rows.map((r) => r.label.length)) + 2;
  const valueWidth = Math.max(0, ...rows.map((r) => cell(r).length));
  return rows.map((r) => {
    const notes = r.notes && r.notes.length > 0 ? `   (${r.notes.join(', ')})` : '';
    return `${r.label.padEnd(labelWidth)}${cell(r).padStart(valueWidth)}${notes}`.trimEnd();
  });
}

/** A section heading followed by its lines, indented. */
export function formatSection(title: string, lines: readonly string[]): string {
  return [
    `== ${title} ${'='.repeat(Math.max(3, 76 - title.length))}`,
    ...lines.map((l) => (l ? `  ${l}` : l)),
    '',
  ].join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh, independent copy of a collection folder. */
export function copyCollection(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, errorOnExist: true, force: false });
}

/** The repository root (this file runs from `out/bench/`). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');

/** Runs the bundled CLI in a new Node process; returns the wall time including Node's start-up. */
export function runCli(
  args: readonly string[],
  okCodes: readonly number[] = [0],
  /** The CLI's environment (default: this process's). */
  env?: NodeJS.ProcessEnv,
): { ms: number; stdout: string } {
  const { value, ms } = measure(() =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...(env ? { env } : {}) }),
  );
  if (value.error) throw value.error;
  if (value.status === null || !okCodes.includes(value.status)) {
    throw new Error(
      `artifact-keeper ${args.join(' ')} exited ${value.status ?? value.signal}: ${value.stderr}`,
    );
  }
  return { ms, stdout: value.stdout };
}

/** A Node script run with `--require` that records its process's peak memory (`writeRssProbe`). */
export interface RssProbe {
  script: string;
  /** Where the probe writes the peak, in KiB. */
  result: string;
}

/**
 * Code that runs before a Node program (`node --require`): at exit it writes the process's peak resident
 * set (KiB) to the file named by AK_BENCH_RSS_FILE. It reads `VmHWM` from /proc/self/status, the
 * high-water mark of this process's own memory, not `getrusage`'s maxRSS: Linux keeps maxRSS across fork
 * and execve, so a CLI spawned by a bench process that had grown to 380 MiB reported 380 MiB whatever it
 * used itself. maxRSS is the fallback where /proc is missing.
 */
export function writeRssProbe(dir: string): RssProbe {
  const probe = { script: path.join(dir, 'rss-probe.cjs'), result: path.join(dir, 'rss') };
  fs.writeFileSync(
    probe.script,
    [
      "'use strict';",
      "process.on('exit', () => {",
      "  const fs = require('node:fs');",
      '  let kib = process.resourceUsage().maxRSS;',
      '  try {',
      "    const hwm = /^VmHWM:\\s+(\\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));",
      '    if (hwm) kib = Number(hwm[1]);',
      '  } catch {}',
      '  fs.writeFileSync(process.env.AK_BENCH_RSS_FILE, String(kib));',
      '});',
      '',
    ].join('\n'),
  );
  return probe;
}

export interface CliRun {
  ms: number;
  /** Peak resident set of the Node process, bytes. */
  rss: number;
}

/** `node --require <probe> ...args` (a script and its arguments): wall time and peak RSS; exit 0 required. */
export function runNodeMeasured(probe: RssProbe, args: readonly string[]): CliRun {
  fs.rmSync(probe.result, { force: true });
  const { value, ms } = measure(() =>
    spawnSync(process.execPath, ['--require', probe.script, ...args], {
      encoding: 'utf8',
      env: { ...process.env, AK_BENCH_RSS_FILE: probe.result },
    }),
  );
  if (value.error) throw value.error;
  if (value.status !== 0)
    throw new Error(
      `node ${args.join(' ').slice(0, 200)} exited ${value.status ?? value.signal}: ${value.stderr}`,
    );
  return { ms, rss: Number(fs.readFileSync(probe.result, 'utf8')) * 1024 };
}

/** The bundled CLI with the RSS probe; exit 0 required. */
export function runCliMeasured(probe: RssProbe, args: readonly string[]): CliRun {
  return runNodeMeasured(probe, [CLI, ...args]);
}

/** git in `cwd` with a fixed identity and no system config: the upstreams the bench sections build. */
export function git(cwd: string, ...args: string[]): string {
  const result = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'bench',
      GIT_AUTHOR_EMAIL: 'bench@localhost',
      GIT_COMMITTER_NAME: 'bench',
      GIT_COMMITTER_EMAIL: 'bench@localhost',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: cwd,
    },
  });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}
