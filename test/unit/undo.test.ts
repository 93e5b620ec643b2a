/**
 * `artifact-keeper undo` (issue 12 item 8), through the real CLI on a real git upstream: it reverts the last
 * committed transaction by restoring its pre-snapshot, byte for byte (files, manifest and lock); undo again
 * re-applies it (the undo is itself the last transaction, as `git revert` of a revert); it refuses with one
 * line, exit 69 and nothing written when there is nothing it can undo.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { CoreError } from '../../src/core/base/errors.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { undoLastChange } from '../../src/core/transfer/restore.js';
import { copySharedFixture, runCli, tempDir, treeListing } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const SKILL = (body: string): string => `---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\n${body}\n`;

function ok(args: string[], dir: string): string {
  const result = runCli([...args, '--collection', dir]);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

interface Entry {
  txId: string;
  kind: string;
  description: string;
  preSnapshot?: string;
}

const history = (dir: string): Entry[] =>
  (JSON.parse(ok(['history', '--json'], dir)) as { history: Entry[] }).history;

/** skill/pdf added at v1 with a local edit, an upstream with v2 (which also adds a file). */
function setup(): string {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    { files: { 'skills/pdf/SKILL.md': SKILL('v1') }, tag: 'v1' },
    { files: { 'skills/pdf/SKILL.md': SKILL('v2'), 'skills/pdf/new.md': 'new in v2\n' }, tag: 'v2' },
  ]);
  const dir = path.join(tempDir(), 'collection');
  ok(['init'], dir);
  ok(['add', `${up.url}#skills/pdf@v1`], dir);
  return dir;
}

