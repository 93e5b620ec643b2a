/**
 * `init` through the transaction engine: the same output and exit codes as before, a history entry like
 * every other writer's, and a refusal (exit 65, one line naming the collection found) inside an
 * existing collection — issue "init inside an existing collection creates a nested one silently".
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readHistory } from '../../src/core/store/history.js';
import { runCli, tempDir, treeListing } from './support/collections.js';

describe('init', () => {
  it('creates the collection through a transaction: its output, exit 0, history, nothing left behind', () => {
    const dir = path.join(tempDir('ak-init-'), 'new', 'team');
    const result = runCli(['init', '--collection', dir, '--name', 'team']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `created collection "team" in ${dir}\n`);
    assert.equal(result.stderr, '');
    for (const folder of ['skills', 'commands', 'agents', 'workflows'])
      assert.ok(fs.statSync(path.join(dir, folder)).isDirectory());
    assert.ok(fs.existsSync(path.join(dir, 'collection.lock')));
    assert.deepEqual(
      readHistory(dir).map((h) => [h.kind, h.description, h.outcome]),
      [['init', 'init team', 'committed']],
    );
    const state = fs.readdirSync(path.join(dir, '.artifact-keeper')).sort();
    assert.deepEqual(state, ['.gitignore', 'history.jsonl', 'txn'], 'no journal, temp or lock remains');
    assert.deepEqual(fs.readdirSync(path.join(dir, '.artifact-keeper', 'txn')), [], 'no work area remains');
    assert.equal(runCli(['status', '--collection', dir]).code, 0);
  });

  it('refuses to create a collection inside another: exit 65, one line naming it, nothing written', () => {
    const outer = path.join(tempDir('ak-init-'), 'outer');
    assert.equal(runCli(['init', '--collection', outer]).code, 0);
    const before = treeListing(outer, new Set());
    for (const inner of [path.join(outer, 'skills'), path.join(outer, 'sub', 'deeper')]) {
      const result = runCli(['init', '--collection', inner]);
      assert.equal(result.code, 65, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^artifact-keeper: /);
      assert.ok(lines[0]?.includes(`inside the collection ${outer}`), lines[0]);
      assert.deepEqual(treeListing(outer, new Set()), before, 'not a byte written, not even the folder');
    }
    // In the collection's own folder it is the old refusal.
    const again = runCli(['init', '--collection', outer]);
    assert.equal(again.code, 65);
    assert.match(again.stderr, /already exists/);
  });
});
