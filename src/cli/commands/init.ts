/**
 * `artifact-keeper init [--name N]`: a new, empty collection in SkillMeat's layout.
 */
import * as path from 'node:path';
import { initCollection } from '../../core/index.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { TOOL } from '../context.js';

export const initCommand: CliCommand = {
  summary:
    'create an empty collection (collection.toml, collection.lock, skills/, commands/, agents/, workflows/)',
  usage: 'init [--collection DIR] [--name NAME]',
  flags: { name: { value: true } },
  async run(ctx) {
    const name = ctx.flag('name') ?? (path.basename(ctx.collectionDir) || 'default');
    // initCollection makes the folder, once it knows no collection holds or encloses it.
    await initCollection(ctx.collectionDir, {
      name,
      fs: ctx.fs,
      logger: ctx.logger,
      tool: TOOL,
      clock: ctx.clock,
      signal: ctx.signal,
      ...(ctx.faults ? { faults: ctx.faults } : {}),
    });
    if (ctx.json) ctx.printJson({ collection: ctx.collectionDir, name });
    else ctx.out(`created collection "${name}" in ${ctx.collectionDir}`);
    return EXIT.ok;
  },
};
