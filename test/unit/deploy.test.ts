/**
 * Projects (issue 13, DESIGN §10) through the real CLI: deploy, undeploy and pull, each one transaction
 * across the collection and the project, with drift read right after; every strategy, the refusals over
 * project edits (exit 3, nothing written), undo of each move, and bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { contentHash } from '../../src/core/model/hash.js';
import { loadCollection } from '../../src/core/model/collection.js';
import { projectProfileRoot } from '../../src/core/projects/profiles.js';
import { readTrackingFile, trackingFilePath } from '../../src/core/projects/trackingFile.js';
import { CLI, runCli, tempDir, traceCount, treeListing, writeTree } from './support/collections.js';
import { writeCollection } from './support/projects.js';

interface World {
  home: string;
  collection: string;
  project: string;
  claude: string;
  cli(args: string[]): ReturnType<typeof runCli>;
}

/** SkillMeat's default collection (a skill, a command, an agent) and an empty project. */
function world(): World {
  const base = tempDir('ak-deploy-');
  const home = path.join(base, 'home');
  const collection = path.join(home, '.skillmeat', 'collections', 'default');
  const project = path.join(base, 'app');
  fs.mkdirSync(project, { recursive: true });
  writeCollection(collection);
  return {
    home,
    collection,
    project,
    claude: path.join(project, '.claude'),
    cli: (args) => runCli(args, { env: { HOME: home } }),
  };
}

const listing = (dir: string): string[] => (fs.existsSync(dir) ? treeListing(dir) : []);
const both = (w: World): string => JSON.stringify([listing(w.collection), listing(w.project)]);
const read = (file: string): string => fs.readFileSync(file, 'utf8');

function driftStates(w: World): Record<string, string> {
  const run = w.cli(['drift', '--project', w.project, '--json']);
  const report = JSON.parse(run.stdout) as { artifacts: { id: string; state: string }[] };
  return Object.fromEntries(report.artifacts.map((a) => [a.id, a.state]));
}

/**
 * A 3 MiB binary in skill pdf, deployed, then changed differently in the project and in the collection
 * (relocked): its copy as last deployed is neither side's, so a merge must read it from the store.
 */
function bigPair(w: World): { inProject: string; inCollection: string; project: Buffer; collection: Buffer } {
  const deployed = randomBytes(3 * 1024 * 1024);
  const flip = (at: number): Buffer => {
    const copy = Buffer.from(deployed);
    copy[at] = (copy[at] ?? 0) ^ 0xff;
    return copy;
  };
  const inCollection = path.join(w.collection, 'skills/pdf/w.bin');
  fs.writeFileSync(inCollection, deployed);
  assert.equal(w.cli(['relock', 'pdf', '--collection', w.collection]).code, 0);
  deployAll(w);
  const inProject = path.join(w.claude, 'skills/pdf/w.bin');
  const pair = { inProject, inCollection, project: flip(10), collection: flip(2_000_000) };
  fs.writeFileSync(inProject, pair.project);
  fs.writeFileSync(inCollection, pair.collection);
  assert.equal(w.cli(['relock', 'pdf', '--collection', w.collection]).code, 0);
  return pair;
}

/** `deploy` or `pull` of pdf with a merge: a conflict (exit 3), the one stored file it needed read into a file. */
function mergeSpillingOne(w: World, verb: 'deploy' | 'pull'): void {
  const run = runCli([verb, 'pdf', '--project', w.project, '--strategy', 'merge'], {
    env: { HOME: w.home, ARTIFACT_KEEPER_TRACE: '1' },
  });
  assert.equal(run.code, 3, run.stderr);
  assert.equal(traceCount(run.stderr, 'stored file read'), 1, run.stderr);
  assert.equal(traceCount(run.stderr, 'stored file spilled to disk'), 1, run.stderr);
}

function deployAll(w: World): void {
  const run = w.cli(['deploy', 'pdf', 'review', 'planner', '--project', w.project]);
  assert.equal(run.code, 0, run.stderr);
}

