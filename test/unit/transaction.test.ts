/**
 * Tests for the transaction engine (src/core/txn/transaction.ts, journal.ts) on real temp folders: the result
 * of a good apply, an injected fault at every IO call, a simulated crash before every IO call (with and
 * without a second crash during recovery), an undo that fails too, and kill -9 of a real child process.
 * The invariant checked everywhere: the collection is exactly its before-state or its after-state.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STATE_DIR } from '../../src/core/base/changes.js';
import type { FileChange, Logger } from '../../src/core/base/changes.js';
import { isCoreError } from '../../src/core/base/errors.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { Fs } from '../../src/core/ports/fs.js';
import { readHistory } from '../../src/core/store/history.js';
import { hasJournal, journalPath, readJournal } from '../../src/core/txn/journal.js';
import {
  applyChanges,
  newTxId,
  recoverJournal,
  UndoFailedError,
  withWriter,
} from '../../src/core/txn/transaction.js';
import type { RecoveryOutcome, TransactionSpec } from '../../src/core/txn/transaction.js';
import { acquireWriterLock, writerLockPath } from '../../src/core/txn/writerLock.js';
import { tempDir, treeListing } from './support/collections.js';
import { freezeBefore, ruleFor } from './support/faults.js';
import { writeFileAt } from '../support/files.js';
import { buildSynthetic, rng, syntheticChanges } from './support/synthetic.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const ERRNOS = ['EIO', 'ENOSPC', 'EACCES', 'EXDEV'];
const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

// ---------------------------------------------------------------------------------------------------------
// A small collection and a change set that uses every kind of change once or more.

function buildSmall(dir: string): void {
  const file = (rel: string, content: string, mode = 0o644): void => writeFileAt(dir, rel, content, mode);
  file('collection.toml', 'manifest v1\n');
  file('collection.lock', 'lock v1\n');
  file('skills/a/SKILL.md', 'a v1\n');
  file('skills/a/run.sh', '#!/bin/sh\necho v1\n', 0o755);
  file('skills/a/mode.sh', '#!/bin/sh\necho mode\n');
  file('skills/a/old.txt', 'old\n');
  fs.symlinkSync('SKILL.md', path.join(dir, 'skills/a/link.md'));
  file('skills/c/SKILL.md', 'c\n');
  file('skills/c/ref/notes.md', 'notes\n');
  file('skills/keep/SKILL.md', 'keep\n');
  file('agents/x.md', 'agent x\n');
  file('commands/keep.md', 'keep me\n');
}

function smallChanges(): FileChange[] {
  return [
    { kind: 'write', rel: 'skills/a/SKILL.md', data: bytes('a v2\n'), mode: 0o644 },
    { kind: 'write', rel: 'skills/a/run.sh', data: bytes('#!/bin/sh\necho v2\n'), mode: 0o755 },
    { kind: 'write', rel: 'skills/a/mode.sh', data: bytes('#!/bin/sh\necho mode\n'), mode: 0o755 },
    { kind: 'delete', rel: 'skills/a/old.txt' },
    { kind: 'delete', rel: 'skills/a/link.md' },
    { kind: 'mkdir', rel: 'skills/b' },
    { kind: 'write', rel: 'skills/b/SKILL.md', data: () => Promise.resolve(bytes('b new\n')), mode: 0o644 },
    { kind: 'mkdir', rel: 'skills/b/scripts' },
    { kind: 'write', rel: 'skills/b/scripts/x.sh', data: bytes('#!/bin/sh\n'), mode: 0o755 },
    { kind: 'write', rel: 'skills/b/link.md', data: bytes(''), mode: 0o644, symlinkTarget: 'SKILL.md' },
    { kind: 'delete', rel: 'skills/c/ref/notes.md' },
    { kind: 'rmdir', rel: 'skills/c/ref' },
    { kind: 'delete', rel: 'skills/c/SKILL.md' },
    { kind: 'rmdir', rel: 'skills/c' },
    {
      kind: 'write',
      rel: 'agents/x.md',
      data: bytes(''),
      mode: 0o644,
      symlinkTarget: '../skills/b/SKILL.md',
    },
    { kind: 'mkdir', rel: 'hooks' },
    { kind: 'write', rel: 'commands/new.md', data: bytes('new command\n'), mode: 0o644 },
    { kind: 'write', rel: 'collection.toml', data: bytes('manifest v2\n'), mode: 0o644 },
    { kind: 'write', rel: 'collection.lock', data: bytes('lock v2\n'), mode: 0o644 },
  ];
}

/** The same path changed twice: types swapped (file ↔ folder), deleted then rewritten, written twice. */
function typeChanges(): FileChange[] {
  return [
    { kind: 'delete', rel: 'agents/x.md' },
    { kind: 'mkdir', rel: 'agents/x.md' },
    { kind: 'write', rel: 'agents/x.md/inner.md', data: bytes('now a folder\n'), mode: 0o644 },
    { kind: 'delete', rel: 'skills/c/ref/notes.md' },
    { kind: 'rmdir', rel: 'skills/c/ref' },
    { kind: 'write', rel: 'skills/c/ref', data: bytes('now a file\n'), mode: 0o644 },
    { kind: 'delete', rel: 'skills/a/SKILL.md' },
    { kind: 'write', rel: 'skills/a/SKILL.md', data: bytes('rewritten\n'), mode: 0o755 },
    { kind: 'write', rel: 'commands/new.md', data: bytes('first\n'), mode: 0o644 },
    { kind: 'write', rel: 'commands/new.md', data: bytes('second\n'), mode: 0o644 },
    { kind: 'write', rel: 'collection.lock', data: bytes('lock v2\n'), mode: 0o644 },
  ];
}

