// The checks a window shows, off the asking thread (status/checker.ts): in the worker thread and in the
// in-process fallback they give the report the synchronous check gives, the same errors, and the event
// loop keeps running while they work.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { generateCollection } from '../../bench/generate.js';
import { CoreError } from '../../src/core/base/errors.js';
import { silentLogger } from '../../src/core/base/changes.js';
import type { Logger } from '../../src/core/base/changes.js';
import { checkConsistency, loadForCheck } from '../../src/core/status/consistency.js';
import { loadStatCache } from '../../src/core/status/statCache.js';
import { CollectionChecker } from '../../src/core/status/checker.js';
import type {
  CollectionCheckOutcome,
  CollectionCheckRequest,
} from '../../src/core/status/collectionCheck.js';
import { loadCollection } from '../../src/core/model/collection.js';
import { checkDrift } from '../../src/core/projects/drift.js';
import type { DriftCheckOutcome } from '../../src/core/projects/driftCheck.js';
import { copySharedFixture, tempDir } from './support/collections.js';
import { makeProjectSetup } from './support/projects.js';

/** The worker entry as tsc compiles it (the bundle, dist/checkWorker.js, is built from the same file). */
const WORKER_FILE = path.resolve(__dirname, '../../src/extension/checkWorker.js');
const PDF_SHA = '3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708';

function request(dir: string, extra: Partial<CollectionCheckRequest> = {}): CollectionCheckRequest {
  return { dir, updates: [], found: [], conflicted: [], persist: false, ...extra };
}

function checked(outcome: CollectionCheckOutcome): Extract<CollectionCheckOutcome, { kind: 'checked' }> {
  assert.equal(outcome.kind, 'checked', JSON.stringify(outcome).slice(0, 300));
  return outcome as Extract<CollectionCheckOutcome, { kind: 'checked' }>;
}

/** Both ways off the loop: the worker, and in-process in slices. */
const checkers = (logger: Logger = silentLogger): [string, CollectionChecker][] => [
  ['worker', new CollectionChecker({ workerFile: WORKER_FILE, logger })],
  ['in-process', new CollectionChecker({ logger })],
];

/** How many times a setImmediate chain ran while `work` was pending. */
async function ticksDuring(work: () => Promise<unknown> | unknown): Promise<number> {
  let ticks = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    ticks++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    running = false;
  }
  return ticks;
}

