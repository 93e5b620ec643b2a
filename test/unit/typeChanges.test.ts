/**
 * Restores across type changes (issue 15, item 2): an artifact folder replaced by a symlink to a folder
 * elsewhere (dotfiles setups do this), by a file, by a symlink to a file, and every change back. Restore
 * and its undo handle each pair, never write through a symlink out of the collection, and `recover`
 * always finishes: after an IO fault at any call, after a crash before any call, and on the journal that
 * the version before this fix left behind (the collection stuck `interrupted`, recover failing EISDIR).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import type { FileChange } from '../../src/core/base/changes.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { Fs } from '../../src/core/ports/fs.js';
import { hasJournal } from '../../src/core/txn/journal.js';
import { recoverCollection, restoreSnapshot, takeSnapshot } from '../../src/core/transfer/restore.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import { applyChanges, newTxId } from '../../src/core/txn/transaction.js';
import type { TransactionSpec } from '../../src/core/txn/transaction.js';
import { tempDir, treeListing, writeTree } from './support/collections.js';
import { freezeBefore, ruleFor } from './support/faults.js';

const opts = (fs: Fs = nodeFs, faults?: FaultPlan) => ({
  fs,
  logger: silentLogger,
  tool: 'type-changes-test',
  ...(faults ? { faults } : {}),
});

/** What `skills/x` is: the four shapes a user's setup gives it. */
const SHAPES = ['folder', 'folder-link', 'file', 'file-link'] as const;
type Shape = (typeof SHAPES)[number];

interface World {
  root: string;
  dir: string;
  /** Outside the collection: what the symlinks point to. Never written by a restore. */
  outside: string;
}

function newWorld(): World {
  const root = tempDir('ak-types-');
  const dir = path.join(root, 'collection');
  const outside = path.join(root, 'dotfiles');
  writeTree(outside, {
    'x/SKILL.md': '---\nname: x\ndescription: from dotfiles\n---\nThe dotfiles copy.\n',
    'x/ref/a.md': 'dotfiles ref\n',
    'x.md': 'a dotfiles file\n',
  });
  writeTree(dir, {
    'collection.toml': '[collection]\nname = "types"\n',
    'collection.lock': '[lock]\nversion = "1.0.0"\n',
    'skills/keep/SKILL.md': 'keep\n',
  });
  return { root, dir, outside };
}

/** Makes `skills/x` (and only it) the given shape. */
function shape(world: World, kind: Shape): void {
  const x = path.join(world.dir, 'skills/x');
  fs.rmSync(x, { recursive: true, force: true });
  switch (kind) {
    case 'folder':
      writeTree(x, {
        'SKILL.md': '---\nname: x\ndescription: in place\n---\nThe real copy.\n',
        'ref/a.md': 'ref\n',
      });
      fs.mkdirSync(path.join(x, 'ref/empty'));
      break;
    case 'folder-link':
      fs.symlinkSync(path.join(world.outside, 'x'), x);
      break;
    case 'file':
      fs.writeFileSync(x, 'a plain file where the folder was\n');
      break;
    case 'file-link':
      fs.symlinkSync(path.join(world.outside, 'x.md'), x);
      break;
  }
}

/** A snapshot of `skills/x` as `to`, then the collection switched to `from`. */
async function prepare(world: World, from: Shape, to: Shape): Promise<{ id: string; want: string[] }> {
  shape(world, to);
  const snapshot = await takeSnapshot(world.dir, { message: `as ${to}` }, opts());
  const want = treeListing(world.dir);
  shape(world, from);
  return { id: snapshot.id, want };
}

const pairs = SHAPES.flatMap((from) => SHAPES.filter((to) => to !== from).map((to) => ({ from, to })));

void describe('restore across a type change of an artifact path', () => {
  for (const { from, to } of pairs) {
    void it(`${from} → ${to}, and its undo back to ${from}`, async () => {
      const world = newWorld();
      const outsideBefore = treeListing(world.outside);
      const { id, want } = await prepare(world, from, to);
      const before = treeListing(world.dir);

      const result = await restoreSnapshot(world.dir, id, opts());
      assert.deepEqual(treeListing(world.dir), want);
      assert.deepEqual(treeListing(world.outside), outsideBefore, 'nothing written through a symlink');
      assert.equal(hasJournal(world.dir), false);

      await restoreSnapshot(world.dir, result.safety.id, opts());
      assert.deepEqual(treeListing(world.dir), before, 'the safety snapshot brings the first shape back');
      assert.deepEqual(treeListing(world.outside), outsideBefore);
    });
  }
});

/** The restores most likely to go wrong: a symlinked folder becoming real, and the other way round. */
const HARD: { from: Shape; to: Shape }[] = [
  { from: 'folder-link', to: 'folder' },
  { from: 'folder', to: 'folder-link' },
  { from: 'file', to: 'folder' },
];

