/**
 * `collection.toml` and `collection.lock` as symlinks to files elsewhere (dotfiles setups, issue 15 item
 * 4): every write goes through the link to its target, atomically, and the link stays a link. Snapshots
 * keep the content behind the link, so a restore or an undo puts that content back through it. All or
 * nothing holds across both folders: an IO fault at any call, or a crash before any call followed by
 * `recover`, leaves the collection and the dotfiles folder both before or both after.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { FileChange } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { hasJournal } from '../../src/core/txn/journal.js';
import { applyChanges, newTxId, recoverJournal } from '../../src/core/txn/transaction.js';
import type { TransactionSpec } from '../../src/core/txn/transaction.js';
import { runCli, tempDir, treeListing, writeTree } from './support/collections.js';
import { freezeBefore, ruleFor } from './support/faults.js';

interface World {
  dir: string;
  /** Where the links point: `ak/collection.toml` and `ak/collection.lock`. */
  dotfiles: string;
}

/** Moves the collection's manifest and lock into a dotfiles folder and links them back (one link relative, one absolute). */
function linkDocuments(dir: string, dotfiles: string): void {
  fs.mkdirSync(path.join(dotfiles, 'ak'), { recursive: true });
  for (const name of ['collection.toml', 'collection.lock']) {
    fs.renameSync(path.join(dir, name), path.join(dotfiles, 'ak', name));
  }
  fs.symlinkSync(
    path.relative(dir, path.join(dotfiles, 'ak', 'collection.toml')),
    path.join(dir, 'collection.toml'),
  );
  fs.symlinkSync(path.join(dotfiles, 'ak', 'collection.lock'), path.join(dir, 'collection.lock'));
}

function links(dir: string): string[] {
  return ['collection.toml', 'collection.lock'].map((name) => {
    const file = path.join(dir, name);
    assert.ok(fs.lstatSync(file).isSymbolicLink(), `${name} is still a symlink`);
    return fs.readlinkSync(file);
  });
}

/** Both folders, as one listing: the transaction's before- and after-states span them. */
function listing(world: World): string[] {
  return [...treeListing(world.dir), ...treeListing(world.dotfiles).map((line) => `dotfiles: ${line}`)];
}

/** A collection made by the CLI (init, add from a local folder), its documents then linked into dotfiles. */
function cliWorld(): World & { source: (name: string) => string } {
  const root = tempDir('ak-linked-');
  const dir = path.join(root, 'collection');
  const dotfiles = path.join(root, 'dotfiles');
  const source = (name: string): string => {
    const folder = path.join(root, 'sources', name);
    writeTree(folder, { 'SKILL.md': `---\nname: ${name}\ndescription: ${name} skill\n---\nUse ${name}.\n` });
    return folder;
  };
  assert.equal(runCli(['init', '--collection', dir]).code, 0);
  assert.equal(runCli(['add', source('pdf'), '--collection', dir]).code, 0);
  linkDocuments(dir, dotfiles);
  return { dir, dotfiles, source };
}

