/**
 * `snapshotFileHistory`: the snapshots holding other versions of one file, newest first, one entry per
 * run of equal versions, the version on disk left out; on a real snapshot store.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { snapshotFileHistory } from '../../src/core/transfer/fileHistory.js';
import { readSnapshotFile } from '../../src/core/transfer/restore.js';
import { runCli, tempDir } from './support/collections.js';

const opts = { fs: nodeFs, logger: silentLogger };

function ok(args: string[], dir: string): void {
  const result = runCli([...args, '--collection', dir]);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
}

describe('snapshotFileHistory', () => {
  it('lists each other version once, newest first, and its bytes read back from the snapshot', async () => {
    const dir = path.join(tempDir(), 'collection');
    ok(['init'], dir);
    const file = path.join(dir, 'notes.md');
    ok(['snapshot', '-m', 'no file yet'], dir);
    fs.writeFileSync(file, 'one\n');
    ok(['snapshot', '-m', 'one a'], dir);
    ok(['snapshot', '-m', 'one b'], dir);
    fs.writeFileSync(file, 'two\n');
    ok(['snapshot', '-m', 'two'], dir);
    fs.writeFileSync(file, 'three\n');
    ok(['snapshot', '-m', 'three'], dir);

    const versions = await snapshotFileHistory(dir, 'notes.md', opts);
    assert.deepEqual(
      versions.map((v) => [v.snapshot.reason, v.snapshots]),
      [
        ['two', 1],
        ['one b', 2],
      ],
      'the version on disk (three) and the trailing absent one are left out; one a and one b are one entry',
    );
    const bytes = await readSnapshotFile(dir, versions[1]?.snapshot.id as string, 'notes.md', opts);
    assert.equal(bytes?.toString(), 'one\n');

    fs.rmSync(file);
    const afterDelete = await snapshotFileHistory(dir, 'notes.md', opts);
    assert.deepEqual(
      afterDelete.map((v) => v.snapshot.reason),
      ['three', 'two', 'one b'],
    );
    assert.deepEqual(await snapshotFileHistory(dir, 'other.md', opts), []);
  });
});
