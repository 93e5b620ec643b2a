/**
 * `artifact-keeper update ID…|--all --strategy overwrite|merge|keep|prompt [--auto-resolve abort|ours|theirs]
 * [--on-conflict markers|abort] [--dry-run]` and `update --abort ID…`.
 * Exit 0 done, 3 committed with conflicts (or aborted), 4 failed and undone, 5 locked; `--all` exits
 * with its worst artifact's outcome.
 */
import * as readline from 'node:readline/promises';
import { abortConflicts, STRATEGIES, updateArtifacts } from '../../core/index.js';
import type {
  ArtifactOutcome,
  ArtifactUpdatePlan,
  FilePlan,
  PromptChoice,
  Strategy,
  Resolver,
  UpdateRunResult,
} from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliContext } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { printFindings } from '../execApproval.js';

const SHOWN: Record<string, string> = {
  'upstream-modified': 'M upstream',
  'upstream-added': 'A upstream',
  'upstream-removed': 'D upstream',
  'local-modified': 'M local (kept)',
  'local-added': 'A local (kept)',
  'local-removed': 'D local (kept)',
  'both-modified': 'M both',
  'both-added': 'A both',
  'same-change': '= same change',
  'removed-upstream-modified-locally': 'D upstream, M local',
  'removed-locally-modified-upstream': 'D local, M upstream',
};

type AutoResolve = 'abort' | 'ours' | 'theirs';
const AUTO_RESOLVE: readonly AutoResolve[] = ['abort', 'ours', 'theirs'];

export const updateCommand: CliCommand = {
  summary: 'update artifacts from upstream (snapshot first; conflicts left as git leaves them)',
  usage:
    'update ID…|--all [--strategy overwrite|merge|keep|prompt] [--auto-resolve abort|ours|theirs] [--on-conflict markers|abort] [--allow-exec] [--to REF] [--dry-run] | update --abort ID… [--collection DIR] [--json]',
  flags: {
    all: { value: false },
    strategy: { value: true, short: 's' },
    to: { value: true },
    'dry-run': { value: false },
    'auto-resolve': { value: true },
    'on-conflict': { value: true },
    'allow-exec': { value: false },
    abort: { value: false },
  },
  retention: true,
  async run(ctx) {
    const all = ctx.has('all');
    const ids = ctx.args.positionals;
    if (ctx.has('abort')) return abortUpdate(ctx, ids, all);
    if (all === ids.length > 0) throw new UsageError('name the artifacts to update, or pass --all');
    const asked = (ctx.flag('strategy') ?? 'merge') as Strategy;
    if (!STRATEGIES.includes(asked))
      throw new UsageError(`unknown strategy "${asked}" (overwrite, merge, keep, prompt)`);
    const auto = ctx.flag('auto-resolve') as AutoResolve | undefined;
    if (auto !== undefined && !AUTO_RESOLVE.includes(auto))
      throw new UsageError(`unknown --auto-resolve "${auto}" (abort, ours, theirs)`);
    if (auto !== undefined && asked !== 'prompt')
      throw new UsageError('--auto-resolve answers the prompt strategy: use it with --strategy prompt');
    if (asked === 'prompt' && !ctx.isTerminal && auto === undefined)
      throw new UsageError(
        '--strategy prompt needs a terminal; without one, pass --auto-resolve abort|ours|theirs',
      );
    const onConflict = ctx.flag('on-conflict') ?? 'markers';
    if (onConflict !== 'markers' && onConflict !== 'abort')
      throw new UsageError(`unknown --on-conflict "${onConflict}" (markers, abort)`);
    const dryRun = ctx.has('dry-run');
    // ours = every artifact unchanged (as keep), theirs = as overwrite; abort refuses at the first question.
    const strategy: Strategy = auto === 'ours' ? 'keep' : auto === 'theirs' ? 'overwrite' : asked;
    const answers = { aborted: 0 };
    const resolver =
      strategy !== 'prompt'
        ? undefined
        : auto === 'abort'
          ? abortingResolver(answers)
          : terminalResolver(ctx);
    let outcome: UpdateRunResult;
    try {
      outcome = await updateArtifacts(
        ctx.collectionDir,
        all ? 'all' : ids,
        {
          strategy,
          dryRun,
          onConflict,
          ...(resolver ? { resolver } : {}),
          ...(ctx.flag('to') ? { to: ctx.flag('to') as string } : {}),
        },
        operationOptions(ctx),
      );
    } catch (err) {
      if (answers.aborted > 0) {
        ctx.err('artifact-keeper: a file needs an answer and --auto-resolve is abort: nothing written');
        return EXIT.conflicts;
      }
      throw err;
    }
    if (ctx.json) printJson(ctx, outcome, strategy, dryRun);
    else printText(ctx, outcome, dryRun);
    return exitCode(outcome);
  },
};

