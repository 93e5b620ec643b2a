/**
 * The kill -9 campaign (issue 6, issue 3): on a collection with a real git upstream, each trial runs one
 * mutating CLI command, SIGKILLs it at a random moment (a share aimed just after the journal appears, so
 * kills land inside the critical section), runs a follow-up command (`status` then `recover`, the same
 * command again, or another mutating command that must recover first) and checks that the collection is
 * exactly its before-tree or its after-tree, that the outcome is the one the kill's landing point
 * dictates, that `status`, `recover` and the history agree, and that nothing is left behind.
 * Shared by test/torture/campaign.ts (CLI) and test/unit/crash.test.ts (unit suite).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rng } from '../unit/support/synthetic.js';
import {
  buildFixture,
  COMMAND_KINDS,
  commitFile,
  isTransactional,
  listBoth,
  pristineBoth,
  resetBoth,
} from './fixture.js';
import type { CliRun, CommandKind, Fixture, Size } from './fixture.js';
import { runObserved, taggedProcesses, waitForTagged } from './processes.js';
import type { KillPlan, ObservedRun } from './processes.js';
import { describeDiff, leftovers, listTree, sameListing } from './tree.js';
import type { Listing } from './tree.js';

export type FollowUp = 'status' | 'rerun' | 'snapshot';
export const FOLLOW_UPS: readonly FollowUp[] = ['status', 'rerun', 'snapshot'];

/**
 * Where a kill landed, read off the disk once the process is dead: before the journal (nothing moved
 * yet), inside the critical section (journal present, lock not yet renamed), after the commit rename;
 * `store-only` for snapshot/import (no collection file changes); `finished` when the CLI exited first.
 */
export type Landing = 'before-journal' | 'critical' | 'after-commit' | 'store-only' | 'finished';

export interface CampaignOptions {
  size: Size;
  trials: number;
  seed: number;
  cli: string;
  kinds?: readonly CommandKind[];
  followUps?: readonly FollowUp[];
  /** Share of the transactional trials whose kill is timed from the journal's appearance (default 0.5). */
  journalShare?: number;
  /** Share of the kills sent to the CLI's whole process group, git children included (default 0). */
  groupShare?: number;
  /** Work folder (default: a new temp folder, removed at the end unless `keep`). */
  root?: string;
  keep?: boolean;
  log?: (line: string) => void;
  /** Called after each trial (the unit test asserts per trial). */
  onTrial?: (trial: TrialRecord) => void;
}

interface Reference {
  kind: CommandKind;
  after: Listing;
  afterStatus: number;
  afterLockHash: string;
  /** History entries an uninterrupted run adds. */
  historyDelta: number;
  durationMs: number;
  journalAt?: number;
  lockAt?: number;
}

/** What kind of promise a failed check is about, so tests can assert each separately. */
export type ProblemCategory =
  | 'inconsistent'
  | 'outcome'
  | 'status'
  | 'recover'
  | 'rerun'
  | 'history'
  | 'leftover'
  | 'command'
  | 'outside';

export interface Problem {
  category: ProblemCategory;
  message: string;
}

export interface TrialRecord {
  index: number;
  kind: CommandKind;
  plan: KillPlan;
  killAt?: number;
  landing: Landing;
  followUp: FollowUp;
  /** What the collection ended as after the killed command was recovered (or its rerun). */
  outcome: 'before' | 'after' | 'neither';
  recovery?: string;
  orphans: number;
  orphanWaitMs: number;
  problems: Problem[];
  ms: number;
}

export interface CampaignReport {
  size: Size;
  files: number;
  seed: number;
  setupMs: number;
  calibration: {
    kind: CommandKind;
    durationMs: number;
    journalAt?: number;
    lockAt?: number;
    afterStatus: number;
  }[];
  beforeStatus: number;
  trials: TrialRecord[];
  passed: number;
  failed: number;
  ms: number;
}

const sha256 = (file: string): string => {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return 'absent';
  }
};

/** The state a journal file names, or undefined (none, or unreadable). */
interface JournalSeen {
  state?: string;
  roots?: string[];
  ops?: { kind: string; rel: string; root?: number; stagedIno?: number; commit?: boolean }[];
}

