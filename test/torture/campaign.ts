/**
 * `npm run torture -- --trials N --seed S [--ci] [--size small|large]`: the kill -9 campaign of issue 6
 * against the bundled CLI (dist/cli.js) on a ~11k-file collection with a local git upstream. See
 * engine.ts for what one trial does and checks. Prints one line per trial and a summary whose last line
 * is exactly `torture: N passed, N failed`; exits 1 on any failure.
 *
 *   --ci                      the CI size: 60 s of 4 concurrent writers on the small collection, then 100
 *                             trials on the large one, a fifth of the kills sent to the whole process
 *                             group; the last line counts both
 *   --trials N --seed S       how many, and the seed to replay (default: a random seed, printed)
 *   --size small|large        ≈ 300 or ≈ 11,000 files (default large)
 *   --kinds a,b               only these commands (update-overwrite, update-merge, relock, restore,
 *                             add, import, snapshot)
 *   --journal-share X         share of transactional kills timed from the journal (default 0.5)
 *   --group-kills X           share of kills sent to the CLI's process group, git children included
 *                             (default 0: `kill -9 PID`, as the issue asks)
 *   --keep                    keep the work folder
 *   --cli PATH                the CLI to torture (default dist/cli.js)
 *   --concurrency-seconds S   4 writers on one collection for S seconds (concurrency.ts), instead of the
 *                             kill trials, or before them when --trials is given too
 *   --concurrency-size S      the collection the writers share (default small)
 */
import * as fs from 'node:fs';
import { runConcurrency, summarizeConcurrency } from './concurrency.js';
import { COMMAND_KINDS, DIST_CLI } from './fixture.js';
import type { CommandKind, Size } from './fixture.js';
import { runCampaign, summarize } from './engine.js';

interface Args {
  trials: number;
  seed: number;
  size: Size;
  kinds: CommandKind[];
  journalShare: number;
  groupShare: number;
  keep: boolean;
  cli: string;
  concurrencySeconds?: number;
  concurrencySize: Size;
  explicitTrials: boolean;
}

function parse(argv: string[]): Args {
  const args: Args = {
    trials: 20,
    seed: Math.floor(Math.random() * 1_000_000),
    size: 'large',
    kinds: [...COMMAND_KINDS],
    journalShare: 0.5,
    groupShare: 0,
    keep: false,
    cli: DIST_CLI,
    concurrencySize: 'small',
    explicitTrials: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case '--ci':
        args.trials = 100;
        args.size = 'large';
        args.explicitTrials = true;
        args.concurrencySeconds = 60;
        args.groupShare = 0.2;
        break;
      case '--trials':
        args.trials = Number(value());
        args.explicitTrials = true;
        break;
      case '--seed':
        args.seed = Number(value());
        break;
      case '--size': {
        const size = value();
        if (size !== 'small' && size !== 'large') throw new Error('--size takes small or large');
        args.size = size;
        break;
      }
      case '--kinds':
        args.kinds = value().split(',') as CommandKind[];
        for (const kind of args.kinds)
          if (!COMMAND_KINDS.includes(kind)) throw new Error(`unknown kind ${kind}`);
        break;
      case '--journal-share':
        args.journalShare = Number(value());
        break;
      case '--group-kills':
        args.groupShare = Number(value());
        break;
      case '--keep':
        args.keep = true;
        break;
      case '--cli':
        args.cli = value();
        break;
      case '--concurrency-seconds':
        args.concurrencySeconds = Number(value());
        break;
      case '--concurrency-size': {
        const size = value();
        if (size !== 'tiny' && size !== 'small' && size !== 'large')
          throw new Error('--concurrency-size takes tiny, small or large');
        args.concurrencySize = size;
        break;
      }
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(args.trials) || args.trials < 0) throw new Error('--trials takes a whole number');
  if (!Number.isInteger(args.seed)) throw new Error('--seed takes a whole number');
  return args;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`torture: ${(err as Error).message}\n`);
    return 64;
  }
  if (!fs.existsSync(args.cli)) {
    process.stderr.write(`torture: ${args.cli} is missing: run npm run build first\n`);
    return 66;
  }
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let passed = 0;
  let failed = 0;
  if (args.concurrencySeconds !== undefined) {
    const report = await runConcurrency({
      seconds: args.concurrencySeconds,
      seed: args.seed,
      cli: args.cli,
      size: args.concurrencySize,
      keep: args.keep,
      log: out,
    });
    for (const line of summarizeConcurrency(report)) out(line);
    if (report.failures.length === 0) passed++;
    else failed++;
  }
  if (args.concurrencySeconds === undefined || args.explicitTrials) {
    out(`torture: ${args.trials} trials on the ${args.size} collection, seed ${args.seed}, cli ${args.cli}`);
    const report = await runCampaign({
      size: args.size,
      trials: args.trials,
      seed: args.seed,
      cli: args.cli,
      kinds: args.kinds,
      journalShare: args.journalShare,
      groupShare: args.groupShare,
      keep: args.keep,
      log: out,
    });
    const replay = `node out/test/torture/campaign.js --trials ${args.trials} --seed ${args.seed} --size ${args.size}${args.groupShare ? ` --group-kills ${args.groupShare}` : ''}${args.journalShare !== 0.5 ? ` --journal-share ${args.journalShare}` : ''}${args.kinds.length === COMMAND_KINDS.length ? '' : ` --kinds ${args.kinds.join(',')}`}`;
    // summarize() ends with the trials' own tally line; the combined one follows when both ran.
    const lines = summarize(report, replay);
    for (const line of args.concurrencySeconds === undefined ? lines : lines.slice(0, -1)) out(line);
    passed += report.passed;
    failed += report.failed;
    if (args.concurrencySeconds !== undefined)
      out(
        `torture: ${passed} passed, ${failed} failed (${report.passed} of ${report.trials.length} kill trials, concurrency ${failed - report.failed === 0 ? 'passed' : 'FAILED'})`,
      );
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`torture: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.stdout.write('torture: 0 passed, 1 failed\n');
    process.exitCode = 1;
  },
);