/**
 * `--all`'s worst outcome: a failure (4) over an executable change no one approved (6) over a conflict
 * (3) over everything else (0).
 */
function exitCode(outcome: UpdateRunResult): number {
  const failed = outcome.outcomes.filter((o) => o.outcome === 'failed');
  if (failed.some((o) => o.code !== 'exec-not-approved')) return EXIT.failedAndUndone;
  if (failed.length > 0) return EXIT.execNotApproved;
  const kinds = new Set(outcome.outcomes.map((o) => o.outcome));
  if (kinds.has('conflicted') || outcome.conflicts.length > 0) return EXIT.conflicts;
  return EXIT.ok;
}

function printJson(ctx: CliContext, outcome: UpdateRunResult, strategy: Strategy, dryRun: boolean): void {
  ctx.printJson({
    dryRun,
    strategy,
    artifacts: outcome.plan.artifacts.map((a) => ({
      id: a.id,
      from: a.from,
      to: a.to,
      upToDate: a.upToDate,
      ...(a.kept ? { kept: true } : {}),
      ...(a.warnings ? { warnings: a.warnings } : {}),
      baseKnown: a.baseKnown,
      files: a.files
        .filter((f) => f.status !== 'unchanged')
        .map((f) => ({ path: f.rel, status: f.status, binary: f.binary })),
    })),
    outcomes: outcome.outcomes,
    ...(outcome.findings ? { executable: outcome.findings } : {}),
    conflicts: outcome.conflicts.map((c) => ({
      artifact: c.artifact,
      path: c.conflict.rel,
      status: c.conflict.status,
      conflicts: c.conflict.conflicts,
    })),
    ...(outcome.result
      ? {
          txId: outcome.result.txId,
          preSnapshot: outcome.result.preSnapshot,
          updated: outcome.result.updated,
        }
      : {}),
  });
}

function printText(ctx: CliContext, outcome: UpdateRunResult, dryRun: boolean): void {
  for (const a of outcome.plan.artifacts) if (!a.kept) printArtifact(ctx, a);
  if (dryRun) {
    printFindings(ctx, outcome.findings ?? [], (line) => ctx.out(line));
    for (const c of outcome.conflicts)
      ctx.out(`  conflict: ${c.artifact} ${c.conflict.rel} (${c.conflict.status})`);
    ctx.out(
      outcome.conflicts.length > 0
        ? 'dry run: nothing written; a real run would leave these conflicts to resolve (exit 3)'
        : 'dry run: nothing written',
    );
    return;
  }
  for (const o of outcome.outcomes) ctx.out(outcomeLine(o));
  // Failures also go where errors go, one line each, for scripts that read stderr.
  for (const o of outcome.outcomes)
    if (o.outcome === 'failed') ctx.err(`artifact-keeper: ${o.reason ?? `${o.id} failed`}`);
  const result = outcome.result;
  if (result && result.updated.length > 0)
    ctx.out(
      `snapshot before the update: ${result.preSnapshot} (undo: artifact-keeper restore ${result.preSnapshot})`,
    );
  if (outcome.outcomes.length > 1) ctx.out(summary(outcome.outcomes));
  if (outcome.outcomes.some((o) => o.outcome === 'conflicted'))
    ctx.out(
      'edit the conflicts away, then `artifact-keeper resolve ID`; or back out with `artifact-keeper update --abort ID`',
    );
}