void describe('a symlinked collection.toml and collection.lock', () => {
  void it('add, undo and restore write through the links; the links stay; status stays clean', () => {
    const world = cliWorld();
    const linked = links(world.dir);
    const status = (): number => runCli(['status', '--collection', world.dir]).code;
    assert.equal(status(), 0, 'a linked collection reads clean');
    const before = listing(world);

    const added = runCli(['add', world.source('xlsx'), '--collection', world.dir]);
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(links(world.dir), linked);
    const manifest = fs.readFileSync(path.join(world.dotfiles, 'ak/collection.toml'), 'utf8');
    const lock = fs.readFileSync(path.join(world.dotfiles, 'ak/collection.lock'), 'utf8');
    assert.match(manifest, /name = "xlsx"/, 'the manifest behind the link has the new artifact');
    assert.match(lock, /\[lock\.entries\."xlsx::skill"\]|xlsx/, 'so has the lock');
    assert.equal(status(), 0);
    const after = listing(world);

    const undone = runCli(['undo', '--collection', world.dir]);
    assert.equal(undone.code, 0, undone.stderr);
    assert.deepEqual(links(world.dir), linked);
    assert.deepEqual(listing(world), before, 'undo put the documents back through the links');
    assert.equal(status(), 0);

    const redone = runCli(['undo', '--collection', world.dir]);
    assert.equal(redone.code, 0, redone.stderr);
    assert.deepEqual(links(world.dir), linked);
    assert.deepEqual(listing(world), after, 'undo of the undo re-applies the add');

    const restored = runCli(['restore', 'latest', '--collection', world.dir]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(links(world.dir), linked);
    assert.equal(status(), 0);
    assert.deepEqual(
      fs.readdirSync(world.dotfiles),
      ['ak'],
      'nothing else is written in the dotfiles folder',
    );
  });

  void it('a link to another file system is refused before anything is written (EXDEV, naming it)', () => {
    const world = cliWorld();
    const shm = fs.mkdtempSync('/dev/shm/ak-linked-');
    try {
      assert.notEqual(
        fs.statSync(shm).dev,
        fs.statSync(world.dir).dev,
        'needs /dev/shm on a file system of its own',
      );
      const lock = path.join(world.dir, 'collection.lock');
      fs.copyFileSync(lock, path.join(shm, 'collection.lock'));
      fs.unlinkSync(lock);
      fs.symlinkSync(path.join(shm, 'collection.lock'), lock);
      const before = [...listing(world), ...treeListing(shm)];
      const added = runCli(['add', world.source('xlsx'), '--collection', world.dir]);
      assert.equal(added.code, 4, added.stderr);
      assert.match(added.stderr, /EXDEV/);
      assert.match(added.stderr, /another file system/);
      assert.ok(added.stderr.includes(shm), added.stderr);
      assert.deepEqual([...listing(world), ...treeListing(shm)], before);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The engine alone: every IO call faulted, and a crash before every call.

function engineWorld(base: string, n: number): World {
  const dir = path.join(base, `run${n}`, 'collection');
  const dotfiles = path.join(base, `run${n}`, 'dotfiles');
  writeTree(dir, {
    'collection.toml': 'manifest v1\n',
    'collection.lock': 'lock v1\n',
    'skills/a/SKILL.md': 'a v1\n',
  });
  linkDocuments(dir, dotfiles);
  return { dir, dotfiles };
}

const changes = (): FileChange[] => [
  { kind: 'write', rel: 'skills/a/SKILL.md', data: Buffer.from('a v2\n'), mode: 0o644 },
  { kind: 'mkdir', rel: 'skills/b' },
  { kind: 'write', rel: 'skills/b/SKILL.md', data: Buffer.from('b v1\n'), mode: 0o644 },
  { kind: 'write', rel: 'collection.toml', data: Buffer.from('manifest v2\n'), mode: 0o644 },
  { kind: 'write', rel: 'collection.lock', data: Buffer.from('lock v2\n'), mode: 0o644 },
];

const spec = (): TransactionSpec => ({
  txId: newTxId(),
  kind: 'test',
  description: 'linked documents',
  artifacts: [],
  changes: changes(),
  tool: 'linked-test',
});

void describe('the engine with linked documents', () => {
  void it('commits through the links: the targets change, the links and their folder hold nothing else', async () => {
    const world = engineWorld(tempDir('ak-linked-engine-'), 0);
    const linked = links(world.dir);
    await applyChanges(world.dir, spec());
    assert.deepEqual(links(world.dir), linked);
    assert.equal(fs.readFileSync(path.join(world.dotfiles, 'ak/collection.toml'), 'utf8'), 'manifest v2\n');
    assert.equal(fs.readFileSync(path.join(world.dotfiles, 'ak/collection.lock'), 'utf8'), 'lock v2\n');
    assert.deepEqual(fs.readdirSync(path.join(world.dotfiles, 'ak')).sort(), [
      'collection.lock',
      'collection.toml',
    ]);
    assert.equal(hasJournal(world.dir), false);
  });

  void it('an IO fault at any call, or a crash before it and then recover: both folders before or both after', async () => {
    const base = tempDir('ak-linked-faults-');
    let n = 1;
    const recorded = engineWorld(base, n++);
    const before = listing(recorded);
    const plan = new FaultPlan([]);
    await applyChanges(recorded.dir, spec(), { fs: withFaults(nodeFs, plan) });
    const after = listing(recorded);
    const lockTarget = path.join(recorded.dotfiles, 'ak', 'collection.lock');
    const commitIndex = plan.calls.findIndex((c) => c.op === 'rename' && c.path === lockTarget);
    assert.ok(commitIndex > 0, 'the commit point is the rename into the lock link target');
    // The absolute link names its run's folder: compare with that part written as <run>.
    const normalise = (world: World, lines: string[]): string[] =>
      lines.map((line) => line.replaceAll(path.dirname(world.dir), '<run>'));
    const beforeState = normalise(recorded, before);
    const afterState = normalise(recorded, after);
    assert.notDeepEqual(beforeState, afterState);

    let faults = 0;
    let crashes = 0;
    for (const [k, call] of plan.calls.entries()) {
      const label = `call ${k} (${call.op} ${call.path})`;
      // A fault: before the commit point the failure is reported and undone; after it, it is committed.
      const faulted = engineWorld(base, n++);
      const faultPlan = new FaultPlan([ruleFor(plan.calls, k, 'EIO')]);
      const outcome = await applyChanges(faulted.dir, spec(), { fs: withFaults(nodeFs, faultPlan) }).then(
        () => undefined,
        (err: unknown) => err,
      );
      if (k <= commitIndex) assert.ok(isCoreError(outcome, 'io-failed'), `${label}: ${String(outcome)}`);
      if (hasJournal(faulted.dir)) await recoverJournal(faulted.dir);
      const state = normalise(faulted, listing(faulted));
      assert.deepEqual(state, k <= commitIndex ? beforeState : afterState, `fault at ${label}`);
      links(faulted.dir);
      faults++;

      // A crash: calls 0..k-1 happened, then the process died; the next writer recovers.
      const crashed = engineWorld(base, n++);
      const { fs: frozenFs, frozen } = freezeBefore(nodeFs, k);
      void applyChanges(crashed.dir, spec(), { fs: frozenFs });
      await frozen;
      await recoverJournal(crashed.dir);
      const recovered = normalise(crashed, listing(crashed));
      const isBefore = JSON.stringify(recovered) === JSON.stringify(beforeState);
      const isAfter = JSON.stringify(recovered) === JSON.stringify(afterState);
      assert.ok(
        isBefore || isAfter,
        `crash before ${label}: neither before nor after\n${recovered.join('\n')}`,
      );
      assert.equal(
        isAfter,
        k > commitIndex,
        `crash before ${label}: committed exactly when past the commit point`,
      );
      links(crashed.dir);
      crashes++;
    }
    assert.ok(faults > 20 && crashes === faults, `${faults} faults, ${crashes} crashes`);
  });
});
