/**
 * Child process for the kill -9 tests: takes the writer lock of a synthetic collection and applies the
 * synthetic change set. It prints `ready` just before the apply, `journal` once the journal is in place,
 * `commit` right after the commit rename and `applied {…timings}` at the end, so the test can aim its kills
 * at each phase however loaded the machine is. Usage: node applyChild.js DIR SKILLS (no arguments: no-op).
 */
import * as path from 'node:path';
import { nodeFs } from '../../../src/core/ports/fs.js';
import type { Fs } from '../../../src/core/ports/fs.js';
import { applyChanges, newTxId } from '../../../src/core/txn/transaction.js';
import { acquireWriterLock } from '../../../src/core/txn/writerLock.js';
import { syntheticChanges } from './synthetic.js';

async function main(): Promise<void> {
  const [dir, skills] = process.argv.slice(2);
  if (!dir || !skills) return;
  const lock = await acquireWriterLock(dir, { tool: 'crash-test', operation: 'update', waitMs: 0 });
  const changes = syntheticChanges(Number(skills));
  const spec = {
    txId: newTxId(),
    kind: 'update',
    description: 'synthetic',
    artifacts: [],
    changes,
    tool: 'crash-test',
  };
  // Observes renames only; every call still goes straight to the real file system.
  const phases: Record<string, number> = {};
  const lockFile = path.join(dir, 'collection.lock');
  const observed: Fs = {
    ...nodeFs,
    rename: async (from, to) => {
      await nodeFs.rename(from, to);
      // Writes to a pipe are synchronous on Linux: the marker is out before the next rename starts.
      if (to.endsWith('journal.json') && phases.journal === undefined) {
        phases.journal = Math.round(performance.now() - started);
        process.stdout.write('journal\n');
      }
      if (to === lockFile) {
        phases.commit = Math.round(performance.now() - started);
        process.stdout.write('commit\n');
      }
    },
  };
  process.stdout.write('ready\n');
  const started = performance.now();
  await applyChanges(dir, spec, { fs: observed });
  process.stdout.write(
    `applied ${JSON.stringify({ ...phases, end: Math.round(performance.now() - started) })}\n`,
  );
  await lock.release();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