/** A copy of a prepared world (collection with its state folder, dotfiles), symlinks kept as they are. */
function copyWorld(template: World, into: string): World {
  fs.cpSync(template.root, into, { recursive: true, verbatimSymlinks: true });
  const world = { root: into, dir: path.join(into, 'collection'), outside: template.outside };
  return world;
}

/** The calls of the restore's own transaction, after the safety snapshot: the ones under test here. */
function transactionCalls(calls: { op: string; path: string }[]): number[] {
  const first = calls.findIndex((c) => c.path.includes('/txn/'));
  assert.ok(first >= 0, 'the restore ran a transaction');
  return calls.map((_, k) => k).filter((k) => k >= first && calls[k]?.op !== 'git');
}

void describe('restore across a type change, under faults and crashes', () => {
  for (const { from, to } of HARD) {
    void it(`${from} → ${to}: an IO fault at any call ends in the before- or after-state, and recover always finishes`, async (t) => {
      const template = newWorld();
      const outsideBefore = treeListing(template.outside);
      const { id, want } = await prepare(template, from, to);
      const before = treeListing(template.dir);

      const probe = copyWorld(template, path.join(tempDir('ak-types-probe-'), 'w'));
      const recorded = new FaultPlan([]);
      await restoreSnapshot(probe.dir, id, opts(withFaults(nodeFs, recorded), recorded));
      assert.deepEqual(treeListing(probe.dir), want);
      const sites = transactionCalls(recorded.calls);

      let failed = 0;
      for (const k of sites) {
        const label = `EIO at call ${k} (${recorded.calls[k]?.op} ${recorded.calls[k]?.path})`;
        const world = copyWorld(template, path.join(tempDir('ak-types-fault-'), 'w'));
        const plan = new FaultPlan([ruleFor(recorded.calls, k, 'EIO')]);
        const outcome = await restoreSnapshot(world.dir, id, opts(withFaults(nodeFs, plan), plan)).then(
          () => 'restored',
          (err: unknown) => err,
        );
        if (outcome !== 'restored') {
          failed++;
          // Whether the undo finished or left its journal, recover ends it: the before-state.
          await recoverCollection(world.dir, opts());
          assert.equal(hasJournal(world.dir), false, label);
        }
        const now = treeListing(world.dir);
        assert.ok(
          JSON.stringify(now) === JSON.stringify(before) || JSON.stringify(now) === JSON.stringify(want),
          `${label}: neither the before- nor the after-state:\n${now.join('\n')}`,
        );
        if (outcome !== 'restored') assert.deepEqual(now, before, `${label}: a failed restore is undone`);
        assert.deepEqual(treeListing(world.outside), outsideBefore, `${label}: nothing written outside`);
      }
      assert.ok(failed > 10, `${failed} of ${sites.length} faults failed the restore`);
      t.diagnostic(`${sites.length} transaction calls, ${failed} faults undone`);
    });

    void it(`${from} → ${to}: a crash before any call of the transaction is recovered to the before- or after-state`, async (t) => {
      const template = newWorld();
      const outsideBefore = treeListing(template.outside);
      const { id, want } = await prepare(template, from, to);
      const before = treeListing(template.dir);
      // The restore's changes, with their contents read, so each crash run needs no store left open.
      const store = await openSnapshotStore(template.dir, { fs: nodeFs, logger: silentLogger });
      let changes: FileChange[];
      try {
        changes = await Promise.all(
          (await store.planRestore(id)).map(async (change) =>
            change.kind === 'write' && typeof change.data === 'function'
              ? { ...change, data: await change.data() }
              : change,
          ),
        );
      } finally {
        store.close();
      }
      const spec = (): TransactionSpec => ({
        txId: newTxId(),
        kind: 'restore',
        description: `restore ${id}`,
        artifacts: [],
        changes,
        tool: 'type-changes-test',
      });
      const recorded = new FaultPlan([]);
      const probe = copyWorld(template, path.join(tempDir('ak-types-probe-'), 'w'));
      await applyChanges(probe.dir, spec(), { fs: withFaults(nodeFs, recorded) });
      assert.deepEqual(treeListing(probe.dir), want);
      let crashed = 0;
      for (let n = 0; n <= recorded.calls.length; n++) {
        const world = copyWorld(template, path.join(tempDir('ak-types-crash-'), 'w'));
        const { fs: frozenFs, frozen } = freezeBefore(nodeFs, n);
        const ran = await Promise.race([
          applyChanges(world.dir, spec(), { fs: frozenFs }).then(() => 'finished' as const),
          frozen.then(() => 'frozen' as const),
        ]);
        if (ran === 'frozen') crashed++;
        await recoverCollection(world.dir, opts());
        const now = treeListing(world.dir);
        const call = recorded.calls[n];
        const label = `crash before call ${n} (${call ? `${call.op} ${call.path}` : 'none: finished'})`;
        assert.equal(hasJournal(world.dir), false, label);
        assert.ok(
          JSON.stringify(now) === JSON.stringify(before) || JSON.stringify(now) === JSON.stringify(want),
          `${label}: neither the before- nor the after-state:\n${now.join('\n')}`,
        );
        assert.deepEqual(treeListing(world.outside), outsideBefore, label);
      }
      assert.equal(crashed, recorded.calls.length);
      t.diagnostic(`${crashed} crash points recovered`);
    });
  }
});