describe('collection checks off the event loop', () => {
  it('give the synchronous check’s report for clean, modified, missing, conflicted and updated artifacts', async () => {
    const dir = copySharedFixture();
    fs.appendFileSync(path.join(dir, 'skills/café-notes/SKILL.md'), 'a local edit\n');
    fs.rmSync(path.join(dir, 'commands/review.md'));
    const updates = [
      // Found by a check, and since pinned to the commit it found (an update): no longer available.
      { id: 'skill/pdf-tools', latestSha: PDF_SHA, available: true },
      // Known, not from a check of this window: kept as it is.
      { id: 'agent/planner', latestSha: 'f'.repeat(40), available: true },
    ];
    const asked = request(dir, { updates, found: ['skill/pdf-tools'], conflicted: ['agent/none'] });

    // The old way: the store's synchronous load and check in this thread.
    const loaded = loadForCheck(dir);
    assert.ok('collection' in loaded);
    const expected = checkConsistency(loaded.collection, {
      cache: loadStatCache(dir),
      updatesAvailable: new Set(['agent/planner']),
      conflicted: new Set(['agent/none']),
      persist: false,
    });
    assert.deepEqual(
      expected.artifacts.map((a) => `${a.id} ${a.state}`),
      [
        'skill/pdf-tools clean',
        'skill/café-notes modified',
        'command/review missing',
        'agent/planner update-available',
      ],
    );

    for (const [way, checker] of checkers()) {
      try {
        const outcome = checked(await checker.check(asked));
        assert.deepStrictEqual(outcome.report, expected, way);
        assert.equal(outcome.name, 'default');
        assert.deepStrictEqual(
          outcome.updates,
          [{ ...updates[0], available: false }, updates[1]],
          `${way}: a found update follows the pin`,
        );
        assert.deepStrictEqual(outcome.conflicts, []);
        assert.equal(checker.mode, way);
      } finally {
        checker.dispose();
      }
    }
  });

  it('name what keeps a conflicted artifact conflicted, as the store showed it', async () => {
    const dir = copySharedFixture();
    fs.writeFileSync(
      path.join(dir, 'skills/pdf-tools/SKILL.md'),
      '<<<<<<< local\nmine\n=======\ntheirs\n>>>>>>> upstream\n',
    );
    for (const [way, checker] of checkers()) {
      try {
        const outcome = checked(await checker.check(request(dir, { conflicted: ['skill/pdf-tools'] })));
        assert.deepStrictEqual(
          outcome.conflicts,
          [['skill/pdf-tools', { markers: ['SKILL.md'], upstreamCopies: [] }]],
          way,
        );
      } finally {
        checker.dispose();
      }
    }
  });

  it('surface a collection that cannot be read as the same one-line CoreError', async () => {
    const dir = copySharedFixture();
    fs.appendFileSync(path.join(dir, 'collection.toml'), '\n[[artifacts]\nname = \n');
    let thrown: unknown;
    try {
      loadForCheck(dir);
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown instanceof CoreError);
    for (const [way, checker] of checkers()) {
      try {
        const outcome = await checker.check(request(dir));
        assert.equal(outcome.kind, 'failed', way);
        const error = (outcome as { error: unknown }).error;
        assert.ok(error instanceof CoreError, way);
        assert.deepStrictEqual(error.failure, thrown.failure, way);
        assert.equal(error.message, thrown.message, way);
        assert.doesNotMatch(error.message, /\n/);
      } finally {
        checker.dispose();
      }
    }
  });

  it('report an interrupted transaction as the store showed it, writing no cache', async () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'));
    fs.writeFileSync(path.join(dir, '.artifact-keeper/journal.json'), '{}');
    fs.rmSync(path.join(dir, 'collection.toml')); // mid-rename
    for (const [way, checker] of checkers()) {
      try {
        const outcome = await checker.check(request(dir, { persist: true }));
        assert.equal(outcome.kind, 'interrupted', way);
        assert.equal((outcome as { report: { state: string } }).report.state, 'interrupted');
        assert.match((outcome as { cause: string }).cause, /collection\.toml/);
      } finally {
        checker.dispose();
      }
    }
    assert.deepEqual(fs.readdirSync(path.join(dir, '.artifact-keeper')), ['journal.json']);
  });

  it('keep the event loop running while a large collection is checked (the synchronous check does not)', async () => {
    const dir = path.join(tempDir(), 'large');
    generateCollection(dir, { skills: 300, commands: 100, agents: 100 });
    // The old way: not one tick of the event loop until the whole check is done.
    const blocked = await ticksDuring(() => {
      const loaded = loadForCheck(dir);
      assert.ok('collection' in loaded);
      checkConsistency(loaded.collection, { cache: loadStatCache(dir), persist: false });
    });
    assert.equal(blocked, 0);
    for (const [way, checker] of checkers()) {
      try {
        let outcome: CollectionCheckOutcome | undefined;
        const ticks = await ticksDuring(async () => {
          outcome = await checker.check(request(dir));
        });
        assert.equal(checked(outcome as CollectionCheckOutcome).report.artifacts.length, 500, way);
        assert.ok(ticks > 0, `${way}: the loop ran ${ticks} times during the check`);
      } finally {
        checker.dispose();
      }
    }
  });

  it('answer a check replaced by a newer one of the same collection at once, and run the newer', async () => {
    const dir = path.join(tempDir(), 'large');
    generateCollection(dir, { skills: 100, commands: 20, agents: 20 });
    for (const [way, checker] of checkers()) {
      try {
        const order: string[] = [];
        const older = checker.check(request(dir)).then((o) => order.push(`older ${o.kind}`));
        const newer = checker.check(request(dir)).then((o) => order.push(`newer ${o.kind}`));
        await Promise.all([older, newer]);
        assert.deepEqual(order, ['older superseded', 'newer checked'], way);
      } finally {
        checker.dispose();
      }
    }
  });

  it('drop a superseded check before its end: it writes no cache', async () => {
    const dir = copySharedFixture();
    const cacheFile = path.join(dir, '.artifact-keeper/status-cache.json');
    for (const [way, checker] of checkers()) {
      try {
        const older = checker.check(request(dir, { persist: true }));
        const newer = checker.check(request(dir));
        assert.equal((await older).kind, 'superseded', way);
        assert.equal(checked(await newer).report.state, 'clean');
        // One more check: the worker starts it only after every earlier check's writes have landed.
        checked(await checker.check(request(dir)));
        assert.equal(fs.existsSync(cacheFile), false, `${way}: the superseded check wrote its cache`);
      } finally {
        checker.dispose();
      }
    }
  });

  it('fall back to checking in-process when the worker cannot start, and say so in the log', async () => {
    const dir = copySharedFixture();
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    const checker = new CollectionChecker({ workerFile: path.join(tempDir(), 'missing.js'), logger });
    try {
      const outcome = checked(await checker.check(request(dir)));
      assert.equal(outcome.report.state, 'clean');
      assert.equal(checker.mode, 'in-process');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? '', /check worker failed.*missing\.js/);
      // And the next check goes straight to the fallback.
      assert.equal(checked(await checker.check(request(dir))).report.state, 'clean');
      assert.equal(warnings.length, 1);
    } finally {
      checker.dispose();
    }
  });

  it('write the stat cache from the worker, for the next window to read', async () => {
    const dir = copySharedFixture();
    // Stamps older than the racy window: entries the next check trusts, so worth the write.
    await new Promise((r) => setTimeout(r, 2_100));
    const checker = new CollectionChecker({ workerFile: WORKER_FILE });
    try {
      assert.equal(checked(await checker.check(request(dir, { persist: true }))).report.rehashed, 4);
      // The cache is written after the answer; a fresh checker (a new window) reads it from disk.
      const cacheFile = path.join(dir, '.artifact-keeper/status-cache.json');
      for (let i = 0; i < 100 && !fs.existsSync(cacheFile); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(fs.existsSync(cacheFile));
    } finally {
      checker.dispose();
    }
  });

  it('read a project’s drift as checkDrift does, edits and errors included, with the newest per project winning', async () => {
    for (const [where, checker] of checkers()) {
      const setup = makeProjectSetup();
      fs.appendFileSync(path.join(setup.root.dir, 'skills/pdf/ref/a.md'), 'edited in the project\n');
      const asked = { collectionDir: setup.collection, root: setup.root, persist: false };
      const drifted = (outcome: DriftCheckOutcome): Extract<DriftCheckOutcome, { kind: 'drifted' }> => {
        assert.equal(outcome.kind, 'drifted', `${where}: ${JSON.stringify(outcome).slice(0, 300)}`);
        return outcome as Extract<DriftCheckOutcome, { kind: 'drifted' }>;
      };
      try {
        const expected = checkDrift(setup.root, loadCollection(setup.collection));
        assert.equal(expected.entries.find((e) => e.id === 'skill/pdf')?.state, 'modified');
        assert.deepEqual(drifted(await checker.drift(asked)).report, expected, where);
        // Two asks for one project: the older answers `superseded` at once; a collection check is apart.
        const older = checker.drift(asked);
        const collection = checker.check(request(setup.collection));
        const newer = checker.drift(asked);
        assert.equal((await older).kind, 'superseded', where);
        assert.deepEqual(drifted(await newer).report, expected, where);
        assert.equal(checked(await collection).report.state, 'clean', where);
        // A drift that cannot be read is the same one-line error.
        fs.writeFileSync(path.join(setup.root.dir, '.skillmeat-deployed.toml'), '[[deployed]\n');
        let thrown: unknown;
        try {
          checkDrift(setup.root, loadCollection(setup.collection));
        } catch (err) {
          thrown = err;
        }
        const failed = await checker.drift(asked);
        assert.equal(failed.kind, 'failed', where);
        assert.ok(failed.kind === 'failed' && failed.error instanceof CoreError, where);
        assert.equal((failed as { error: Error }).error.message, (thrown as Error).message, where);
        assert.equal(checker.mode, where, 'no fallback was needed');
      } finally {
        checker.dispose();
      }
    }
  });
});
