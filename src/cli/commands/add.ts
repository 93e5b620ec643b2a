/**
 * `artifact-keeper add SOURCE [--type T] [--name N]`: a new artifact from git or a local folder.
 */
import { addFromSource } from '../../core/index.js';
import { UsageError } from '../args.js';
import { TOOL } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { cliLogger } from '../logger.js';

export const addCommand: CliCommand = {
  summary:
    'add an artifact from a git URL, a local repository (#path, @ref), owner/repo/path[@ref], or a folder',
  usage:
    'add SOURCE [--type skill|command|agent|hook|workflow|composite] [--name NAME] [--collection DIR] [--json]',
  flags: { type: { value: true, short: 't' }, name: { value: true, short: 'n' } },
  retention: true,
  async run(ctx) {
    const [source, ...extra] = ctx.args.positionals;
    if (!source || extra.length > 0) throw new UsageError('give exactly one SOURCE');
    const type = ctx.flag('type');
    const name = ctx.flag('name');
    const result = await addFromSource(
      ctx.collectionDir,
      source,
      { ...(type ? { type } : {}), ...(name ? { name } : {}), cwd: process.cwd() },
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
    if (ctx.json) ctx.printJson(result);
    else
      ctx.out(
        `added ${result.id} at ${result.path}${result.version ? ` (${result.version})` : result.sha ? ` (${result.sha.slice(0, 12)})` : ''}`,
      );
    return EXIT.ok;
  },
};
