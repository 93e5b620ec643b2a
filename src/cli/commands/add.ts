/**
 * `artifact-keeper add SOURCE [--type T] [--name N]`: a new artifact from git or a local folder.
 */
import { addFromSource } from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const addCommand: CliCommand = {
  summary:
    'add an artifact from a git URL, a local repository (#path, @ref), owner/repo/path[@ref], or a folder',
  usage:
    'add SOURCE [--type skill|command|agent|hook|workflow|composite] [--name NAME] [--allow-exec] [--collection DIR] [--json]',
  flags: {
    type: { value: true, short: 't' },
    name: { value: true, short: 'n' },
    'allow-exec': { value: false },
  },
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
      operationOptions(ctx),
    );
    if (ctx.json) ctx.printJson(result);
    else
      ctx.out(
        `added ${result.id} at ${result.path}${result.version ? ` (${result.version})` : result.sha ? ` (${result.sha.slice(0, 12)})` : ''}`,
      );
    return EXIT.ok;
  },
};