function specOf(changes: FileChange[], txId = newTxId()): TransactionSpec {
  return {
    txId,
    kind: 'update',
    description: 'Update a and b',
    artifacts: ['skill/a', 'skill/b', 'skill/c'],
    preSnapshot: 'snap1',
    changes,
    tool: 'test',
  };
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/**
 * The campaigns below run a transaction hundreds of times; they test the order of IO calls, not whether
 * the disk honours fsync, so they use tmpfs when there is one (an fsync on this machine's disk costs
 * ~1.5 ms). The success test and the kill -9 test run on the ordinary temp folder's disk.
 */
function scratchDir(prefix: string): string {
  const shm = '/dev/shm';
  try {
    fs.accessSync(shm, fs.constants.W_OK);
  } catch {
    return tempDir(prefix);
  }
  const dir = fs.mkdtempSync(path.join(shm, `${prefix}${os.userInfo().username}-`));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let runCounter = 0;
/** A fresh collection folder below `base`, built by `build`. */
function fresh(base: string, build: (dir: string) => void = buildSmall): string {
  const dir = path.join(base, `run${runCounter++}`);
  fs.mkdirSync(dir);
  build(dir);
  return dir;
}

/** Anything the engine must never leave behind once a transaction is finished or recovered. */
function leftovers(dir: string): string[] {
  const state = path.join(dir, STATE_DIR);
  const list = (folder: string): string[] => (fs.existsSync(folder) ? fs.readdirSync(folder).sort() : []);
  return [
    ...list(path.join(state, 'txn')).map((name) => `txn/${name}`),
    ...list(state).filter(
      (name) => name === 'journal.json' || name.endsWith('.ak-tmp') || name.endsWith('.reclaim'),
    ),
    ...list(dir).filter((name) => name.endsWith('.ak-tmp')),
  ];
}

/** Runs `work` until it finishes or freezes; reports which. */
async function runUntilFrozen(work: (fs: Fs) => Promise<unknown>, n: number): Promise<'frozen' | 'finished'> {
  const { fs: frozenFs, frozen } = freezeBefore(nodeFs, n);
  return Promise.race([work(frozenFs).then(() => 'finished' as const), frozen.then(() => 'frozen' as const)]);
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(runners);
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (message: string | Error): void => {
      lines.push(`${level} ${String(message)}`);
    };
  return {
    lines,
    trace: push('trace'),
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
  };
}

/** Records the IO calls of a good apply and the index of the commit rename among them. */
async function recordCalls(
  base: string,
  changes: () => FileChange[],
): Promise<{
  calls: { op: string; path: string }[];
  commitIndex: number;
  before: string[];
  after: string[];
}> {
  const dir = fresh(base);
  const before = treeListing(dir);
  const plan = new FaultPlan([]);
  await applyChanges(dir, specOf(changes()), { fs: withFaults(nodeFs, plan) });
  const after = treeListing(dir);
  const lockFile = path.join(dir, 'collection.lock');
  const commitIndex = plan.calls.findIndex((c) => c.op === 'rename' && c.path === lockFile);
  fs.rmSync(dir, { recursive: true, force: true });
  return { calls: plan.calls, commitIndex, before, after };
}

function historyOf(dir: string, txId: string): number {
  return readHistory(dir).filter((entry) => entry.txId === txId).length;
}

// ---------------------------------------------------------------------------------------------------------

void describe('applyChanges', () => {
  void it('writes, replaces, deletes, makes and removes folders, and keeps untouched files as they were', async () => {
    const dir = fresh(tempDir('ak-txn-'));
    const untouched = ['commands/keep.md', 'skills/keep/SKILL.md'].map((rel) => {
      const st = fs.lstatSync(path.join(dir, rel));
      return { rel, ino: st.ino, mtimeMs: st.mtimeMs };
    });
    const spec = specOf(smallChanges());
    const result = await applyChanges(dir, spec);
    assert.deepEqual(result, { txId: spec.txId, cleanupPending: false });

    const read = (rel: string): string => fs.readFileSync(path.join(dir, rel), 'utf8');
    const mode = (rel: string): string => (fs.lstatSync(path.join(dir, rel)).mode & 0o777).toString(8);
    assert.equal(read('skills/a/SKILL.md'), 'a v2\n');
    assert.equal(read('skills/a/run.sh'), '#!/bin/sh\necho v2\n');
    assert.equal(mode('skills/a/run.sh'), '755', 'the executable bit survives a replace');
    assert.equal(mode('skills/a/mode.sh'), '755', 'a mode change applies');
    assert.equal(fs.existsSync(path.join(dir, 'skills/a/old.txt')), false);
    assert.equal(fs.existsSync(path.join(dir, 'skills/a/link.md')), false);
    assert.equal(read('skills/b/SKILL.md'), 'b new\n', 'data from a loader');
    assert.equal(mode('skills/b/scripts/x.sh'), '755');
    assert.equal(fs.readlinkSync(path.join(dir, 'skills/b/link.md')), 'SKILL.md');
    assert.equal(
      fs.readlinkSync(path.join(dir, 'agents/x.md')),
      '../skills/b/SKILL.md',
      'a file replaced by a symlink',
    );
    assert.equal(fs.existsSync(path.join(dir, 'skills/c')), false);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'hooks')), []);
    assert.equal(read('commands/new.md'), 'new command\n');
    assert.equal(read('collection.toml'), 'manifest v2\n');
    assert.equal(read('collection.lock'), 'lock v2\n');
    for (const before of untouched) {
      const st = fs.lstatSync(path.join(dir, before.rel));
      assert.equal(st.ino, before.ino, `${before.rel} keeps its inode`);
      assert.equal(st.mtimeMs, before.mtimeMs, `${before.rel} keeps its mtime`);
    }

    assert.deepEqual(leftovers(dir), []);
    assert.equal(hasJournal(dir), false);
    const history = readHistory(dir);
    assert.equal(history.length, 1);
    const entry = history[0];
    assert.ok(entry);
    assert.deepEqual(
      { ...entry, time: undefined },
      {
        txId: spec.txId,
        kind: 'update',
        description: 'Update a and b',
        artifacts: ['skill/a', 'skill/b', 'skill/c'],
        preSnapshot: 'snap1',
        time: undefined,
        tool: 'test',
        outcome: 'committed',
      },
    );
  });

  void it('applies a change set without a lock change (the journal is then the commit point)', async () => {
    const dir = fresh(tempDir('ak-txn-'));
    const changes = smallChanges().filter((c) => c.rel !== 'collection.lock');
    await applyChanges(dir, specOf(changes));
    assert.equal(fs.readFileSync(path.join(dir, 'collection.toml'), 'utf8'), 'manifest v2\n');
    assert.equal(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), 'lock v1\n');
    assert.deepEqual(leftovers(dir), []);
  });

  void it('stages its files side by side, and a staging failure names its file and undoes the rest', async () => {
    const isStaged = (file: string): boolean => path.basename(path.dirname(file)) === 'stage';
    /**
     * An Fs whose staged files' fsyncs each wait until `together` of them are under way at once (or 2 s,
     * which one after another would take per file), counting the most files staged at once (from the
     * start of a file's write to the end of its fsync).
     */
    const syncingTogether = (together: number): { fs: Fs; most: () => number; entered: () => number } => {
      let entered = 0;
      let most = 0;
      let staging = 0;
      let waiting: (() => void)[] = [];
      return {
        fs: {
          ...nodeFs,
          async writeFile(file, data, mode) {
            if (isStaged(file)) most = Math.max(most, ++staging);
            return nodeFs.writeFile(file, data, mode);
          },
          async fsync(target) {
            if (!isStaged(target)) return nodeFs.fsync(target);
            entered++;
            const turn = new Promise<void>((resolve) => waiting.push(resolve));
            if (waiting.length === together) {
              for (const go of waiting) go();
              waiting = [];
            }
            await Promise.race([turn, new Promise((resolve) => setTimeout(resolve, 2_000))]);
            await nodeFs.fsync(target);
            staging--;
          },
        },
        most: () => most,
        entered: () => entered,
      };
    };
    const dir = fresh(tempDir('ak-txn-'));
    const staged = smallChanges().filter((c) => c.kind === 'write' && c.symlinkTarget === undefined);
    const small = syncingTogether(staged.length);
    await applyChanges(dir, specOf(smallChanges()), { fs: small.fs });
    assert.equal(small.entered(), staged.length, 'one fsync per staged file');
    assert.equal(small.most(), staged.length, 'every staged file was being synced at once');
    assert.equal(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), 'lock v2\n');

    // Forty new files: eight at a time, never more (a restore of thousands must not open them all).
    const many = fresh(tempDir('ak-txn-'));
    const forty = syncingTogether(8);
    const files: FileChange[] = Array.from({ length: 40 }, (_, i) => ({
      kind: 'write',
      rel: `commands/many-${i}.md`,
      data: bytes(`command ${i}\n`),
      mode: 0o644,
    }));
    await applyChanges(many, specOf([...files, ...smallChanges()]), { fs: forty.fs });
    assert.equal(forty.entered(), 40 + staged.length);
    assert.equal(forty.most(), 8);
    assert.equal(fs.readFileSync(path.join(many, 'commands/many-39.md'), 'utf8'), 'command 39\n');

    // The write of one staged file fails while the others are staged: the error names that file, and
    // nothing of the transaction is left once the others have finished.
    const failing = fresh(tempDir('ak-txn-'));
    const before = treeListing(failing);
    // A plain write in the middle of the change set.
    const n = smallChanges().findIndex(
      (c, i) => i > 0 && c.kind === 'write' && c.symlinkTarget === undefined && Buffer.isBuffer(c.data),
    );
    assert.ok(n > 0);
    const failingStage = path.join('stage', String(n));
    const faulty: Fs = {
      ...nodeFs,
      async writeFile(file, data, mode) {
        if (file.endsWith(`${path.sep}${failingStage}`)) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw Object.assign(new Error(`EIO: i/o error, open '${file}'`), { code: 'EIO' });
        }
        return nodeFs.writeFile(file, data, mode);
      },
    };
    const spec = specOf(smallChanges());
    const err = await applyChanges(failing, spec, { fs: faulty }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isCoreError(err, 'io-failed'), `threw ${String(err)}`);
    assert.match(err.message, new RegExp(`^write /.+${failingStage.replace(/[/\\]/g, '.')} failed: EIO`));
    assert.deepEqual(treeListing(failing), before);
    assert.deepEqual(leftovers(failing), []);
    assert.equal(historyOf(failing, spec.txId), 0);
  });

  void it('refuses a malformed spec before touching anything', async () => {
    const base = tempDir('ak-txn-');
    const cases: [string, FileChange[]][] = [
      ['lock not last', [...smallChanges()].reverse()],
      ['lock deleted', [{ kind: 'delete', rel: 'collection.lock' }]],
      ['parent segment', [{ kind: 'write', rel: '../outside.md', data: bytes('x'), mode: 0o644 }]],
      ['absolute', [{ kind: 'write', rel: '/tmp/x.md', data: bytes('x'), mode: 0o644 }]],
      ['state folder', [{ kind: 'delete', rel: `${STATE_DIR}/history.jsonl` }]],
    ];
    for (const [label, changes] of cases) {
      const dir = fresh(base);
      const before = treeListing(dir);
      await assert.rejects(
        applyChanges(dir, specOf(changes)),
        (e: unknown) => e instanceof Error && !isCoreError(e),
        label,
      );
      assert.deepEqual(treeListing(dir), before, label);
      assert.equal(fs.existsSync(path.join(dir, STATE_DIR)), false, label);
    }
  });

  void it('reports plan-stale when the disk no longer matches the changes, writing nothing', async () => {
    const base = tempDir('ak-txn-');
    const outside = tempDir('ak-outside-');
    const cases: [string, FileChange[], (dir: string) => void][] = [
      ['delete of a missing file', [{ kind: 'delete', rel: 'skills/a/gone.md' }], () => undefined],
      [
        'write into a missing folder',
        [{ kind: 'write', rel: 'nope/x.md', data: bytes('x'), mode: 0o644 }],
        () => undefined,
      ],
      ['mkdir without its parent', [{ kind: 'mkdir', rel: 'nope/deeper' }], () => undefined],
      [
        'write over a folder',
        [{ kind: 'write', rel: 'skills/a', data: bytes('x'), mode: 0o644 }],
        () => undefined,
      ],
      ['rmdir of a file', [{ kind: 'rmdir', rel: 'agents/x.md' }], () => undefined],
      [
        'write through a symlinked folder',
        [{ kind: 'write', rel: 'escape/x.md', data: bytes('x'), mode: 0o644 }],
        (dir) => fs.symlinkSync(outside, path.join(dir, 'escape')),
      ],
    ];
    for (const [label, changes, prepare] of cases) {
      const dir = fresh(base);
      prepare(dir);
      const before = treeListing(dir);
      await assert.rejects(
        applyChanges(dir, specOf(changes)),
        (e: unknown) => isCoreError(e, 'plan-stale'),
        label,
      );
      assert.deepEqual(treeListing(dir), before, label);
    }
    assert.deepEqual(fs.readdirSync(outside), []);
  });

  void it('fails a rmdir of a folder that is not empty at apply time, and undoes what came before', async () => {
    const dir = fresh(tempDir('ak-txn-'));
    const before = treeListing(dir);
    const changes: FileChange[] = [
      { kind: 'write', rel: 'skills/a/SKILL.md', data: bytes('a v2\n'), mode: 0o644 },
      { kind: 'rmdir', rel: 'skills/keep' },
      { kind: 'write', rel: 'collection.lock', data: bytes('lock v2\n'), mode: 0o644 },
    ];
    await assert.rejects(applyChanges(dir, specOf(changes)), (e: unknown) => {
      assert.ok(isCoreError(e, 'io-failed'));
      assert.equal(e.failure.op, 'rmdir');
      assert.equal(e.failure.errno, 'ENOTEMPTY');
      return true;
    });
    assert.deepEqual(treeListing(dir), before);
    assert.deepEqual(leftovers(dir), []);
  });

  void it('stops when cancelled between steps and restores the before-state', async () => {
    const base = tempDir('ak-txn-');
    for (const cancelAt of [1, 4, 9]) {
      const dir = fresh(base);
      const before = treeListing(dir);
      const controller = new AbortController();
      let renames = 0;
      const cancelling: Fs = {
        ...nodeFs,
        rename: async (from, to) => {
          await nodeFs.rename(from, to);
          if (++renames === cancelAt) controller.abort();
        },
      };
      await assert.rejects(
        applyChanges(dir, specOf(smallChanges()), { fs: cancelling, signal: controller.signal }),
        (e: unknown) => isCoreError(e, 'cancelled'),
      );
      assert.deepEqual(treeListing(dir), before, `cancelled after rename ${cancelAt}`);
      assert.deepEqual(leftovers(dir), []);
    }
  });

  void it('a cancel while files are staged begins no further file, and restores the before-state', async () => {
    const dir = fresh(tempDir('ak-txn-'));
    const before = treeListing(dir);
    const controller = new AbortController();
    let begun = 0;
    const cancelling: Fs = {
      ...nodeFs,
      async writeFile(file, data, mode) {
        if (path.basename(path.dirname(file)) === 'stage' && ++begun === 3) controller.abort();
        return nodeFs.writeFile(file, data, mode);
      },
    };
    const files: FileChange[] = Array.from({ length: 40 }, (_, i) => ({
      kind: 'write',
      rel: `commands/many-${i}.md`,
      data: bytes(`command ${i}\n`),
      mode: 0o644,
    }));
    await assert.rejects(
      applyChanges(dir, specOf([...files, ...smallChanges()]), { fs: cancelling, signal: controller.signal }),
      (e: unknown) => isCoreError(e, 'cancelled'),
    );
    assert.ok(begun <= 10, `${begun} staged files begun of 48`);
    assert.deepEqual(treeListing(dir), before);
    assert.deepEqual(leftovers(dir), []);
  });

  void it('refuses to start while an earlier transaction awaits recovery', async () => {
    const base = scratchDir('ak-txn-');
    const dir = fresh(base);
    const before = treeListing(dir);
    const { commitIndex } = await recordCalls(base, smallChanges);
    await runUntilFrozen(
      (frozenFs) => applyChanges(dir, specOf(smallChanges()), { fs: frozenFs }),
      commitIndex,
    );
    const journal = readJournal(dir);
    await assert.rejects(applyChanges(dir, specOf(smallChanges())), (e: unknown) =>
      isCoreError(e, 'interrupted'),
    );
    assert.deepEqual(readJournal(dir), journal, 'the earlier journal is untouched');
    assert.equal(await recoverJournal(dir), 'rolled-back');
    assert.deepEqual(treeListing(dir), before);
  });

  void it('makes transaction ids that are short and sort by time', () => {
    const ids = [newTxId(1_000), newTxId(2_000), newTxId(Date.now()), newTxId(Date.now() + 1)];
    for (const id of ids) assert.match(id, /^t[0-9a-z]{15}$/);
    assert.deepEqual([...ids].sort(), ids);
    // A random suffix: 500 ids of one millisecond (a pinned clock) all differ (a false failure: about 1 in 17,000).
    assert.equal(new Set(Array.from({ length: 500 }, () => newTxId(5))).size, 500);
  });
});