describe('undo', () => {
  it('after an update restores the pre-update bytes of files, manifest and lock; undo again re-applies it', () => {
    const dir = setup();
    const beforeUpdate = treeListing(dir);
    const manifest = fs.readFileSync(path.join(dir, 'collection.toml'));
    const lock = fs.readFileSync(path.join(dir, 'collection.lock'));
    ok(['update', 'skill/pdf', '--to', 'v2', '--strategy', 'overwrite'], dir);
    const afterUpdate = treeListing(dir);
    assert.notDeepEqual(afterUpdate, beforeUpdate);
    const update = history(dir)[0] as Entry;
    assert.equal(update.kind, 'update');

    const out = ok(['undo'], dir);
    assert.equal(
      out,
      `undid update of skill/pdf (tx ${update.txId}): restored snapshot ${update.preSnapshot}; undo again: artifact-keeper undo\n`,
    );
    assert.deepEqual(treeListing(dir), beforeUpdate, 'every file as before the update');
    assert.ok(fs.readFileSync(path.join(dir, 'collection.toml')).equals(manifest), 'manifest bytes');
    assert.ok(fs.readFileSync(path.join(dir, 'collection.lock')).equals(lock), 'lock bytes');
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean');
    const undo = history(dir)[0] as Entry;
    assert.equal(undo.kind, 'undo');
    assert.equal(undo.description, 'undo update of skill/pdf');
    assert.ok(undo.preSnapshot, 'the undo has its own safety snapshot');

    // Undo of the undo: the undo is the last transaction, so it is what goes — the update is back.
    const again = JSON.parse(ok(['undo', '--json'], dir)) as {
      undone: Entry;
      restored: string;
      safety: string;
      txId: string;
      changed: number;
    };
    assert.equal(again.undone.txId, undo.txId);
    assert.equal(again.restored, undo.preSnapshot);
    assert.ok(again.changed > 0);
    assert.deepEqual(treeListing(dir), afterUpdate, 'undo twice = the state after the update');
    const redo = history(dir)[0] as Entry;
    assert.equal(redo.txId, again.txId);
    assert.equal(redo.description, 'redo update of skill/pdf');

    // And once more: back to before the update (it toggles, it never walks further back).
    ok(['undo'], dir);
    assert.deepEqual(treeListing(dir), beforeUpdate);
    assert.equal(history(dir)[0]?.description, 'undo update of skill/pdf');
    assert.deepEqual(
      history(dir).map((e) => e.kind),
      ['undo', 'undo', 'undo', 'update', 'add', 'init'],
    );
  });

  it('undoes a restore (back to the state before it) and an add', () => {
    const dir = setup();
    const added = treeListing(dir);
    const snapshot = JSON.parse(ok(['snapshot', '-m', 'with pdf', '--json'], dir)) as { id: string };
    fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), SKILL('edited'));
    const edited = treeListing(dir);
    ok(['restore', snapshot.id], dir);
    assert.deepEqual(treeListing(dir), added);
    assert.match(ok(['undo'], dir), /^undid restore s\w+ \(tx t\w+\): restored snapshot s\w+;/);
    assert.deepEqual(treeListing(dir), edited, 'the edit the restore replaced is back');

    const fresh = setup();
    ok(['undo'], fresh);
    assert.ok(!fs.existsSync(path.join(fresh, 'skills/pdf')), 'the added artifact is gone');
    assert.doesNotMatch(fs.readFileSync(path.join(fresh, 'collection.toml'), 'utf8'), /pdf/);
  });

  it('refuses with one line, exit 69, and writes nothing: empty history, no pre-snapshot, a pruned one', () => {
    // No history at all (SkillMeat's collection, no .artifact-keeper): not even the state folder appears.
    const plain = copySharedFixture();
    fs.rmSync(path.join(plain, '.artifact-keeper'), { recursive: true, force: true });
    const before = treeListing(plain, new Set());
    const empty = runCli(['undo', '--collection', plain]);
    assert.equal(empty.code, 69, empty.stderr);
    assert.equal(empty.stderr, 'artifact-keeper: nothing to undo: the history of this collection is empty\n');
    assert.equal(empty.stdout, '');
    assert.deepEqual(treeListing(plain, new Set()), before, 'nothing written');
    const json = runCli(['undo', '--json', '--collection', plain]);
    assert.equal(json.code, 69);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'undo-unavailable');

    // Only `init` in the history: it has no snapshot before it.
    const initOnly = path.join(tempDir(), 'collection');
    ok(['init'], initOnly);
    const initBefore = treeListing(initOnly, new Set());
    const init = runCli(['undo', '--collection', initOnly]);
    assert.equal(init.code, 69);
    assert.match(
      init.stderr,
      /^artifact-keeper: cannot undo init \S+ \(tx t\w+\): no snapshot was taken before it\n$/,
    );
    assert.deepEqual(treeListing(initOnly, new Set()), initBefore);

    // The last change's pre-snapshot pruned by retention.
    const dir = setup();
    ok(['update', 'skill/pdf', '--to', 'v2', '--strategy', 'overwrite'], dir);
    ok(['snapshot', '-m', 'prunes the rest', '--keep', '1'], dir);
    const update = history(dir)[0] as Entry;
    const prunedBefore = treeListing(dir, new Set());
    const pruned = runCli(['undo', '--collection', dir]);
    assert.equal(pruned.code, 69);
    assert.equal(
      pruned.stderr,
      `artifact-keeper: cannot undo update of skill/pdf (tx ${update.txId}): its snapshot ${update.preSnapshot} was pruned by retention\n`,
    );
    assert.deepEqual(treeListing(dir, new Set()), prunedBefore, 'nothing written, not even a snapshot');
  });

  it('with expectTxId, refuses once that transaction is no longer the last (the "Undo Update" button)', async () => {
    const dir = setup();
    ok(['update', 'skill/pdf', '--to', 'v2', '--strategy', 'overwrite'], dir);
    const update = history(dir)[0] as Entry;
    fs.appendFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'edit\n');
    const lock = fs.readFileSync(path.join(dir, 'collection.lock'));
    ok(['relock', 'skill/pdf'], dir);
    const before = treeListing(dir, new Set());
    const opts = { fs: nodeFs, logger: silentLogger, tool: 'undo-test' };
    await assert.rejects(
      undoLastChange(dir, opts, { expectTxId: update.txId }),
      (err: unknown) =>
        err instanceof CoreError &&
        err.failure.code === 'undo-unavailable' &&
        err.failure.reason === 'not-last' &&
        err.failure.change === 'relock of skill/pdf',
    );
    assert.deepEqual(treeListing(dir, new Set()), before);
    const last = history(dir)[0] as Entry;
    const result = await undoLastChange(dir, opts, { expectTxId: last.txId });
    assert.equal(result.undone.txId, last.txId);
    // A re-lock changed only the lock: its undo puts the old lock back, and the edit reads modified again.
    assert.ok(fs.readFileSync(path.join(dir, 'collection.lock')).equals(lock));
    assert.equal(runCli(['status', '--collection', dir]).code, 1, 'modified');
  });
});
