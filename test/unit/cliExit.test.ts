/**
 * Tests for src/cli/exitWhenDone.ts: the CLI leaves as soon as its command is done when nothing else is
 * active (Node's `beforeExit`, which a natural end emits and `process.exit` skips, never fires), with
 * every line of its output delivered through a pipe; and it waits as before when anything else is still
 * active (a timer started beside the command fires, and the process ends on its own).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { onlyOutputStreams } from '../../src/cli/exitWhenDone.js';
import { copySharedFixture, REPO_ROOT, tempDir } from './support/collections.js';

const BIN = path.join(REPO_ROOT, 'dist/cli.js');

/** A preload that reports `beforeExit` on stderr, and with LATE_TIMER starts a timer beside the command. */
function probe(): string {
  const file = path.join(tempDir(), 'probe.cjs');
  fs.writeFileSync(
    file,
    [
      "process.on('beforeExit', () => process.stderr.write('probe: beforeExit\\n'));",
      // Long enough to be still pending when the command ends on a loaded machine (a CI run once took
      // more than 300 ms for the status; the timer had fired, and the process rightly left at once).
      "if (process.env.LATE_TIMER) setTimeout(() => process.stderr.write('probe: timer fired\\n'), 2000);",
    ].join('\n'),
  );
  return file;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['-r', probe(), BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

void describe('the CLI exits when its command is done', () => {
  void it('at once when only its output streams are left, with all of its output through a pipe', () => {
    const dir = copySharedFixture();
    const json = run(['status', '--collection', dir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { state: string }).state, 'clean');
    assert.doesNotMatch(json.stderr, /beforeExit/, 'left without waiting for the event loop to drain');
    // A failing command keeps its exit code.
    const bad = run(['restore', 'no-such-snapshot', '--collection', dir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no snapshot "no-such-snapshot"/);
    // A long listing arrives whole.
    fs.appendFileSync(path.join(dir, 'collection.toml'), '');
    const text = run(['status', '--collection', dir]);
    const again = run(['status', '--collection', dir, '--json']);
    assert.equal(text.code, 0);
    assert.ok(text.stdout.endsWith('\n') && text.stdout.length > 0);
    assert.equal(again.stdout, json.stdout);
  });

  void it('not while anything else is active: a timer started beside the command still fires', () => {
    const dir = copySharedFixture();
    const result = run(['status', '--collection', dir], { LATE_TIMER: '1' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /probe: timer fired/);
    assert.match(result.stderr, /probe: beforeExit/, 'ended on its own, as before');
  });

  void it('counts only the handles of terminal or pipe outputs as the output streams', () => {
    assert.equal(onlyOutputStreams([], 0), true);
    assert.equal(onlyOutputStreams(['PipeWrap'], 1), true);
    assert.equal(onlyOutputStreams(['TTYWrap', 'PipeWrap'], 2), true);
    assert.equal(onlyOutputStreams(['PipeWrap'], 0), false, 'stdout is a file: a pipe is something else');
    assert.equal(onlyOutputStreams(['PipeWrap', 'PipeWrap'], 1), false);
    assert.equal(onlyOutputStreams(['PipeWrap', 'ProcessWrap'], 2), false, 'a git process still running');
    assert.equal(onlyOutputStreams(['FSReqCallback'], 1), false, 'a file operation');
    assert.equal(onlyOutputStreams(['Timeout'], 2), false, 'a timer');
  });
});