void describe('fault injection', () => {
  void it('an IO failure at any call leaves exactly the before-state (or, after the commit point, the after-state)', async (t) => {
    const base = scratchDir('ak-faults-');
    const { calls, commitIndex, before, after } = await recordCalls(base, smallChanges);
    assert.ok(commitIndex > 0, 'the lock rename is among the calls');
    assert.ok(calls.length > 40, `${calls.length} calls`);
    const cases = calls.flatMap((_, k) => ERRNOS.map((errno) => ({ k, errno })));
    let rolledBack = 0;
    let pendingCleanup = 0;
    await pool(cases, 4, async ({ k, errno }) => {
      const label = `fault ${errno} at call ${k} (${calls[k]?.op} ${calls[k]?.path})`;
      const dir = fresh(base);
      const plan = new FaultPlan([ruleFor(calls, k, errno)]);
      const logger = recordingLogger();
      const spec = specOf(smallChanges());
      const outcome = await applyChanges(dir, spec, { fs: withFaults(nodeFs, plan), logger }).then(
        (result) => result,
        (err: unknown) => err,
      );
      assert.ok(plan.fired, `${label}: the fault fired`);
      if (k <= commitIndex) {
        assert.ok(isCoreError(outcome, 'io-failed'), `${label}: threw ${String(outcome)}`);
        assert.equal(outcome.failure.errno, errno);
        assert.match(outcome.message, new RegExp(`^\\w+ /.+ failed: ${errno} `), label);
        assert.deepEqual(treeListing(dir), before, label);
        assert.deepEqual(leftovers(dir), [], label);
        assert.equal(historyOf(dir, spec.txId), 0, label);
        rolledBack++;
      } else {
        assert.ok(
          !(outcome instanceof Error),
          `${label}: a failure after the commit point must not fail the operation`,
        );
        assert.deepEqual(treeListing(dir), after, label);
        if (leftovers(dir).length > 0 || historyOf(dir, spec.txId) === 0) {
          assert.equal((outcome as { cleanupPending: boolean }).cleanupPending, true, label);
          assert.ok(
            logger.lines.some((line) => line.startsWith('warn ')),
            `${label}: the cleanup failure is logged`,
          );
          pendingCleanup++;
          const expected = hasJournal(dir) ? 'rolled-forward' : 'none';
          assert.equal(await recoverJournal(dir), expected, label);
        }
        assert.deepEqual(treeListing(dir), after, label);
        assert.deepEqual(leftovers(dir), [], label);
        assert.equal(historyOf(dir, spec.txId), 1, label);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });
    assert.equal(rolledBack, (commitIndex + 1) * ERRNOS.length);
    assert.ok(pendingCleanup > 0);
    t.diagnostic(
      `${calls.length} IO calls × ${ERRNOS.length} errnos; commit at call ${commitIndex}; ${pendingCleanup} left cleanup to recovery`,
    );
  });

  void it('when the undo fails too, throws both, keeps the journal, and recover finishes the undo', async () => {
    const base = scratchDir('ak-undo-');
    const { calls, commitIndex, before } = await recordCalls(base, smallChanges);
    const journalWrite = calls.findIndex((c) => c.op === 'rename' && c.path.endsWith('journal.json'));
    // A failure in the middle of the renames, and one at the commit rename itself (everything to undo).
    const firstFaults = [journalWrite + 8, commitIndex];
    let undoFailures = 0;
    for (const kA of firstFaults) {
      const ruleA = ruleFor(calls, kA, 'EIO');
      const probe = fresh(base);
      const recorded = new FaultPlan([ruleA]);
      await assert.rejects(applyChanges(probe, specOf(smallChanges()), { fs: withFaults(nodeFs, recorded) }));
      const withUndo = recorded.calls;
      for (let j = kA + 1; j < withUndo.length; j++) {
        const label = `EIO at ${kA}, then EIO at undo call ${j} (${withUndo[j]?.op} ${withUndo[j]?.path})`;
        const dir = fresh(base);
        const plan = new FaultPlan([ruleA, ruleFor(withUndo, j, 'EIO')]);
        const err = await applyChanges(dir, specOf(smallChanges()), { fs: withFaults(nodeFs, plan) }).then(
          () => assert.fail(`${label}: succeeded`),
          (e: unknown) => e,
        );
        if (err instanceof UndoFailedError) {
          undoFailures++;
          assert.ok(isCoreError(err, 'interrupted'), label);
          assert.equal(err.original.code, 'io-failed');
          assert.equal(err.undoError.code, 'io-failed');
          assert.match(err.message, /failed: EIO .*undoing it failed too .*failed: EIO .*run recover/, label);
          assert.ok(hasJournal(dir), `${label}: the journal is kept for recover`);
        } else {
          assert.ok(isCoreError(err, 'io-failed'), `${label}: ${String(err)}`);
        }
        const recovered = await recoverJournal(dir);
        assert.notEqual(recovered, 'rolled-forward', label);
        assert.deepEqual(treeListing(dir), before, label);
        assert.deepEqual(leftovers(dir), [], label);
        assert.equal(await recoverJournal(dir), 'none', `${label}: a second recovery has nothing to do`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    assert.ok(undoFailures > 5, `${undoFailures} undo failures seen`);
  });
});

void describe('crash and recovery', () => {
  for (const [label, changes] of [
    ['with a lock change', smallChanges],
    ['without a lock change', () => smallChanges().filter((c) => c.rel !== 'collection.lock')],
    ['paths changed twice', typeChanges],
  ] as const) {
    void it(`a crash before any IO call is recovered to the before- or after-state (${label})`, async () => {
      const base = scratchDir('ak-crash-');
      const { calls, commitIndex, before, after } = await recordCalls(base, changes);
      // Without a lock change the commit point is the rename inside the journal's switch to committed.
      const journalRenames = calls.flatMap((c, i) =>
        c.op === 'rename' && c.path.endsWith('journal.json') ? [i] : [],
      );
      const commit = commitIndex >= 0 ? commitIndex : (journalRenames[1] ?? -1);
      assert.ok(commit > 0);
      const outcomes = new Map<string, number>();
      for (let k = 0; k <= calls.length; k++) {
        const dir = fresh(base);
        const spec = specOf(changes());
        const ran = await runUntilFrozen((frozenFs) => applyChanges(dir, spec, { fs: frozenFs }), k);
        assert.equal(ran, k === calls.length ? 'finished' : 'frozen');
        const journal = readJournal(dir);
        const recovered = await recoverJournal(dir);
        const expectAfter = k > commit;
        const where = `crash before call ${k} (${calls[k]?.op ?? 'end'} ${calls[k]?.path ?? ''}), journal ${journal?.state ?? 'none'}`;
        assert.deepEqual(treeListing(dir), expectAfter ? after : before, where);
        assert.equal(recovered === 'rolled-forward' && !expectAfter, false, where);
        assert.equal(recovered === 'rolled-back' && expectAfter, false, where);
        assert.deepEqual(leftovers(dir), [], where);
        assert.equal(historyOf(dir, spec.txId), expectAfter ? 1 : 0, where);
        assert.equal(await recoverJournal(dir), 'none', `${where}: idempotent`);
        assert.deepEqual(treeListing(dir), expectAfter ? after : before, where);
        outcomes.set(recovered, (outcomes.get(recovered) ?? 0) + 1);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      assert.ok(
        (outcomes.get('rolled-back') ?? 0) > 5 && (outcomes.get('rolled-forward') ?? 0) > 2,
        JSON.stringify([...outcomes]),
      );
    });
  }

  for (const [label, changes, everyPoint] of [
    ['sampled crash points', smallChanges, false],
    ['paths changed twice, every crash point', typeChanges, true],
  ] as const) {
    void it(`a crash during recovery, at any call, is finished by the next recovery (${label})`, async (t) => {
      const base = scratchDir('ak-recrash-');
      const { calls, commitIndex, before, after } = await recordCalls(base, changes);
      const journalWrite = calls.findIndex((c) => c.op === 'rename' && c.path.endsWith('journal.json'));
      // Recovery only has something to undo or finish once the journal is in place.
      // Every point from the journal to just past the commit: where a repeated undo could go wrong.
      const crashPoints = everyPoint
        ? calls.map((_, k) => k).filter((k) => k > journalWrite && k <= commitIndex + 1)
        : [journalWrite + 6, commitIndex, commitIndex + 1, commitIndex + 6];
      let checked = 0;
      for (const k of crashPoints) {
        const crashAt = async (): Promise<{ dir: string; txId: string }> => {
          const dir = fresh(base);
          const spec = specOf(changes());
          assert.equal(
            await runUntilFrozen((frozenFs) => applyChanges(dir, spec, { fs: frozenFs }), k),
            'frozen',
          );
          return { dir, txId: spec.txId };
        };
        const probe = await crashAt();
        const plan = new FaultPlan([]);
        await recoverJournal(probe.dir, { fs: withFaults(nodeFs, plan) });
        assert.ok(plan.calls.length > 0, `recovery after a crash at ${k} does IO`);
        for (let j = 0; j < plan.calls.length; j++) {
          const { dir, txId } = await crashAt();
          // Usually 'frozen'; 'finished' when this recovery's journal temp got the same name (same pid
          // and millisecond) as the crashed apply's, leaving one stray fewer to remove.
          await runUntilFrozen((frozenFs) => recoverJournal(dir, { fs: frozenFs }), j);
          const second: RecoveryOutcome = await recoverJournal(dir);
          const where = `crash at ${k}, recovery crash at ${j} (${plan.calls[j]?.op} ${plan.calls[j]?.path}), then ${second}`;
          const expectAfter = k > commitIndex;
          assert.deepEqual(treeListing(dir), expectAfter ? after : before, where);
          assert.deepEqual(leftovers(dir), [], where);
          assert.equal(historyOf(dir, txId), expectAfter ? 1 : 0, where);
          fs.rmSync(dir, { recursive: true, force: true });
          checked++;
        }
      }
      assert.ok(checked > 20);
      t.diagnostic(`${crashPoints.length} crash points × every recovery call: ${checked} double crashes`);
    });
  }

  void it('kill -9 of a real process at random moments: recovery gives the before- or after-state', async (t) => {
    const SKILLS = 40;
    const TRIALS = 24;
    const child = path.join(__dirname, 'support', 'applyChild.js');
    const base = tempDir('ak-kill-');
    const build = (dir: string): void => buildSynthetic(dir, SKILLS);
    const before = treeListing(fresh(base, build));
    const reference = fresh(base, build);
    await applyChanges(reference, specOf(syntheticChanges(SKILLS)));
    const after = treeListing(reference);
    assert.notDeepEqual(before, after);

    type Phases = { journal: number; commit: number; end: number };
    /** Runs the child; with `kill`, sends SIGKILL `afterMs` after it prints the marker `on`. */
    const run = (
      dir: string,
      kill?: { on: string; afterMs: number },
    ): Promise<{ phases?: Phases; killed: boolean }> =>
      new Promise((resolve, reject) => {
        const proc = spawn(process.execPath, [child, dir, String(SKILLS)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        let timer: NodeJS.Timeout | undefined;
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (kill && timer === undefined && out.includes(`${kill.on}\n`)) {
            timer = setTimeout(() => proc.kill('SIGKILL'), kill.afterMs);
          }
        });
        proc.once('error', reject);
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          const applied = /applied (.*)\n/.exec(out);
          if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child failed with ${code}`));
          else
            resolve({
              ...(applied?.[1] ? { phases: JSON.parse(applied[1]) as Phases } : {}),
              killed: signal === 'SIGKILL',
            });
        });
      });

    // Calibrate: how long the apply and its phases take here. Staging (an fsync per file) takes most of
    // the time, so uniform kills would rarely land among the renames or after the commit: a third of the
    // kills go anywhere, a third among the renames (timed from `journal`), a third into the cleanup after
    // the commit (timed from `commit`). Timing from the child's own markers copes with a loaded machine.
    const calibration = await run(fresh(base, build));
    const phases = calibration.phases;
    assert.ok(phases, 'the calibration run finished');
    const applyMs = phases.end;
    const random = rng(0x5eed);
    const tally = { before: 0, after: 0, killedBeforeCommit: 0, killedAfterCommit: 0, finished: 0 };
    const recoveries = new Map<RecoveryOutcome, number>();
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = fresh(base, build);
      const kill = [
        { on: 'ready', afterMs: Math.floor(random() * applyMs * 1.25) },
        { on: 'journal', afterMs: Math.floor(random() * (phases.commit - phases.journal)) },
        { on: 'commit', afterMs: Math.floor(random() * (phases.end - phases.commit + 2)) },
      ][trial % 3] as { on: string; afterMs: number };
      const { killed } = await run(dir, kill);
      const where = `trial ${trial}, kill ${kill.afterMs} ms after "${kill.on}" (apply takes ${applyMs} ms)`;
      if (!killed)
        assert.equal(
          fs.existsSync(writerLockPath(dir)),
          false,
          `${where}: a finished child released its lock`,
        );
      // The dead child's lock must be reclaimed at once (no wait allowed: a lock not known to be stale
      // would refuse as `locked`), and recovery runs before any new work.
      const recovered = await withWriter(dir, { tool: 'test', waitMs: 0 }, ({ recovered }) =>
        Promise.resolve(recovered),
      );
      const tree = treeListing(dir);
      const isAfter = JSON.stringify(tree) === JSON.stringify(after);
      if (!isAfter) assert.deepEqual(tree, before, `${where}: neither before- nor after-state`);
      assert.deepEqual(leftovers(dir), [], where);
      assert.equal(fs.existsSync(writerLockPath(dir)), false, where);
      assert.equal(readHistory(dir).length, isAfter ? 1 : 0, where);
      tally[isAfter ? 'after' : 'before']++;
      if (!killed) tally.finished++;
      else tally[isAfter ? 'killedAfterCommit' : 'killedBeforeCommit']++;
      recoveries.set(recovered, (recoveries.get(recovered) ?? 0) + 1);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const report = JSON.stringify({ phases, ...tally, recoveries: Object.fromEntries(recoveries) });
    t.diagnostic(`kill -9 trials: ${report}`);
    // Where each kill lands depends on timing; that some needed a real undo does not.
    assert.ok((recoveries.get('rolled-back') ?? 0) > 0, report);
  });
});

void describe('recoverJournal and withWriter', () => {
  void it('has nothing to do on a clean collection, and removes strays no journal names', async () => {
    const dir = fresh(tempDir('ak-recover-'));
    assert.equal(await recoverJournal(dir), 'none');
    const state = path.join(dir, STATE_DIR);
    fs.mkdirSync(path.join(state, 'txn', 't0000000001abcd', 'stage'), { recursive: true });
    fs.writeFileSync(path.join(state, 'txn', 't0000000001abcd', 'stage', '0'), 'x');
    fs.writeFileSync(path.join(dir, '.collection.toml.4242.abc.ak-tmp'), 'x');
    fs.writeFileSync(path.join(state, `.journal.json.${process.pid}.abc.ak-tmp`), 'x');
    fs.writeFileSync(path.join(state, '.status-cache.json.999999999.abc.ak-tmp'), 'dead writer');
    const live = `.status-cache.json.${process.pid}.abc.ak-tmp`;
    fs.writeFileSync(path.join(state, live), 'a reader writing right now');
    assert.equal(await recoverJournal(dir), 'none');
    assert.deepEqual(fs.readdirSync(path.join(state, 'txn')), []);
    assert.deepEqual(
      fs.readdirSync(state).filter((name) => name.endsWith('.ak-tmp')),
      [live],
      "a live reader's temp is left alone",
    );
    assert.equal(fs.existsSync(path.join(dir, '.collection.toml.4242.abc.ak-tmp')), false);
  });

  void it('refuses to guess from a journal it cannot read', async () => {
    const dir = fresh(tempDir('ak-recover-'));
    fs.mkdirSync(path.join(dir, STATE_DIR));
    fs.writeFileSync(
      journalPath(dir),
      '{"version": 1, "txId": "t1", "ops": [{"kind":"write","rel":"../x","n":0}]}',
    );
    await assert.rejects(recoverJournal(dir), (e: unknown) => isCoreError(e, 'interrupted'));
    assert.ok(hasJournal(dir));
  });

  void it('withWriter recovers first, runs the work under the lock, and releases even on failure', async () => {
    const base = tempDir('ak-with-');
    const dir = fresh(base);
    const before = treeListing(dir);
    const { calls, commitIndex } = await recordCalls(base, smallChanges);
    assert.equal(
      await runUntilFrozen(
        (frozenFs) => applyChanges(dir, specOf(smallChanges()), { fs: frozenFs }),
        commitIndex - 3,
      ),
      'frozen',
    );
    assert.ok(calls.length > commitIndex);
    assert.equal(readJournal(dir)?.state, 'applying');
    await assert.rejects(
      withWriter(dir, { tool: 'test' }, async (ctx) => {
        assert.equal(ctx.recovered, 'rolled-back');
        assert.deepEqual(treeListing(dir), before);
        await assert.rejects(acquireWriterLock(dir, { tool: 'other', waitMs: 0 }), (e: unknown) =>
          isCoreError(e, 'locked'),
        );
        throw new Error('work failed');
      }),
      /work failed/,
    );
    assert.equal(fs.existsSync(writerLockPath(dir)), false);
    const result = await withWriter(dir, { tool: 'test' }, async (ctx) => {
      assert.equal(ctx.recovered, 'none');
      return applyChanges(dir, specOf(smallChanges()));
    });
    assert.equal(result.cleanupPending, false);
  });
});
