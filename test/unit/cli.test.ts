import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLI, copySharedFixture, runCli, tempDir, treeListing } from './support/collections.js';

describe('artifact-keeper status / init', () => {
  it('exit 0 and JSON for the SkillMeat-written collection', () => {
    const dir = copySharedFixture();
    const result = runCli(['status', '--collection', dir, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as {
      state: string;
      artifacts: { id: string; state: string }[];
      problems: unknown[];
    };
    assert.equal(json.state, 'clean');
    assert.deepEqual(
      json.artifacts.map((a) => a.id),
      ['skill/pdf-tools', 'skill/café-notes', 'command/review', 'agent/planner'],
    );
    assert.deepEqual(json.problems, []);
  });

  it('exit 1 after an edit, 2 after a lock entry is deleted', () => {
    const dir = copySharedFixture();
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'edit\n');
    const modified = runCli(['status'], { cwd: dir });
    assert.equal(modified.code, 1);
    assert.match(modified.stdout, /modified/);
    const lockFile = path.join(dir, 'collection.lock');
    const text = fs.readFileSync(lockFile, 'utf8');
    fs.writeFileSync(lockFile, text.slice(0, text.indexOf('[lock.entries."review::command"]')));
    const json = JSON.parse(runCli(['status', '--json'], { cwd: dir }).stdout) as {
      state: string;
      problems: { code: string; artifact: string }[];
    };
    assert.equal(json.state, 'inconsistent');
    assert.ok(json.problems.some((p) => p.code === 'lock-entry-missing' && p.artifact === 'command/review'));
    assert.equal(runCli(['status'], { cwd: dir }).code, 2);
  });

  it('exit 65 with file:line for a malformed manifest, and nothing is written', () => {
    const dir = copySharedFixture();
    const file = path.join(dir, 'collection.toml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('type = "command"', 'type = '));
    const before = treeListing(dir, new Set());
    const result = runCli(['status', '--collection', dir]);
    assert.equal(result.code, 65);
    assert.match(result.stderr, /^artifact-keeper: .*collection\.toml:\d+:\d+: /);
    assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    assert.deepEqual(treeListing(dir, new Set()), before);
  });

  it('exit 64 for usage errors, 66 outside a collection', () => {
    assert.equal(runCli(['status', '--nope']).code, 64);
    assert.equal(runCli(['frobnicate']).code, 64);
    assert.equal(runCli([]).code, 64);
    assert.equal(runCli(['status', '--collection', tempDir()]).code, 66);
  });

  it("init creates SkillMeat's layout, reads clean, and refuses to run twice", () => {
    const dir = path.join(tempDir(), 'fresh');
    const result = runCli(['init', '--collection', dir, '--name', 'team']);
    assert.equal(result.code, 0, result.stderr);
    for (const folder of ['skills', 'commands', 'agents', 'workflows'])
      assert.ok(fs.statSync(path.join(dir, folder)).isDirectory());
    assert.match(
      fs.readFileSync(path.join(dir, 'collection.toml'), 'utf8'),
      /\[collection\]\nname = "team"\nversion = "1\.0\.0"\ncreated = "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"/,
    );
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
    const again = runCli(['init', '--collection', dir]);
    assert.equal(again.code, 65);
    assert.match(again.stderr, /already exists/);
  });
});

describe('refusals write nothing; an interrupted transaction comes first', () => {
  const noState = (): string => {
    const dir = copySharedFixture();
    fs.rmSync(path.join(dir, '.artifact-keeper'), { recursive: true, force: true });
    return dir;
  };

  it('update, restore and recover check read-only before the writer lock creates .artifact-keeper', () => {
    const dir = noState();
    const before = treeListing(dir, new Set());
    for (const [args, code, message] of [
      [['update', 'skill/nope'], 65, /no artifact skill\/nope/],
      [['update', 'skill/pdf-tools', 'skill/nope'], 65, /no artifact skill\/nope/],
      [['restore', 'latest'], 65, /no snapshot "latest"/],
      [['recover'], 0, /^$/],
    ] as const) {
      const result = runCli([...args, '--collection', dir]);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.deepEqual(treeListing(dir, new Set()), before, `${args.join(' ')} wrote nothing`);
    }
  });

  it('status says interrupted (exit 2) while a journal is there, even without collection.toml, and writes nothing', () => {
    const dir = copySharedFixture();
    const state = path.join(dir, '.artifact-keeper');
    fs.mkdirSync(state, { recursive: true });
    fs.writeFileSync(path.join(state, 'journal.json'), '{}');
    fs.rmSync(path.join(dir, 'collection.toml'));
    const before = treeListing(dir, new Set());
    const result = runCli(['status', '--collection', dir, '--json']);
    assert.equal(result.code, 2, result.stderr);
    const json = JSON.parse(result.stdout) as {
      state: string;
      problems: { code: string; message: string }[];
    };
    assert.equal(json.state, 'interrupted');
    assert.equal(json.problems[0]?.code, 'journal-present');
    assert.match(json.problems[0]?.message ?? '', /run recover .*no collection\.toml here/);
    assert.deepEqual(treeListing(dir, new Set()), before);
  });

  it('a status that can read the collection mid-transaction lists it, and writes no cache', () => {
    const dir = noState();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'));
    fs.writeFileSync(path.join(dir, '.artifact-keeper', 'journal.json'), '{}');
    const before = treeListing(dir, new Set());
    const result = runCli(['status', '--collection', dir]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stdout, /: interrupted \(4 artifacts\)/);
    assert.deepEqual(treeListing(dir, new Set()), before);
  });
});

/** Runs the CLI with its stdout a pipe whose reading end is already closed (`| head` that has quit). */
function runWithClosedStdout(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a closed stdout (`| head`)', () => {
  it('is not a failure: no stack trace, and the exit code is the outcome (0 clean, 1 modified)', async () => {
    const dir = copySharedFixture();
    const clean = await runWithClosedStdout(['status'], dir);
    assert.equal(clean.code, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /EPIPE|Error/);
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'edit\n');
    const modified = await runWithClosedStdout(['status', '--json'], dir);
    assert.equal(modified.code, 1, modified.stderr);
    assert.doesNotMatch(modified.stderr, /EPIPE|Error/);
  });

  it('a mutating command still does its work and exits 0: the snapshot is taken', async () => {
    const dir = copySharedFixture();
    const run = await runWithClosedStdout(['snapshot', '-m', 'piped'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /EPIPE|Error/);
    const listed = runCli(['snapshots'], { cwd: dir });
    assert.match(listed.stdout, /piped/);
  });
});

describe('artifact-keeper status and unlock: who holds the writer lock', () => {
  it('status shows the holder; unlock says who and needs --force; unlock --force changes only the lock', () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    const lockFile = path.join(dir, '.artifact-keeper', 'writer.lock');
    const holder = {
      pid: 4242,
      host: 'laptop-elsewhere',
      tool: 'artifact-keeper-cli',
      started: '2026-01-02T03:04:05.000Z',
    };
    fs.writeFileSync(lockFile, `${JSON.stringify(holder)}\n`);
    const status = runCli(['status'], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      /locked by pid 4242 on host laptop-elsewhere since 2026-01-02T03:04:05\.000Z/,
    );
    const json = JSON.parse(runCli(['status', '--json'], { cwd: dir }).stdout) as {
      lock: { host: string; alive: boolean };
    };
    assert.deepEqual([json.lock.host, json.lock.alive], ['laptop-elsewhere', true]);

    const update = runCli(['snapshot', '-m', 'blocked'], { cwd: dir });
    assert.equal(update.code, 5);
    assert.match(update.stderr, /unlock --force` breaks the lock/);

    const before = treeListing(dir, new Set());
    const asked = runCli(['unlock'], { cwd: dir });
    assert.equal(asked.code, 64);
    assert.match(asked.stdout, /pass --force/);
    assert.deepEqual(treeListing(dir, new Set()), before, 'unlock without --force changes nothing');

    const broken = runCli(['unlock', '--force'], { cwd: dir });
    assert.equal(broken.code, 0, broken.stderr);
    assert.match(broken.stdout, /broke the writer lock: locked by pid 4242 on host laptop-elsewhere/);
    assert.equal(fs.existsSync(lockFile), false);
    const after = treeListing(dir, new Set());
    assert.deepEqual(
      before.filter((line) => !line.includes('writer.lock')),
      after,
      'only the lock changed',
    );
    assert.doesNotMatch(runCli(['status'], { cwd: dir }).stdout, /locked by/);
  });
});