void describe('deploy', () => {
  void it('copies every type to its SkillMeat path, records it, and drift reads in-sync', () => {
    const w = world();
    deployAll(w);
    assert.equal(read(path.join(w.claude, 'skills/pdf/SKILL.md')), '---\nname: pdf\n---\nhello\n');
    assert.equal(read(path.join(w.claude, 'commands/review.md')), 'Review the diff.\n');
    assert.equal(read(path.join(w.claude, 'agents/planner.md')), 'Plan the work.\n');
    const tracking = readTrackingFile(projectProfileRoot(w.project));
    assert.deepEqual(
      tracking?.records.map((r) => [r.type, r.name, r.artifactPath, r.fromCollection]),
      [
        ['skill', 'pdf', 'skills/pdf', 'default'],
        ['command', 'review', 'commands/review.md', 'default'],
        ['agent', 'planner', 'agents/planner.md', 'default'],
      ],
      "SkillMeat's own collection is named, as SkillMeat writes it",
    );
    for (const r of tracking?.records ?? [])
      assert.equal(r.contentHash, contentHash(path.join(w.claude, r.artifactPath)));
    assert.deepEqual(driftStates(w), {
      'skill/pdf': 'in-sync',
      'command/review': 'in-sync',
      'agent/planner': 'in-sync',
    });
    assert.ok(!fs.existsSync(path.join(w.project, '.artifact-keeper')), 'no state of ours in the project');
    assert.deepEqual(fs.readdirSync(w.claude).sort(), [
      '.skillmeat-deployed.toml',
      'agents',
      'commands',
      'skills',
    ]);
  });

  void it('never clobbers project edits: refused naming the files (exit 3), nothing written in either store', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'skills/pdf/SKILL.md'), 'my project edit\n');
    fs.appendFileSync(path.join(w.collection, 'skills/pdf/ref/a.md'), 'collection change\n');
    const before = both(w);
    const run = w.cli(['deploy', 'pdf', '--project', w.project]);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /skill\/pdf: edited in the project \(\.claude\/skills\/pdf\/SKILL\.md\)/);
    assert.equal(run.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal(both(w), before);
  });

  void it('--strategy merge merges project edits with the collection change; drift then says modified', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'skills/pdf/SKILL.md'), 'my project edit\n');
    fs.appendFileSync(path.join(w.collection, 'skills/pdf/ref/a.md'), 'collection change\n');
    const run = runCli(['deploy', 'pdf', '--project', w.project, '--strategy', 'merge', '--json'], {
      env: { HOME: w.home, ARTIFACT_KEEPER_TRACE: '1' },
    });
    assert.equal(run.code, 0, run.stderr);
    // Each file of the copy as deployed is still one side's: none is read from the store.
    assert.equal(traceCount(run.stderr, 'stored file read'), 0, run.stderr);
    assert.ok(traceCount(run.stderr, 'stored file already in hand') >= 2, run.stderr);
    assert.equal(
      (JSON.parse(run.stdout) as { artifacts: { outcome: string }[] }).artifacts[0]?.outcome,
      'merged',
    );
    // The copy deployed is recorded by reading and moving refs here: no listing, log or update-ref.
    for (const command of ['for-each-ref', 'log', 'update-ref'])
      assert.equal(traceCount(run.stderr, `git ${command}`), 0, `${command}: ${run.stderr}`);
    const store = path.join(w.collection, '.artifact-keeper', 'snapshots.git');
    const deployed = spawnSync(
      'git',
      ['--git-dir', store, 'rev-list', '--count', 'refs/deployed/skill/pdf'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(deployed.stdout, '2\n', `the copy of this deploy chained on the first: ${deployed.stderr}`);
    assert.match(read(path.join(w.claude, 'skills/pdf/SKILL.md')), /my project edit/);
    assert.equal(read(path.join(w.claude, 'skills/pdf/ref/a.md')), 'A\ncollection change\n');
    // The record is the collection copy deployed; the project keeps its own edit on top of it.
    assert.equal(driftStates(w)['skill/pdf'], 'modified');
  });

  void it('a merge conflict is committed as git leaves it, the record marked conflicted, exit 3', () => {
    const w = world();
    deployAll(w);
    fs.writeFileSync(path.join(w.claude, 'commands/review.md'), 'Review the diff carefully.\n');
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Review the whole diff.\n');
    const run = w.cli(['deploy', 'review', '--project', w.project, '--strategy', 'merge']);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /command\/review: conflicted .*conflicts in commands\/review\.md/);
    const text = read(path.join(w.claude, 'commands/review.md'));
    assert.match(
      text,
      /^<<<<<<< local\nReview the diff carefully\.\n\|\|\|\|\|\|\| base\nReview the diff\.\n=======\nReview the whole diff\.\n>>>>>>> upstream\n$/,
    );
    assert.match(read(trackingFilePath(projectProfileRoot(w.project))), /conflicted = true/);
  });

  void it('a large file changed on both sides: its copy as last deployed is read into a file, not memory', () => {
    const w = world();
    const big = bigPair(w);
    mergeSpillingOne(w, 'deploy');
    assert.ok(fs.readFileSync(big.inProject).equals(big.project), 'the project file stays');
    assert.ok(
      fs.readFileSync(`${big.inProject}.upstream`).equals(big.collection),
      "the collection's beside it",
    );
    assert.equal(
      fs.existsSync(path.join(w.collection, '.artifact-keeper/tmp')),
      false,
      'no spilled file left',
    );
  });

  void it('--strategy keep keeps the edit; --force overwrites it and undo brings it back', () => {
    const w = world();
    deployAll(w);
    const file = path.join(w.claude, 'agents/planner.md');
    fs.writeFileSync(file, 'My own plan.\n');
    fs.writeFileSync(path.join(w.collection, 'agents/planner.md'), 'Plan the work, v2.\n');
    const kept = w.cli(['deploy', 'planner', '--project', w.project, '--strategy', 'keep']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /agent\/planner: kept/);
    assert.equal(read(file), 'My own plan.\n');
    const forced = w.cli(['deploy', 'planner', '--project', w.project, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(read(file), 'Plan the work, v2.\n');
    assert.equal(driftStates(w)['agent/planner'], 'in-sync');
    const undo = w.cli(['undo', '--collection', w.collection]);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(read(file), 'My own plan.\n', 'the project edit is back');
    assert.equal(driftStates(w)['agent/planner'], 'conflict');
  });

  void it('an unedited copy follows the collection (updated); files not deployed by us in the way are refused', () => {
    const w = world();
    deployAll(w);
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Review the diff, v2.\n');
    assert.equal(driftStates(w)['command/review'], 'outdated');
    const run = w.cli(['deploy', 'review', '--project', w.project]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /command\/review: updated/);
    assert.equal(driftStates(w)['command/review'], 'in-sync');

    const other = world();
    writeTree(other.claude, { 'skills/pdf/SKILL.md': "somebody else's pdf skill\n" });
    const before = both(other);
    const refused = other.cli([
      'deploy',
      'pdf',
      '--project',
      other.project,
      '--collection',
      other.collection,
    ]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /files not deployed by us are in the way/);
    assert.equal(both(other), before);
  });

  void it('--strategy prompt asks per edited artifact on a terminal (Enter merges), and refuses without one', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'commands/review.md'), 'project edit\n');
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Up top.\nReview the diff.\n');
    const noTerminal = w.cli(['deploy', 'review', '--project', w.project, '--strategy', 'prompt']);
    assert.equal(noTerminal.code, 64);
    assert.match(noTerminal.stderr, /asks on a terminal/);
    // `script` gives the CLI a terminal; the answer is an empty line (Enter): merge.
    const command = [
      process.execPath,
      CLI,
      'deploy',
      'review',
      '--project',
      w.project,
      '--strategy',
      'prompt',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], {
      input: '\n',
      env: { ...process.env, HOME: w.home },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stdout);
    assert.match(run.stdout, /command\/review was edited in the project: \.claude\/commands\/review\.md/);
    assert.match(run.stdout, /command\/review: merged/);
    assert.equal(
      read(path.join(w.claude, 'commands/review.md')),
      'Up top.\nReview the diff.\nproject edit\n',
    );
  });

  void it('--user deploys into ~/.claude, the user scope Claude Code also reads', () => {
    const w = world();
    const run = w.cli(['deploy', 'review', '--user', '--collection', w.collection]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(read(path.join(w.home, '.claude/commands/review.md')), 'Review the diff.\n');
    assert.match(
      read(path.join(w.home, '.claude/.skillmeat-deployed.toml')),
      /artifact_path = "commands\/review\.md"/,
    );
    const drift = w.cli(['drift', '--project', w.home]);
    assert.equal(drift.code, 0, drift.stdout);
    assert.equal(
      w.cli(['deploy', 'review', '--user', '--project', w.project]).code,
      64,
      'one target, not both',
    );
  });

  void it('undo of a deploy takes the copies and the tracking file away again', () => {
    const w = world();
    deployAll(w);
    assert.equal(w.cli(['undo', '--collection', w.collection]).code, 0);
    assert.ok(!fs.existsSync(trackingFilePath(projectProfileRoot(w.project))));
    assert.deepEqual(listing(w.project), [], 'nothing left in the project, not even the folders it made');
    // Undo again re-applies the deploy, folders and all.
    assert.equal(w.cli(['undo', '--collection', w.collection]).code, 0);
    assert.deepEqual(driftStates(w), {
      'skill/pdf': 'in-sync',
      'command/review': 'in-sync',
      'agent/planner': 'in-sync',
    });
  });
});

