/**
 * Per-artifact quick fixes: `discard ID…` (alias `reinstall ID…`) puts artifacts back to the content their
 * lock records — local edits discarded, missing files reinstalled; `remove ID…` removes the manifest entry,
 * the lock entry and the files. Each is one transaction with a snapshot first: `undo` reverts it.
 */
import { discardArtifacts, removeArtifacts } from '../../core/index.js';
import type { DiscardResult } from '../../core/index.js';
import { UsageError } from '../args.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { operationOptions } from '../context.js';

function discardCommandNamed(name: 'discard' | 'reinstall'): CliCommand {
  return {
    summary:
      name === 'discard'
        ? 'discard local edits: put artifacts back to their locked content (snapshot first; undo reverts)'
        : 'reinstall missing files of artifacts from their locked content (same as discard)',
    usage: `${name} ID… [--collection DIR] [--json]`,
    retention: true,
    async run(ctx) {
      if (ctx.args.positionals.length === 0) throw new UsageError('name the artifacts');
      const result = await discardArtifacts(ctx.collectionDir, ctx.args.positionals, operationOptions(ctx));
      if (ctx.json) ctx.printJson(result);
      else printDiscard(ctx.out, result);
      return EXIT.ok;
    },
  };
}

function printDiscard(out: (line: string) => void, result: DiscardResult): void {
  for (const r of result.restored) {
    const from = r.from.kind === 'upstream' ? `upstream ${r.from.sha.slice(0, 12)}` : `snapshot ${r.from.id}`;
    out(`put ${r.id} back to its locked content (${r.files} file(s), from ${from})`);
  }
  for (const id of result.unchanged) out(`${id} already holds its locked content`);
  if (result.restored.length > 0) out(`undo: artifact-keeper undo (snapshot ${result.preSnapshot} before)`);
}

export const discardCommand = discardCommandNamed('discard');
export const reinstallCommand = discardCommandNamed('reinstall');

export const removeCommand: CliCommand = {
  summary: 'remove artifacts: manifest entry, lock entry and files (snapshot first; undo reverts)',
  usage: 'remove ID… [--collection DIR] [--json]',
  retention: true,
  async run(ctx) {
    if (ctx.args.positionals.length === 0) throw new UsageError('name the artifacts');
    const result = await removeArtifacts(ctx.collectionDir, ctx.args.positionals, operationOptions(ctx));
    if (ctx.json) ctx.printJson(result);
    else {
      ctx.out(`removed ${result.removed.join(', ')} (undo: artifact-keeper undo)`);
      for (const dir of result.kept) ctx.out(`kept ${dir}: it holds a nested .git`);
    }
    return EXIT.ok;
  },
};
