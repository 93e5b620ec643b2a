import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir, treeListing } from './support/collections.js';
import { makeProjectSetup } from './support/projects.js';
import type { ProjectSetup } from './support/projects.js';

function drift(setup: ProjectSetup, args: string[] = [], cwd?: string): ReturnType<typeof runCli> {
  return runCli(['drift', '--project', setup.project, ...args], {
    env: { HOME: setup.home },
    ...(cwd ? { cwd } : {}),
  });
}

describe('drift and status --project (CLI)', () => {
  it('exits 0 when everything deployed is in sync, finding the collection from the tracking file', () => {
    const setup = makeProjectSetup();
    const r = drift(setup);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`${setup.root.dir} against ${setup.collection}: 3 deployed: 3 in-sync`),
    );
    assert.match(r.stdout, /skill\/pdf +in-sync +skills\/pdf\n/);
  });

  it('exits 1 on drift and prints the JSON shape', () => {
    const setup = makeProjectSetup();
    fs.appendFileSync(path.join(setup.root.dir, 'commands/review.md'), 'edit\n');
    fs.appendFileSync(path.join(setup.collection, 'agents/planner.md'), 'edit\n');
    fs.rmSync(path.join(setup.root.dir, 'skills/pdf'), { recursive: true });
    const before = treeListing(path.dirname(setup.project));
    const r = drift(setup, ['--json']);
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown> & { artifacts: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(json), [
      'profile',
      'profileRoot',
      'trackingFile',
      'collection',
      'collectionFoundBy',
      'inSync',
      'artifacts',
    ]);
    assert.equal(json.profile, 'claude_code');
    assert.equal(json.collection, setup.collection);
    assert.equal(json.collectionFoundBy, 'tracking-file');
    assert.equal(json.inSync, false);
    assert.deepEqual(
      json.artifacts.map((a) => [a.id, a.state, a.path]),
      [
        ['skill/pdf', 'missing', 'skills/pdf'],
        ['command/review', 'modified', 'commands/review.md'],
        ['agent/planner', 'outdated', 'agents/planner.md'],
      ],
    );
    const first = json.artifacts[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), [
      'id',
      'name',
      'type',
      'state',
      'path',
      'deployedHash',
      'projectHash',
      'collectionHash',
    ]);
    assert.equal(first.projectHash, null);
    assert.match(String(first.deployedHash), /^[0-9a-f]{64}$/);
    assert.deepEqual(treeListing(path.dirname(setup.project)), before, 'drift wrote nothing');
  });

  it('lists what is not deployed with --all, and takes --profile and --collection', () => {
    const setup = makeProjectSetup();
    // Nothing is deployed to .codex: every artifact is "not deployed", which is not drift.
    const r = drift(setup, ['--profile', 'codex', '--all', '--collection', setup.collection]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\.codex against .*: 0 deployed: 3 not-deployed/);
    assert.match(r.stdout, /command\/review +not-deployed +commands\/review\.md/);
  });

  it('refuses bad usage (64), bad data (65) and a missing collection (66), writing nothing', () => {
    const setup = makeProjectSetup();
    assert.equal(runCli(['drift'], { env: { HOME: setup.home } }).code, 64);
    const noProject = runCli(['drift', '--project', path.join(setup.project, 'nope')], {
      env: { HOME: setup.home },
    });
    assert.equal(noProject.code, 66);
    assert.match(noProject.stderr, /app\/nope: no such project folder \(--project\)\n$/);
    const badProfile = drift(setup, ['--profile', 'vim']);
    assert.equal(badProfile.code, 64);
    assert.match(badProfile.stderr, /unknown profile "vim"/);

    const tracking = path.join(setup.root.dir, '.skillmeat-deployed.toml');
    const good = fs.readFileSync(tracking, 'utf8');
    fs.writeFileSync(tracking, good.replace('"commands/review.md"', '"/etc/passwd"'));
    const before = treeListing(path.dirname(setup.project));
    const escape = drift(setup);
    assert.equal(escape.code, 65);
    assert.equal(
      escape.stderr,
      `artifact-keeper: ${tracking}:15: artifact command/review: artifact_path "/etc/passwd" is absolute\n`,
    );
    fs.writeFileSync(tracking, `${good}[[deployed]\n`);
    const malformed = drift(setup);
    assert.equal(malformed.code, 65);
    assert.match(malformed.stderr, /^artifact-keeper: .*\.skillmeat-deployed\.toml:\d+:\d+: .*\n$/);
    fs.writeFileSync(tracking, good.replaceAll('from_collection = "default"', 'from_collection = "gone"'));
    const missing = drift(setup);
    assert.equal(missing.code, 66);
    assert.match(
      missing.stderr,
      /collections\/gone: no collection\.toml here: .* names the collection "gone"; pass --collection DIR\n$/,
    );
    assert.equal(missing.stderr.split('\n').length, 2, 'one line');
    fs.writeFileSync(tracking, good);
    assert.deepEqual(
      treeListing(path.dirname(setup.project)).filter((l) => !l.includes('.skillmeat-deployed')),
      before.filter((l) => !l.includes('.skillmeat-deployed')),
    );
  });

  it("finds SkillMeat's active collection when the project has no tracking file", () => {
    const setup = makeProjectSetup();
    fs.rmSync(path.join(setup.root.dir, '.skillmeat-deployed.toml'));
    const r = drift(setup, ['--json', '--all']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as { collectionFoundBy: string; artifacts: { state: string }[] };
    assert.equal(json.collectionFoundBy, 'skillmeat-config');
    assert.deepEqual(
      json.artifacts.map((a) => a.state),
      ['not-deployed', 'not-deployed', 'not-deployed'],
    );
    const nowhere = runCli(['drift', '--project', setup.project], {
      env: { HOME: tempDir() },
      cwd: tempDir(),
    });
    assert.equal(nowhere.code, 66);
    assert.match(nowhere.stderr, /no collection found for this project; looked at /);
  });

  it('status --project adds a drift summary line to the collection status', () => {
    const setup = makeProjectSetup();
    const clean = runCli(['status', '--project', setup.project], { env: { HOME: setup.home } });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, new RegExp(`^${setup.collection}: clean \\(3 artifacts\\)\n`));
    assert.match(clean.stdout, /project .*\/\.claude: 3 deployed: 3 in-sync\n$/);

    fs.appendFileSync(path.join(setup.root.dir, 'agents/planner.md'), 'edit\n');
    const drifted = runCli(['status', '--project', setup.project], { env: { HOME: setup.home } });
    assert.equal(drifted.code, 1);
    assert.match(drifted.stdout, /3 deployed: 2 in-sync, 1 modified/);
    const json = runCli(['status', '--project', setup.project, '--json'], { env: { HOME: setup.home } });
    const parsed = JSON.parse(json.stdout) as { state: string; drift: { inSync: boolean } };
    assert.equal(parsed.state, 'clean');
    assert.equal(parsed.drift.inSync, false);

    // Without --project, status is what it was.
    const plain = runCli(['status', '--collection', setup.collection], { env: { HOME: setup.home } });
    assert.equal(plain.code, 0);
    assert.doesNotMatch(plain.stdout, /^project /m);
  });
});