/**
 * A restore of 0.1.0 caught half way: the symlink `skills/x` moved into the backup (op 0), a real
 * `skills/x` made (op 1), and a journal with `ops` that recovery must undo. Returns the work area.
 */
function halfDoneRestore(world: World, txId: string, state: string, ops: (txn: string) => object[]): string {
  const stateDir = path.join(world.dir, '.artifact-keeper');
  const txn = path.join(stateDir, 'txn', txId);
  fs.mkdirSync(path.join(txn, 'backup'), { recursive: true });
  fs.mkdirSync(path.join(txn, 'stage'), { recursive: true });
  fs.renameSync(path.join(world.dir, 'skills/x'), path.join(txn, 'backup/0'));
  fs.mkdirSync(path.join(world.dir, 'skills/x'));
  const journal = {
    version: 1,
    txId,
    kind: 'restore',
    description: 'restore s0mx8j78wqrps',
    artifacts: [],
    tool: 'artifact-keeper',
    pid: 999999,
    started: '2026-12-04T05:16:48.000Z',
    state,
    ops: [
      { kind: 'delete', rel: 'skills/x', n: 0 },
      { kind: 'mkdir', rel: 'skills/x', n: 1, existed: false },
      ...ops(txn),
    ],
  };
  fs.writeFileSync(path.join(stateDir, 'journal.json'), JSON.stringify(journal));
  return txn;
}

void describe('recover on the journal an earlier version left', () => {
  void it('finishes the undo of a restore from a symlinked folder (the collection was stuck interrupted, recover failed EISDIR)', async () => {
    const world = newWorld();
    shape(world, 'folder-link');
    const before = treeListing(world.dir);
    const outsideBefore = treeListing(world.outside);
    // Exactly what 0.1.0 left: it planned the files below the symlink as existing, moved the symlink
    // into its backup, made a real `skills/x` (with `ref/` inside), then failed to back up SKILL.md
    // (ENOENT), and its undo failed putting the symlink back over the folder (EISDIR).
    halfDoneRestore(world, 'tlegacy00001', 'rolling-back', (txn) => {
      fs.writeFileSync(path.join(txn, 'stage/3'), 'restored SKILL.md\n');
      fs.writeFileSync(path.join(txn, 'stage/4'), 'restored ref\n');
      fs.mkdirSync(path.join(world.dir, 'skills/x/ref'));
      const ino = (n: number): number => fs.lstatSync(path.join(txn, `stage/${n}`)).ino;
      return [
        { kind: 'mkdir', rel: 'skills/x/ref', n: 2, existed: true },
        { kind: 'write', rel: 'skills/x/SKILL.md', n: 3, existed: true, stagedIno: ino(3) },
        { kind: 'write', rel: 'skills/x/ref/a.md', n: 4, existed: true, stagedIno: ino(4) },
      ];
    });
    assert.equal(await recoverCollection(world.dir, opts()), 'rolled-back');
    assert.deepEqual(treeListing(world.dir), before, 'the symlinked folder is back, as it was');
    assert.deepEqual(treeListing(world.outside), outsideBefore);
    assert.equal(hasJournal(world.dir), false);
    assert.equal(await recoverCollection(world.dir, opts()), 'none');
  });

  void it('moves a file it did not write out of the way instead of deleting it, and says where', async () => {
    const world = newWorld();
    shape(world, 'folder-link');
    const outsideBefore = treeListing(world.outside);
    // Something else wrote into the folder that took the symlink's place while the journal was open.
    halfDoneRestore(world, 'tlegacy00002', 'applying', () => {
      writeTree(world.dir, { 'skills/x/notes.md': 'written by an editor meanwhile\n' });
      return [];
    });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (line: string | Error) => void warnings.push(String(line)) };
    assert.equal(await recoverCollection(world.dir, { ...opts(), logger }), 'rolled-back');
    assert.ok(fs.lstatSync(path.join(world.dir, 'skills/x')).isSymbolicLink(), 'the symlink is back');
    assert.deepEqual(treeListing(world.outside), outsideBefore);
    const displaced = path.join(world.dir, '.artifact-keeper', 'displaced', 'tlegacy00002');
    const [kept] = fs.readdirSync(displaced);
    assert.ok(kept, 'the folder in the way was kept');
    assert.equal(
      fs.readFileSync(path.join(displaced, kept, 'notes.md'), 'utf8'),
      'written by an editor meanwhile\n',
    );
    assert.ok(
      warnings.some((w) => w.includes('skills/x') && w.includes(displaced)),
      warnings.join('\n'),
    );
  });
});
