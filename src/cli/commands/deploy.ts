/**
 * The project moves (DESIGN §10), each one transaction across the collection and the project:
 * `deploy ID… --project DIR|--user [--profile P] [--strategy overwrite|merge|keep] [--force]`,
 * `undeploy ID… --project DIR|--user [--force]`, `pull ID… --project DIR|--user [--strategy merge|overwrite|fork] [--as NAME]`.
 */
import {
  DEPLOY_STRATEGIES,
  deployArtifacts,
  PULL_STRATEGIES,
  pullArtifacts,
  undeployArtifacts,
} from '../../core/index.js';
import * as readline from 'node:readline/promises';
import type { DeployChoice, DeployStrategy, PullStrategy } from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliContext } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { openTarget, PROJECT_FLAGS } from '../project.js';

function names(ctx: CliContext, verb: string): string[] {
  if (ctx.args.positionals.length === 0) throw new UsageError(`name the artifacts to ${verb}`);
  return ctx.args.positionals;
}

function strategyOf<T extends string>(ctx: CliContext, allowed: readonly T[], fallback: T): T {
  const text = ctx.flag('strategy') ?? fallback;
  if (!(allowed as readonly string[]).includes(text))
    throw new UsageError(`--strategy takes ${allowed.join(', ')} here, not "${text}"`);
  return text as T;
}

/** One question per artifact edited in the project: merge (Enter), overwrite, keep, or abort everything. */
async function askDeploy(artifact: string, files: string[]): Promise<DeployChoice> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`${artifact} was edited in the project: ${files.join(', ')}\n`);
    for (;;) {
      const answer = (await rl.question('[M]erge, [o]verwrite (undo brings it back), [k]eep, [a]bort? '))
        .trim()
        .toLowerCase();
      if (answer === '' || answer === 'm' || answer === 'merge') return 'merge';
      if (answer === 'o' || answer === 'overwrite') return 'overwrite';
      if (answer === 'k' || answer === 'keep') return 'keep';
      if (answer === 'a' || answer === 'abort') return 'abort';
    }
  } finally {
    rl.close();
  }
}

const undoHint = (txId: string): string => (txId ? ' (undo: artifact-keeper undo)' : '');

export const deployCommand: CliCommand = {
  summary:
    "copy artifacts into a project's .claude/ (or --user ~/.claude); project edits are never clobbered",
  usage:
    'deploy ID… --project DIR|--user [--profile P] [--strategy overwrite|merge|keep|prompt] [--force] [--allow-exec] [--collection DIR] [--json]',
  flags: {
    ...PROJECT_FLAGS,
    strategy: { value: true },
    force: { value: false },
    'allow-exec': { value: false },
  },
  async run(ctx) {
    const ids = names(ctx, 'deploy');
    const strategy = strategyOf<DeployStrategy>(ctx, DEPLOY_STRATEGIES, 'overwrite');
    if (strategy === 'prompt' && !ctx.isTerminal)
      throw new UsageError('--strategy prompt asks on a terminal; without one use merge, keep or --force');
    const opened = openTarget(ctx);
    const result = await deployArtifacts(opened.collection.dir, opened.root, ids, operationOptions(ctx), {
      strategy,
      force: ctx.has('force'),
      choose: (artifact, files) => askDeploy(artifact, files),
    });
    if (ctx.json) ctx.printJson({ ...result, root: result.root.dir, collection: opened.collection.dir });
    else {
      for (const a of result.artifacts)
        ctx.out(
          `${a.id}: ${a.outcome} (${result.root.dir}/${a.path})${a.conflicts ? `: conflicts in ${a.conflicts.join(', ')}` : ''}`,
        );
      if (result.txId) ctx.out(`deployed from ${opened.collection.dir}${undoHint(result.txId)}`);
    }
    return result.artifacts.some((a) => a.outcome === 'conflicted') ? EXIT.conflicts : EXIT.ok;
  },
};

export const undeployCommand: CliCommand = {
  summary: 'remove deployed artifacts from a project (refused over project edits unless --force)',
  usage: 'undeploy ID… --project DIR|--user [--profile P] [--force] [--collection DIR] [--json]',
  flags: { ...PROJECT_FLAGS, force: { value: false } },
  async run(ctx) {
    const ids = names(ctx, 'undeploy');
    const opened = openTarget(ctx);
    const result = await undeployArtifacts(
      opened.collection.dir,
      opened.root,
      ids,
      operationOptions(ctx),
      ctx.has('force'),
    );
    if (ctx.json) ctx.printJson({ ...result, root: result.root.dir, collection: opened.collection.dir });
    else {
      for (const a of result.artifacts) ctx.out(`${a.id}: ${a.outcome} (${result.root.dir}/${a.path})`);
      if (result.txId) ctx.out(`undeployed${undoHint(result.txId)}`);
    }
    return EXIT.ok;
  },
};

export const pullCommand: CliCommand = {
  summary: 'bring project edits of deployed artifacts back into the collection (snapshot first)',
  usage:
    'pull ID… --project DIR|--user [--profile P] [--strategy merge|overwrite|fork] [--as NAME] [--allow-exec] [--collection DIR] [--json]',
  flags: { ...PROJECT_FLAGS, strategy: { value: true }, as: { value: true }, 'allow-exec': { value: false } },
  retention: true,
  async run(ctx) {
    const ids = names(ctx, 'pull');
    const strategy = strategyOf<PullStrategy>(ctx, PULL_STRATEGIES, 'merge');
    const as = ctx.flag('as');
    const opened = openTarget(ctx);
    const result = await pullArtifacts(opened.collection.dir, opened.root, ids, operationOptions(ctx), {
      strategy,
      ...(as !== undefined ? { as } : {}),
    });
    if (ctx.json) ctx.printJson({ ...result, root: result.root.dir, collection: opened.collection.dir });
    else {
      for (const a of result.artifacts)
        ctx.out(
          `${a.id}: ${a.outcome}${a.into ? ` into ${a.into}` : ''}${a.conflicts ? `: conflicts in ${a.conflicts.join(', ')} (finish with artifact-keeper resolve ${a.id})` : ''}`,
        );
      if (result.txId) ctx.out(`pulled into ${opened.collection.dir}${undoHint(result.txId)}`);
    }
    return result.artifacts.some((a) => a.outcome === 'conflicted') ? EXIT.conflicts : EXIT.ok;
  },
};