void describe('undeploy', () => {
  void it('removes the copy and its record, the tracking file with the last one; refused over edits', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'commands/review.md'), 'edit\n');
    const refused = w.cli(['undeploy', 'review', '--project', w.project]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /command\/review: edited in the project/);
    assert.equal(w.cli(['undeploy', 'review', '--project', w.project, '--force']).code, 0);
    assert.ok(!fs.existsSync(path.join(w.claude, 'commands/review.md')));
    assert.equal(w.cli(['undeploy', 'pdf', 'planner', '--project', w.project]).code, 0);
    assert.ok(!fs.existsSync(path.join(w.claude, 'skills/pdf')), 'the skill folder goes with its files');
    assert.ok(
      !fs.existsSync(trackingFilePath(projectProfileRoot(w.project))),
      'no record left: no tracking file',
    );
    const missing = w.cli(['undeploy', 'pdf', '--project', w.project, '--collection', w.collection]);
    assert.equal(missing.code, 65);
    assert.match(missing.stderr, /pdf \(not deployed/);
  });
});

void describe('pull', () => {
  void it('brings a project edit into the collection: files, lock hash and record; drift and status clean after', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'skills/pdf/SKILL.md'), 'better wording\n');
    const run = w.cli(['pull', 'pdf', '--project', w.project]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /skill\/pdf: pulled/);
    assert.match(read(path.join(w.collection, 'skills/pdf/SKILL.md')), /better wording/);
    const locked = loadCollection(w.collection).lock.entries.get('pdf::skill')?.contentHash;
    assert.equal(locked, contentHash(path.join(w.collection, 'skills/pdf')));
    assert.equal(driftStates(w)['skill/pdf'], 'in-sync');
    assert.equal(w.cli(['status', '--collection', w.collection]).code, 0);
    // Undo puts both stores back: the collection as before, the record as deployed (the edit is the project's).
    assert.equal(w.cli(['undo', '--collection', w.collection]).code, 0);
    assert.doesNotMatch(read(path.join(w.collection, 'skills/pdf/SKILL.md')), /better wording/);
    assert.equal(driftStates(w)['skill/pdf'], 'modified');
  });

  void it('merge: both sides changed, the merge goes into both stores and drift reads in-sync', () => {
    const w = world();
    deployAll(w);
    fs.appendFileSync(path.join(w.claude, 'skills/pdf/SKILL.md'), 'project edit\n');
    fs.appendFileSync(path.join(w.collection, 'skills/pdf/ref/a.md'), 'collection edit\n');
    w.cli(['relock', 'pdf', '--collection', w.collection]);
    const run = runCli(['pull', 'pdf', '--project', w.project, '--strategy', 'merge'], {
      env: { HOME: w.home, ARTIFACT_KEEPER_TRACE: '1' },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(traceCount(run.stderr, 'stored file read'), 0, run.stderr);
    assert.ok(traceCount(run.stderr, 'stored file already in hand') >= 2, run.stderr);
    assert.match(run.stdout, /skill\/pdf: merged/);
    for (const root of [w.collection, w.claude]) {
      assert.match(read(path.join(root, 'skills/pdf/SKILL.md')), /project edit/);
      assert.equal(read(path.join(root, 'skills/pdf/ref/a.md')), 'A\ncollection edit\n');
    }
    assert.equal(driftStates(w)['skill/pdf'], 'in-sync');
  });

  void it('a large file changed on both sides: its copy as last deployed is read into a file, not memory', () => {
    const w = world();
    const big = bigPair(w);
    mergeSpillingOne(w, 'pull');
    assert.ok(fs.readFileSync(big.inCollection).equals(big.collection), 'the collection file stays');
    assert.ok(fs.readFileSync(`${big.inCollection}.upstream`).equals(big.project), "the project's beside it");
    assert.equal(
      fs.existsSync(path.join(w.collection, '.artifact-keeper/tmp')),
      false,
      'no spilled file left',
    );
  });

  void it('a conflict lands in the collection as an update leaves it; resolve finishes it', () => {
    const w = world();
    deployAll(w);
    fs.writeFileSync(path.join(w.claude, 'commands/review.md'), 'Review it here.\n');
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Review it there.\n');
    w.cli(['relock', 'review', '--collection', w.collection]);
    const run = w.cli(['pull', 'review', '--project', w.project]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(read(path.join(w.collection, 'commands/review.md')), /^<<<<<<< local\nReview it there\./);
    assert.equal(
      read(path.join(w.claude, 'commands/review.md')),
      'Review it here.\n',
      'the project copy stays',
    );
    assert.equal(w.cli(['status', '--collection', w.collection]).code, 2, 'conflicted');
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Review it everywhere.\n');
    const resolved = w.cli(['resolve', 'review', '--collection', w.collection]);
    assert.equal(resolved.code, 0, resolved.stderr);
    assert.equal(w.cli(['status', '--collection', w.collection]).code, 0);
  });

  void it('overwrite takes the project copy over the collection change; in-sync and not-modified pull nothing', () => {
    const w = world();
    deployAll(w);
    fs.writeFileSync(path.join(w.claude, 'commands/review.md'), 'Review it here.\n');
    fs.writeFileSync(path.join(w.collection, 'commands/review.md'), 'Review it there.\n');
    w.cli(['relock', 'review', '--collection', w.collection]);
    const run = w.cli(['pull', 'review', '--project', w.project, '--strategy', 'overwrite']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(read(path.join(w.collection, 'commands/review.md')), 'Review it here.\n');
    assert.equal(driftStates(w)['command/review'], 'in-sync');
    // planner: changed in the collection only; the project has nothing to bring (deploy does that way).
    fs.writeFileSync(path.join(w.collection, 'agents/planner.md'), 'Plan the work, v2.\n');
    w.cli(['relock', 'planner', '--collection', w.collection]);
    const before = both(w);
    const again = w.cli(['pull', 'review', 'planner', '--project', w.project, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const outcomes = (
      JSON.parse(again.stdout) as { artifacts: { id: string; outcome: string }[]; txId: string }
    ).artifacts.map((a) => `${a.id} ${a.outcome}`);
    assert.deepEqual(outcomes, ['command/review in-sync', 'agent/planner not-modified']);
    assert.equal(both(w), before, 'nothing to pull writes nothing');
  });

  void it('fork adds the project copy as a new local artifact and leaves the original alone', () => {
    const w = world();
    deployAll(w);
    fs.writeFileSync(path.join(w.claude, 'agents/planner.md'), 'Plan it my way.\n');
    const run = w.cli([
      'pull',
      'planner',
      '--project',
      w.project,
      '--strategy',
      'fork',
      '--as',
      'my-planner',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(read(path.join(w.collection, 'agents/my-planner.md')), 'Plan it my way.\n');
    assert.equal(read(path.join(w.collection, 'agents/planner.md')), 'Plan the work.\n');
    assert.equal(w.cli(['status', '--collection', w.collection]).code, 0);
  });
});

void describe('projects: bad input', () => {
  void it('a malformed tracking file, or one naming a missing collection: one line, nothing written', () => {
    const w = world();
    writeTree(w.claude, { '.skillmeat-deployed.toml': '[[deployed]\nartifact_name = "x"\n' });
    const before = both(w);
    const bad = w.cli(['deploy', 'pdf', '--project', w.project, '--collection', w.collection]);
    assert.equal(bad.code, 65);
    assert.match(bad.stderr, /\.skillmeat-deployed\.toml:1:13: /);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.equal(both(w), before);

    const lost = world();
    writeTree(lost.claude, {
      '.skillmeat-deployed.toml': `[[deployed]]\nartifact_name = "pdf"\nartifact_type = "skill"\nfrom_collection = "gone"\ndeployed_at = "2026-01-05T09:30:12.123456"\nartifact_path = "skills/pdf"\ncontent_hash = "${'0'.repeat(64)}"\nlocal_modifications = false\ncollection_sha = "${'0'.repeat(64)}"\n`,
    });
    const lostBefore = both(lost);
    const gone = lost.cli(['deploy', 'pdf', '--project', lost.project]);
    assert.equal(gone.code, 66);
    assert.match(gone.stderr, /names the collection "gone"/);
    assert.equal(both(lost), lostBefore);

    const outside = world();
    writeTree(outside.claude, {
      '.skillmeat-deployed.toml': `[[deployed]]\nartifact_name = "pdf"\nartifact_type = "skill"\nfrom_collection = "default"\ndeployed_at = "2026-01-05T09:30:12.123456"\nartifact_path = "../../elsewhere"\ncontent_hash = "${'0'.repeat(64)}"\nlocal_modifications = false\ncollection_sha = "${'0'.repeat(64)}"\n`,
    });
    const outsideBefore = both(outside);
    const escaped = outside.cli(['undeploy', 'pdf', '--project', outside.project]);
    assert.equal(escaped.code, 65);
    assert.match(escaped.stderr, /artifact_path "\.\.\/\.\.\/elsewhere"/);
    assert.equal(both(outside), outsideBefore);
  });
});
