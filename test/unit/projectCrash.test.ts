/**
 * One transaction across both stores (issue 13 item 7, DESIGN §10): a deploy over project edits
 * (`--force`: copies replaced and created, the tracking file rewritten) and a pull with a merge (collection
 * files, lock, project copy and tracking record) stop dead before each of their IO calls in turn — a
 * deterministic kill -9 — and the next start recovers, alternately from the project (`recover --project`,
 * which finds the collection through the tracking file) and from the collection. Both stores must then be
 * entirely before or entirely after, after exactly when the crash came past the commit point; and an IO
 * fault at any call leaves both before (or, past the commit point, both after).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { fixedClock } from '../../src/core/base/time.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import type { Fs } from '../../src/core/ports/fs.js';
import { projectProfileRoot } from '../../src/core/projects/profiles.js';
import { projectLockPath } from '../../src/core/projects/projectLock.js';
import { deployArtifacts } from '../../src/core/transfer/deploy.js';
import { pullArtifacts } from '../../src/core/transfer/pull.js';
import { recoverCollection } from '../../src/core/transfer/restore.js';
import { hasJournal } from '../../src/core/txn/journal.js';
import { WRITER_LOCK_FILE } from '../../src/core/txn/writerLock.js';
import { runCli, tempDir, treeListing } from './support/collections.js';
import { writeCollection } from './support/projects.js';
import { killChildren, ruleFor, freezeBefore } from './support/faults.js';

const NOW = '2025-06-01T12:00:00.000Z';

interface World {
  base: string;
  home: string;
  collection: string;
  project: string;
}

function at(base: string): World {
  const home = path.join(base, 'home');
  return {
    base,
    home,
    collection: path.join(home, '.skillmeat', 'collections', 'default'),
    project: path.join(base, 'app'),
  };
}

/** Deployed (pdf, review), then edited on both sides: the starting point of every trial, copied. */
function template(): World {
  const w = at(tempDir('ak-project-crash-'));
  fs.mkdirSync(w.project, { recursive: true });
  writeCollection(w.collection);
  const env = { HOME: w.home, ARTIFACT_KEEPER_NOW: NOW };
  const deployed = runCli(['deploy', 'pdf', 'review', '--project', w.project], { env });
  assert.equal(deployed.code, 0, deployed.stderr);
  const claude = path.join(w.project, '.claude');
  fs.appendFileSync(path.join(claude, 'skills/pdf/SKILL.md'), 'project edit\n');
  fs.appendFileSync(path.join(claude, 'commands/review.md'), 'project edit\n');
  fs.appendFileSync(path.join(w.collection, 'skills/pdf/ref/a.md'), 'collection edit\n');
  const relocked = runCli(['relock', 'pdf', '--collection', w.collection], { env });
  assert.equal(relocked.code, 0, relocked.stderr);
  return w;
}

function copyOf(source: World, n: number): World {
  const w = at(path.join(path.dirname(source.base), `${path.basename(source.base)}-${n}`));
  fs.cpSync(source.base, w.base, { recursive: true, verbatimSymlinks: true });
  return w;
}

const state = (w: World): string => JSON.stringify([treeListing(w.collection), treeListing(w.project)]);

type Move = (w: World, fs: Fs) => Promise<unknown>;

const options = (w: World, fsPort: Fs) => ({
  fs: fsPort,
  logger: silentLogger,
  tool: 'project-crash-test',
  clock: fixedClock(new Date(NOW)),
  home: w.home,
  exec: { allow: true },
});

const MOVES: [string, Move][] = [
  [
    'deploy --force over project edits',
    (w, f) =>
      deployArtifacts(
        w.collection,
        projectProfileRoot(w.project),
        ['pdf', 'review', 'planner'],
        options(w, f),
        { force: true },
      ),
  ],
  [
    'pull with a merge',
    (w, f) =>
      pullArtifacts(w.collection, projectProfileRoot(w.project), ['pdf'], options(w, f), {
        strategy: 'merge',
      }),
  ],
];

void describe('a two-store transaction, crashed or faulted at every IO call', () => {
  // A frozen move never closes its snapshot store: its `git cat-file` would keep the test process alive.
  after(killChildren);
  for (const [name, move] of MOVES) {
    void it(`${name}: both stores before or both after, from either side`, async () => {
      const source = template();
      let n = 0;
      const before = state(source);
      const recorded = copyOf(source, n++);
      const plan = new FaultPlan([]);
      await move(recorded, withFaults(nodeFs, plan));
      const after = state(recorded);
      assert.notEqual(after, before);
      assert.ok(plan.calls.length > 10, `${plan.calls.length} calls`);
      // Before the journal's first write nothing of either store has changed (the image and the deployed
      // bases go into the snapshot store, the locks are not ours to judge): from a few calls before it on.
      const journalAt = plan.calls.findIndex((c) => c.path.includes('journal'));
      assert.ok(journalAt > 0, 'the move writes a journal');
      let befores = 0;
      let afters = 0;
      for (let k = Math.max(0, journalAt - 3); k < plan.calls.length; k++) {
        const call = plan.calls[k];
        const label = `${name}, call ${k} (${call?.op} ${call?.path})`;
        // A crash before call k, then the next start from the project or the collection.
        const crashed = copyOf(source, n++);
        const { fs: frozenFs, frozen } = freezeBefore(nodeFs, k);
        void move(crashed, frozenFs);
        await frozen;
        fs.rmSync(path.join(crashed.collection, '.artifact-keeper', WRITER_LOCK_FILE), { force: true });
        fs.rmSync(projectLockPath(projectProfileRoot(crashed.project).dir), { force: true });
        // The next start: the CLI in the project (it finds the collection through the tracking file), the
        // CLI in the collection, or (cheaper, most calls) the core's recovery as VS Code runs it.
        const how = k % 3;
        if (how === 2) await recoverCollection(crashed.collection, options(crashed, nodeFs));
        else {
          const recover = runCli(
            how === 0
              ? ['recover', '--project', crashed.project]
              : ['recover', '--collection', crashed.collection],
            { env: { HOME: crashed.home, ARTIFACT_KEEPER_NOW: NOW } },
          );
          assert.equal(recover.code, 0, `${label}: recover: ${recover.stderr}`);
        }
        assert.equal(hasJournal(crashed.collection), false, `${label}: journal left`);
        const got = state(crashed);
        assert.ok(got === before || got === after, `${label}: neither before nor after after recovery`);
        if (got === before) befores++;
        else afters++;

        // An IO fault at call k: the move fails and is undone, or (past the commit point) it is done.
        const faulted = copyOf(source, n++);
        const outcome = await move(
          faulted,
          withFaults(nodeFs, new FaultPlan([ruleFor(plan.calls, k, 'EIO')])),
        ).then(
          () => 'ok',
          (err: unknown) => String(err),
        );
        if (hasJournal(faulted.collection))
          await recoverCollection(faulted.collection, options(faulted, nodeFs));
        const faultedState = state(faulted);
        assert.ok(
          faultedState === (outcome === 'ok' ? after : before),
          `${label}: after a fault (${outcome.slice(0, 160)}) the stores are not ${outcome === 'ok' ? 'after' : 'before'}`,
        );
        fs.rmSync(crashed.base, { recursive: true, force: true });
        fs.rmSync(faulted.base, { recursive: true, force: true });
      }
      fs.rmSync(recorded.base, { recursive: true, force: true });
      assert.ok(
        befores > 0 && afters > 0,
        `crashes landed on both sides of the commit point (${befores} before, ${afters} after)`,
      );
    });
  }
});
