/**
 * Child process for deterministic crash points: runs `update --all --strategy overwrite --to v2` through
 * the core (as the CLI does) with an Fs that SIGKILLs its own process right after one chosen rename,
 * e.g. the move of `collection.toml` aside, before its replacement is renamed in: the one moment a
 * collection has no manifest (or no lock) on disk. Usage: node crashChild.js DIR TARGET-BASENAME.
 * Run without arguments it does nothing.
 */
import * as path from 'node:path';
import { silentLogger } from '../../src/core/base/changes.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { Fs } from '../../src/core/ports/fs.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';

async function main(): Promise<void> {
  const [dir, target] = process.argv.slice(2);
  if (!dir || !target) return;
  const watched = path.join(path.resolve(dir), target);
  const dying: Fs = {
    ...nodeFs,
    rename: async (from, to) => {
      await nodeFs.rename(from, to);
      // The old file has just moved into the transaction's backup folder: die before the new one lands.
      if (from === watched) process.kill(process.pid, 'SIGKILL');
    },
  };
  await updateArtifacts(
    dir,
    'all',
    { strategy: 'overwrite', to: 'v2' },
    { fs: dying, logger: silentLogger, tool: 'crash-child', exec: { allow: true } },
  );
  process.stdout.write('finished without reaching the crash point\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
