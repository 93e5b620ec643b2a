/**
 * `repair` (issue 15 item 3): a team merges two git branches that each added an artifact, so
 * `collection.toml` and `collection.lock` hold git's conflict markers. Every command names the markers
 * and `repair`; `repair` keeps both sides, snapshot first, and the collection reads clean. Real git,
 * the real CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadCollection } from '../../src/core/model/collection.js';
import { runCli, tempDir } from './support/collections.js';

function git(cwd: string, ...args: string[]): { code: number; out: string } {
  const r = spawnSync(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args],
    { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd } },
  );
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function skillFolder(name: string): string {
  const folder = path.join(tempDir(), name);
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'SKILL.md'), `---\nname: ${name}\ndescription: ${name}\n---\nbody\n`);
  return folder;
}

/** A collection in git, and two branches that each added a skill, merged: markers in toml and lock. */
function mergedBranches(): string {
  const dir = path.join(tempDir(), 'collection');
  assert.equal(runCli(['init', '--collection', dir]).code, 0);
  assert.equal(runCli(['add', '--allow-exec', skillFolder('base'), '--collection', dir]).code, 0);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'base');
  git(dir, 'checkout', '-q', '-b', 'alice');
  assert.equal(runCli(['add', '--allow-exec', skillFolder('alpha'), '--collection', dir]).code, 0);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'alpha');
  git(dir, 'checkout', '-q', 'main');
  assert.equal(runCli(['add', '--allow-exec', skillFolder('beta'), '--collection', dir]).code, 0);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'beta');
  const merge = git(dir, 'merge', 'alice', '-m', 'merge');
  assert.notEqual(merge.code, 0, 'the merge conflicts');
  assert.match(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), /^<<<<<<< /m);
  return dir;
}

describe('repair after a git merge', () => {
  it('status names the git conflict markers and repair; repair keeps both sides, snapshot first; status clean', () => {
    const dir = mergedBranches();
    const status = runCli(['status', '--collection', dir]);
    assert.equal(status.code, 65);
    assert.match(
      status.stderr,
      /git conflict markers in collection\.(toml|lock) line \d+: .*artifact-keeper repair/,
    );
    assert.doesNotMatch(status.stderr, /Unknown character/);
    const before = fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8');

    const repair = runCli(['repair', '--collection', dir]);
    assert.equal(repair.code, 0, repair.stderr + repair.stdout);
    assert.match(repair.stdout, /repaired: merged the git conflict in collection\.lock/);
    assert.match(repair.stdout, /snapshot before the repair: (\S+)/);
    const collection = loadCollection(dir);
    assert.deepEqual(collection.manifest.artifacts.map((a) => a.name).sort(), ['alpha', 'base', 'beta']);
    assert.deepEqual([...collection.lock.entries.keys()].sort(), [
      'alpha::skill',
      'base::skill',
      'beta::skill',
    ]);
    assert.equal(runCli(['status', '--collection', dir]).code, 0, 'clean');
    const again = runCli(['repair', '--collection', dir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to repair/);
    // The snapshot before the repair holds the file with its markers: the repair is undoable.
    const id = /snapshot before the repair: (\S+)/.exec(repair.stdout)?.[1] ?? '';
    const restore = runCli(['restore', id, '--collection', dir]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(fs.readFileSync(path.join(dir, 'collection.lock'), 'utf8'), before);
  });

  it('after markers resolved by hand leave an entry out, repair locks or drops what the files say', () => {
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    assert.equal(runCli(['add', '--allow-exec', skillFolder('one'), '--collection', dir]).code, 0);
    assert.equal(runCli(['add', '--allow-exec', skillFolder('two'), '--collection', dir]).code, 0);
    // A hand resolution kept `two` in the manifest but lost its lock entry, and kept a lock entry for a
    // skill whose files and manifest entry are gone.
    const lockFile = path.join(dir, 'collection.lock');
    const lock = fs.readFileSync(lockFile, 'utf8');
    fs.writeFileSync(
      lockFile,
      `${lock.replace(/\[lock\.entries\."two::skill"\][^[]*/, '')}\n[lock.entries."gone::skill"]\ncontent_hash = "${'0'.repeat(64)}"\nfetched = "2026-01-01T00:00:00"\n`,
    );
    assert.equal(
      runCli(['status', '--collection', dir]).code,
      2,
      'inconsistent: relock and update see nothing',
    );
    const repair = runCli(['repair', '--collection', dir]);
    assert.equal(repair.code, 0, repair.stderr + repair.stdout);
    assert.match(repair.stdout, /skill\/two: locked its files as they are/);
    assert.match(repair.stdout, /skill\/gone: dropped from collection\.lock/);
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    // An artifact whose files are gone is named, not guessed at: exit 2.
    fs.rmSync(path.join(dir, 'skills/one'), { recursive: true });
    const missing = runCli(['repair', '--collection', dir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stdout, /cannot repair: skill\/one: no files at skills\/one/);
  });
});