/**
 * Whether the transaction a journal describes had passed its commit point, read from the disk on its own
 * terms: the journal says `committed`, or the commit op's target is the very file that was staged (a
 * rename keeps the inode). The commit op is the last one when it is a write marked `commit` or the
 * collection's own `collection.lock`. Undefined when the journal cannot be read.
 */
function committedByJournal(file: string, dir: string): boolean | undefined {
  let journal: JournalSeen;
  try {
    journal = JSON.parse(fs.readFileSync(file, 'utf8')) as JournalSeen;
  } catch {
    return undefined;
  }
  if (journal.state === 'committed') return true;
  const last = journal.ops?.[journal.ops.length - 1];
  if (
    !last ||
    last.kind !== 'write' ||
    !(last.commit === true || (last.rel === 'collection.lock' && last.root === undefined))
  )
    return false;
  const base = last.root === undefined ? dir : journal.roots?.[last.root];
  if (base === undefined || last.stagedIno === undefined) return false;
  return (
    fs.lstatSync(path.join(base, ...last.rel.split('/')), { throwIfNoEntry: false })?.ino === last.stagedIno
  );
}

function journalState(file: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { state?: string }).state;
  } catch {
    return undefined;
  }
}

function historyCount(dir: string): number {
  try {
    return fs
      .readFileSync(path.join(dir, '.artifact-keeper', 'history.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '').length;
  } catch {
    return 0;
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 240) ?? '';
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const log = options.log ?? (() => undefined);
  const kinds = options.kinds ?? COMMAND_KINDS;
  const followUps = options.followUps ?? FOLLOW_UPS;
  const journalShare = options.journalShare ?? 0.5;
  const started = performance.now();
  const root = options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ak-torture-'));
  try {
    const fixture = await buildFixture(root, options.size, options.cli, (line) => log(`setup: ${line}`));
    const setupMs = performance.now() - started;
    const beforeStatus = fixture.run(['status']).code;
    const refs = new Map<CommandKind, Reference>();
    for (const kind of kinds) {
      const ref = await calibrate(fixture, kind, sha256(commitFile(fixture, kind)));
      refs.set(kind, ref);
      log(
        `calibrate: ${kind.padEnd(16)} ${ms(ref.durationMs)}${ref.journalAt !== undefined ? `, journal at ${ms(ref.journalAt)}` : ''}${ref.lockAt !== undefined ? `, commit at ${ms(ref.lockAt)}` : ''}, status after: exit ${ref.afterStatus}`,
      );
    }
    const trials: TrialRecord[] = [];
    for (let index = 1; index <= options.trials; index++) {
      const trial = await runTrial(fixture, refs, beforeStatus, index, {
        seed: options.seed,
        kinds,
        followUps,
        journalShare,
        groupShare: options.groupShare ?? 0,
      });
      trials.push(trial);
      log(formatTrial(trial, options.trials));
      options.onTrial?.(trial);
    }
    const failed = trials.filter((t) => t.problems.length > 0).length;
    return {
      size: options.size,
      files: fixture.files,
      seed: options.seed,
      setupMs,
      calibration: [...refs.values()].map((r) => ({
        kind: r.kind,
        durationMs: r.durationMs,
        ...(r.journalAt !== undefined ? { journalAt: r.journalAt } : {}),
        ...(r.lockAt !== undefined ? { lockAt: r.lockAt } : {}),
        afterStatus: r.afterStatus,
      })),
      beforeStatus,
      trials,
      passed: trials.length - failed,
      failed,
      ms: performance.now() - started,
    };
  } finally {
    if (!options.keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** One uninterrupted run: the reference after-tree, status and lock, and the timings kills aim at. */
async function calibrate(fixture: Fixture, kind: CommandKind, beforeLockHash: string): Promise<Reference> {
  const tag = `calibrate-${kind}-${process.pid}`;
  const historyBefore = historyCount(fixture.dir);
  const run = await runObserved(fixture.cli, fixture.dir, fixture.args(kind), { tag });
  if (run.code !== 0) throw new Error(`calibration: ${kind} exited ${run.code}: ${firstLine(run.stderr)}`);
  await waitForTagged(tag);
  const after = listBoth(fixture);
  const afterStatus = fixture.run(['status']).code;
  const historyDelta = historyCount(fixture.dir) - historyBefore;
  const afterLockHash = sha256(commitFile(fixture, kind));
  if (isTransactional(kind) === (afterLockHash === beforeLockHash)) {
    throw new Error(
      `calibration: ${kind} ${isTransactional(kind) ? 'did not change' : 'changed'} ${path.basename(commitFile(fixture, kind))}`,
    );
  }
  const left = leftovers(fixture.dir);
  if (left.length > 0) throw new Error(`calibration: ${kind} left ${left.join(', ')}`);
  resetBoth(fixture, after);
  return {
    kind,
    after,
    afterStatus,
    afterLockHash,
    historyDelta,
    durationMs: run.exitAt,
    ...(run.journalAt !== undefined ? { journalAt: run.journalAt } : {}),
    ...(run.lockAt !== undefined ? { lockAt: run.lockAt } : {}),
  };
}

interface TrialConfig {
  seed: number;
  kinds: readonly CommandKind[];
  followUps: readonly FollowUp[];
  journalShare: number;
  groupShare: number;
}

async function runTrial(
  fixture: Fixture,
  refs: Map<CommandKind, Reference>,
  beforeStatus: number,
  index: number,
  config: TrialConfig,
): Promise<TrialRecord> {
  const started = performance.now();
  const pristine = pristineBoth(fixture);
  const random = rng((config.seed * 1_000_003 + index) >>> 0);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const kind = pick(config.kinds);
  const ref = refs.get(kind) as Reference;
  const transactional = isTransactional(kind);
  let plan: KillPlan;
  if (transactional && ref.journalAt !== undefined && random() < config.journalShare) {
    const window = Math.max(5, (ref.lockAt ?? ref.durationMs) - ref.journalAt);
    plan = {
      from: 'journal',
      afterMs: Math.floor(random() * window * 1.2),
      giveUpMs: ref.durationMs * 3 + 5_000,
    };
  } else {
    plan = { from: 'start', afterMs: Math.floor(random() * ref.durationMs) };
  }
  const followUp = pick(config.followUps);
  if (random() < config.groupShare) plan = { ...plan, group: true };
  const problems: Problem[] = [];
  const fail = (category: ProblemCategory, message: string): void =>
    void problems.push({ category, message });
  const dir = fixture.dir;
  const historyBefore = historyCount(dir);
  const tag = `trial-${config.seed}-${index}-${process.pid}`;

  const run = await runObserved(fixture.cli, dir, fixture.args(kind), { kill: plan, tag });
  const orphans = taggedProcesses(tag).length;
  if (!run.killed && run.code !== 0) {
    fail('command', `uninterrupted ${kind} exited ${run.code ?? run.signal}: ${firstLine(run.stderr)}`);
  }

  // Where did the kill land? The disk says: orphaned git children never touch the journal or the lock.
  // With a journal, its commit op decides: a deploy renames the tracking file (the commit file compared
  // below) first and commits with its last rename, so that file's new bytes alone do not mean committed.
  const journalFile = path.join(dir, '.artifact-keeper', 'journal.json');
  const journalPresent = fs.existsSync(journalFile);
  const lockHash = sha256(commitFile(fixture, kind));
  const committed = journalPresent ? committedByJournal(journalFile, dir) : undefined;
  let landing: Landing;
  if (!run.killed) landing = 'finished';
  else if (!transactional) landing = 'store-only';
  else if (committed ?? (lockHash === ref.afterLockHash || journalState(journalFile) === 'committed'))
    landing = 'after-commit';
  else if (journalPresent) landing = 'critical';
  else landing = 'before-journal';
  const expected: 'before' | 'after' | 'either' =
    landing === 'finished' || landing === 'after-commit'
      ? 'after'
      : landing === 'store-only'
        ? 'either'
        : 'before';

  let recovery: string | undefined;
  const expectCode = (
    category: ProblemCategory,
    what: string,
    result: CliRun,
    codes: readonly number[],
  ): void => {
    if (!codes.includes(result.code)) {
      fail(
        category,
        `${what} exited ${result.code} (expected ${codes.join(' or ')}): ${firstLine(result.stderr || result.stdout)}`,
      );
    }
  };
  switch (followUp) {
    case 'status': {
      const seen = listBoth(fixture);
      const status = fixture.run(['status']);
      if (!sameListing(seen, listBoth(fixture))) fail('status', 'status changed the collection');
      if (journalPresent) {
        expectCode('status', 'status with a journal', status, [2]);
        if (!/interrupted/.test(status.stdout))
          fail('status', `status did not say interrupted: ${firstLine(status.stdout)}`);
      } else if (sameListing(seen, ref.after)) expectCode('status', 'status', status, [ref.afterStatus]);
      else if (sameListing(seen, pristine)) expectCode('status', 'status', status, [beforeStatus]);
      else
        fail(
          'inconsistent',
          `no journal, yet the collection is neither before nor after: ${describeDiff(seen, pristine)}`,
        );
      const recover = fixture.run(['recover']);
      expectCode('recover', 'recover', recover, [0]);
      recovery = firstLine(recover.stdout);
      const wanted = !journalPresent
        ? 'nothing to recover'
        : landing === 'critical'
          ? 'rolled back'
          : 'finished';
      if (!recovery.startsWith(wanted)) fail('recover', `recover said "${recovery}", expected "${wanted}…"`);
      break;
    }
    case 'rerun': {
      const again = fixture.run(fixture.args(kind));
      // An add that had committed is refused the second time; everything else is idempotent.
      expectCode('rerun', `rerun of ${kind}`, again, kind === 'add' && expected === 'after' ? [65] : [0]);
      recovery = firstLine(again.stdout || again.stderr);
      break;
    }
    case 'snapshot': {
      const snap = fixture.run(['snapshot', '-m', `after trial ${index}`]);
      expectCode('command', 'follow-up snapshot', snap, [0]);
      recovery = firstLine(snap.stdout);
      break;
    }
  }

  const final = listBoth(fixture);
  const outside = listTree(fixture.dotfiles, new Set());
  if (!sameListing(outside, fixture.outside)) {
    fail(
      'outside',
      `wrote through a symlink outside the collection: ${describeDiff(outside, fixture.outside)}`,
    );
  }
  const outcome = sameListing(final, ref.after)
    ? 'after'
    : sameListing(final, pristine)
      ? 'before'
      : 'neither';
  if (outcome === 'neither') {
    fail(
      'inconsistent',
      `neither before nor after (vs before: ${describeDiff(final, pristine)}; vs after: ${describeDiff(final, ref.after)})`,
    );
  } else if (followUp === 'rerun' && transactional && outcome !== 'after') {
    fail('rerun', `the rerun of ${kind} did not end in the after-state`);
  } else if (followUp !== 'rerun' && expected !== 'either' && outcome !== expected) {
    fail('outcome', `kill landed ${landing}, so the outcome must be "${expected}", but it is "${outcome}"`);
  }
  if (outcome !== 'neither') {
    const status = fixture.run(['status']);
    expectCode('status', 'final status', status, [outcome === 'after' ? ref.afterStatus : beforeStatus]);
  }
  // Every committed transaction is in the history exactly once (recorded by the CLI, or by recovery).
  const historyDelta = historyCount(dir) - historyBefore;
  const wantedDelta = outcome === 'after' ? ref.historyDelta : 0;
  if (historyDelta !== wantedDelta)
    fail('history', `history grew by ${historyDelta}, expected ${wantedDelta}`);
  if (!transactional) {
    const list = fixture.run(['snapshots', '--json']);
    expectCode('command', 'snapshots', list, [0]);
    if (list.code === 0 && !list.stdout.includes(fixture.restoreId))
      fail('command', 'the pinned restore target is gone');
  }

  // Leftovers are judged once the killed CLI's git children are gone too (they finish on their own).
  const waited = await waitForTagged(tag);
  if (waited.killed > 0) fail('leftover', `${waited.killed} leftover git process(es) still ran after 60 s`);
  const left = leftovers(dir);
  if (left.length > 0)
    fail('leftover', `left behind: ${left.slice(0, 8).join(', ')}${left.length > 8 ? ', …' : ''}`);

  // Back to the before-state for the next trial: only what differs is rewritten.
  resetBoth(fixture, final);
  if (left.length > 0 || problems.length > 0) {
    // A failed trial must not poison the next one: clear whatever it left (the collection is ours alone).
    for (const rel of left) fs.rmSync(path.join(dir, rel), { recursive: true, force: true });
    resetBoth(fixture, listBoth(fixture));
  }
  return {
    index,
    kind,
    plan,
    ...(run.killAt !== undefined ? { killAt: run.killAt } : {}),
    landing,
    followUp,
    outcome,
    ...(recovery !== undefined ? { recovery } : {}),
    orphans,
    orphanWaitMs: waited.waitedMs,
    problems,
    ms: performance.now() - started,
  };
}

const ms = (value: number): string =>
  value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;

export function formatTrial(trial: TrialRecord, total: number): string {
  const aim = `${trial.plan.from === 'journal' ? 'journal' : 'start'}+${trial.plan.afterMs} ms${trial.plan.group ? ' (group)' : ''}`;
  const width = String(total).length;
  const head = `trial ${String(trial.index).padStart(width)}/${total} ${trial.kind.padEnd(16)} kill ${aim.padEnd(17)}`;
  const verdict =
    trial.problems.length === 0
      ? 'ok'
      : `FAILED: ${trial.problems.map((p) => `${p.category}: ${p.message}`).join(' | ')}`;
  const orphans = trial.orphans > 0 ? ` [${trial.orphans} git left running, ${ms(trial.orphanWaitMs)}]` : '';
  return `${head} → ${trial.landing.padEnd(14)} → ${trial.outcome.padEnd(6)} (${trial.followUp})${orphans} ${verdict} ${ms(trial.ms)}`;
}

/** The summary block; its last line is exactly `torture: N passed, N failed`. */
export function summarize(report: CampaignReport, replay: string): string[] {
  const count = <K extends string>(values: K[]): string =>
    [...new Set(values)]
      .sort()
      .map((k) => `${k} ${values.filter((v) => v === k).length}`)
      .join(', ');
  const trials = report.trials;
  const landings = (l: Landing): number => trials.filter((t) => t.landing === l).length;
  const killed = trials.filter((t) => t.landing !== 'finished').length;
  const withOrphans = trials.filter((t) => t.orphans > 0);
  const lines = [
    `size: ${report.size} (${report.files} files and folders), setup ${ms(report.setupMs)}, total ${ms(report.ms)}, ${ms(trials.length ? (report.ms - report.setupMs) / trials.length : 0)} per trial`,
    `trials: ${trials.length} (${count(trials.map((t) => t.kind))})`,
    `kills landed: ${killed} — before the journal ${landings('before-journal')}, inside the critical section ${landings('critical')}, after commit ${landings('after-commit')}, snapshot/import (no journal) ${landings('store-only')}; the command had finished first in ${landings('finished')}`,
    `kill aim: ${trials.filter((t) => t.plan.from === 'journal').length} timed from the journal's appearance, ${trials.filter((t) => t.plan.from === 'start').length} uniform over the measured duration; ${trials.filter((t) => t.plan.group).length} sent to the whole process group (git children included), the rest to the CLI process alone`,
    `outcomes: before ${trials.filter((t) => t.outcome === 'before').length}, after ${trials.filter((t) => t.outcome === 'after').length}, neither ${trials.filter((t) => t.outcome === 'neither').length}`,
    `follow-ups: ${count(trials.map((t) => t.followUp))}`,
    `git children outliving the killed CLI: ${withOrphans.length} trial(s)${withOrphans.length ? `, longest wait ${ms(Math.max(...withOrphans.map((t) => t.orphanWaitMs)))}` : ''}`,
    `failures: ${report.failed}`,
    ...trials
      .filter((t) => t.problems.length > 0)
      .map(
        (t) =>
          `  trial ${t.index} (${t.kind}, ${t.landing}, ${t.followUp}): ${t.problems.map((p) => `${p.category}: ${p.message}`).join(' | ')}`,
      ),
    `seed: ${report.seed} (replay: ${replay})`,
    `torture: ${report.passed} passed, ${report.failed} failed`,
  ];
  return lines;
}

export type { ObservedRun };
