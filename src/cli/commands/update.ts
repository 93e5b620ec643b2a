/**
 * `artifact-keeper update ID…|--all --strategy overwrite|merge|keep|prompt [--dry-run]`.
 * Exit 0 done, 3 conflicts (nothing written), 4 failed and undone, 5 locked.
 */
import * as readline from 'node:readline/promises';
import { STRATEGIES, updateArtifacts } from '../../core/index.js';
import type { ArtifactUpdatePlan, FilePlan, PromptChoice, Strategy, Resolver } from '../../core/index.js';
import { UsageError } from '../args.js';
import { TOOL } from '../context.js';
import type { CliContext } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { cliLogger } from '../logger.js';

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

export const updateCommand: CliCommand = {
  summary: 'update artifacts from upstream (snapshot first; all or nothing)',
  usage:
    'update ID…|--all [--strategy overwrite|merge|keep|prompt] [--to REF] [--dry-run] [--collection DIR] [--json]',
  flags: {
    all: { value: false },
    strategy: { value: true, short: 's' },
    to: { value: true },
    'dry-run': { value: false },
  },
  retention: true,
  async run(ctx) {
    const all = ctx.has('all');
    const ids = ctx.args.positionals;
    if (all === ids.length > 0) throw new UsageError('name the artifacts to update, or pass --all');
    const strategy = (ctx.flag('strategy') ?? 'merge') as Strategy;
    if (!STRATEGIES.includes(strategy))
      throw new UsageError(`unknown strategy "${strategy}" (overwrite, merge, keep, prompt)`);
    if (strategy === 'prompt' && !ctx.isTerminal)
      throw new UsageError('--strategy prompt needs a terminal; use merge, overwrite or keep');
    const dryRun = ctx.has('dry-run');
    const resolver = strategy === 'prompt' ? terminalResolver(ctx) : undefined;
    const outcome = await updateArtifacts(
      ctx.collectionDir,
      all ? 'all' : ids,
      {
        strategy,
        dryRun,
        ...(resolver ? { resolver } : {}),
        ...(ctx.flag('to') ? { to: ctx.flag('to') as string } : {}),
      },
      {
        fs: ctx.fs,
        logger: cliLogger(),
        tool: TOOL,
        signal: ctx.signal,
        clock: ctx.clock,
        retention: ctx.retention,
        ...(ctx.faults ? { faults: ctx.faults } : {}),
      },
    );
    const artifacts = outcome.plan.artifacts.map((a) => ({
      id: a.id,
      from: a.from,
      to: a.to,
      upToDate: a.upToDate,
      baseKnown: a.baseKnown,
      files: a.files
        .filter((f) => f.status !== 'unchanged')
        .map((f) => ({ path: f.rel, status: f.status, binary: f.binary })),
    }));
    if (ctx.json) {
      ctx.printJson({
        dryRun,
        strategy,
        artifacts,
        conflicts: outcome.conflicts.map((c) => ({
          artifact: c.artifact,
          path: c.conflict.rel,
          status: c.conflict.status,
        })),
        ...(outcome.result
          ? {
              txId: outcome.result.txId,
              preSnapshot: outcome.result.preSnapshot,
              updated: outcome.result.updated,
            }
          : {}),
      });
    } else {
      for (const a of outcome.plan.artifacts) printArtifact(ctx, a);
      for (const c of outcome.conflicts)
        ctx.out(`  conflict: ${c.artifact} ${c.conflict.rel} (${c.conflict.status})`);
      if (dryRun)
        ctx.out(
          outcome.conflicts.length > 0
            ? 'dry run: conflicts, a real run would write nothing (exit 3)'
            : 'dry run: nothing written',
        );
      else if (outcome.result && outcome.result.updated.length > 0) {
        for (const u of outcome.result.updated)
          ctx.out(`updated ${u.id} to ${u.version ?? u.sha?.slice(0, 12)}`);
        ctx.out(
          `snapshot before the update: ${outcome.result.preSnapshot} (undo: artifact-keeper restore ${outcome.result.preSnapshot})`,
        );
      } else ctx.out('nothing to update');
    }
    return outcome.conflicts.length > 0 ? EXIT.conflicts : EXIT.ok;
  },
};

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