function outcomeLine(o: ArtifactOutcome): string {
  switch (o.outcome) {
    case 'updated':
      return `updated ${o.id} to ${o.to ?? '?'}`;
    case 'conflicted': {
      if (!o.files) return `conflicted ${o.id}: ${o.reason ?? 'unresolved conflicts'}`;
      const files = o.files;
      const hunks = files.reduce((n, f) => n + f.conflicts, 0);
      const where = files
        .map((f) => (f.upstreamCopy ? `${f.path} (upstream's copy: ${f.upstreamCopy})` : f.path))
        .join(', ');
      return `conflicted ${o.id} at ${o.to ?? '?'}: ${hunks} conflict(s) in ${files.length} file(s): ${where}`;
    }
    case 'kept':
      return `kept local ${o.id} (nothing fetched, nothing written)`;
    case 'skipped':
      return `skipped ${o.id}`;
    case 'up-to-date':
      return `${o.id}: up to date${o.to ? ` (${o.to})` : ''}`;
    case 'failed':
      return `failed ${o.id}: ${o.reason ?? 'unknown'} (nothing of it written)`;
  }
}

function summary(outcomes: readonly ArtifactOutcome[]): string {
  const order: ArtifactOutcome['outcome'][] = [
    'updated',
    'conflicted',
    'kept',
    'skipped',
    'up-to-date',
    'failed',
  ];
  const counts = order
    .map((kind) => [kind, outcomes.filter((o) => o.outcome === kind).length] as const)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`);
  return `${outcomes.length} artifact(s): ${counts.join(', ')}`;
}

/** `update --abort ID…`: back conflicted artifacts out to before the update that left them conflicted. */
async function abortUpdate(ctx: CliContext, ids: readonly string[], all: boolean): Promise<number> {
  if (all || ids.length === 0) throw new UsageError('update --abort takes the conflicted artifacts by name');
  const result = await abortConflicts(ctx.collectionDir, ids, operationOptions(ctx));
  if (ctx.json) ctx.printJson(result);
  else
    ctx.out(
      `aborted the update of ${result.artifacts.join(', ')}: back as before it (undo: artifact-keeper restore ${result.preSnapshot})`,
    );
  return EXIT.ok;
}

function printArtifact(ctx: CliContext, a: ArtifactUpdatePlan): void {
  if (a.upToDate) {
    ctx.out(`${a.id}: up to date (${a.to.version ?? a.to.sha?.slice(0, 12)})`);
    return;
  }
  const from = a.from.version ?? a.from.sha?.slice(0, 12) ?? 'unknown';
  const to = a.to.version ?? a.to.sha?.slice(0, 12);
  ctx.out(
    `${a.id}: ${from} -> ${to}${a.baseKnown ? '' : ' (no base known: every difference counts as a change on both sides)'}`,
  );
  for (const file of a.files) {
    if (file.status === 'unchanged') continue;
    ctx.out(
      `  ${(SHOWN[file.status] ?? file.status).padEnd(22)} ${file.rel}${file.binary ? ' (binary)' : ''}`,
    );
  }
}

/** `--strategy prompt` on a terminal: one question per file upstream touched. */
function terminalResolver(ctx: CliContext): Resolver {
  const ask = async (question: string, answers: Record<string, PromptChoice>): Promise<PromptChoice> => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      for (;;) {
        const answer = (await rl.question(question)).trim().toLowerCase();
        const choice = answers[answer];
        if (choice) return choice;
      }
    } finally {
      rl.close();
    }
  };
  return {
    async chooseFile(artifact: ArtifactUpdatePlan, file: FilePlan) {
      ctx.out(`${artifact.id} ${file.rel}: ${SHOWN[file.status] ?? file.status}`);
      return ask('  [u]pstream, [m]ine, m[e]rge, [s]kip artifact? ', {
        u: 'upstream',
        m: 'mine',
        e: 'merge',
        s: 'skip-artifact',
      });
    },
  };
}

/** `--auto-resolve abort`: the first question the prompt would ask cancels the whole update. */
function abortingResolver(answers: { aborted: number }): Resolver {
  return {
    async chooseFile() {
      answers.aborted++;
      return 'cancel';
    },
  };
}
