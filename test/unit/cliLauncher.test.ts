import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { copySharedFixture, REPO_ROOT, tempDir } from './support/collections.js';

/** The bin as shipped (the other CLI tests run the compiled main.ts); built by `npm run build`. */
const BIN = path.join(REPO_ROOT, 'dist/cli.js');

function runCli(
  args: string[],
  options: { env: NodeJS.ProcessEnv },
): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...options.env },
    input: '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The code cache files under an XDG cache folder. */
function cacheFiles(cacheHome: string): string[] {
  const dir = path.join(cacheHome, 'artifact-keeper');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

describe('dist/cli.js, the launcher with a V8 code cache', () => {
  // Never skipped: `npm test` builds first, and a missing bundle is a failure to report.
  it('is built', () => assert.ok(fs.existsSync(BIN), `${BIN} is missing: run npm run build`));
  it('writes the cache on the first run, uses it unchanged after, and answers the same', () => {
    const cacheHome = tempDir();
    const dir = copySharedFixture();
    const env = { XDG_CACHE_HOME: cacheHome, NODE_DISABLE_COMPILE_CACHE: '' };
    const first = runCli(['status', '--collection', dir, '--json'], { env });
    assert.equal(first.code, 0, first.stderr);
    const files = cacheFiles(cacheHome);
    assert.equal(files.length, 1, `one cache file: ${files.join(', ')}`);
    assert.match(files[0] as string, /^cli-[0-9a-f]{32}-status\.v8cache$/);
    const file = path.join(cacheHome, 'artifact-keeper', files[0] as string);
    const written = fs.statSync(file);
    assert.ok(written.size > 0);

    const second = runCli(['status', '--collection', dir, '--json'], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(cacheFiles(cacheHome), files);
    assert.equal(fs.statSync(file).mtimeMs, written.mtimeMs, 'an accepted cache is not rewritten');
  });

  it('a torn or foreign cache is ignored and replaced; the exit code and output stay', () => {
    const cacheHome = tempDir();
    const dir = copySharedFixture();
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/SKILL.md'), 'edit\n');
    const env = { XDG_CACHE_HOME: cacheHome, NODE_DISABLE_COMPILE_CACHE: '' };
    const clean = runCli(['status', '--collection', dir], { env });
    assert.equal(clean.code, 1, clean.stderr);
    const [name] = cacheFiles(cacheHome);
    assert.ok(name);
    const file = path.join(cacheHome, 'artifact-keeper', name);
    fs.writeFileSync(file, Buffer.from('not a V8 code cache at all'));
    const stale = path.join(
      cacheHome,
      'artifact-keeper',
      'cli-00000000000000000000000000000000-status.v8cache',
    );
    fs.writeFileSync(stale, 'an old bundle');

    const again = runCli(['status', '--collection', dir], { env });
    assert.equal(again.code, 1, again.stderr);
    assert.equal(again.stdout, clean.stdout);
    assert.equal(again.stderr, '');
    assert.deepEqual(cacheFiles(cacheHome), [name], 'rewritten, and the other bundle’s cache removed');
    assert.ok(fs.statSync(file).size > 100);
  });

  it('keeps one cache per command, each made by that command and reused by it; the least recently written go past twelve', () => {
    const cacheHome = tempDir();
    const dir = copySharedFixture();
    const env = { XDG_CACHE_HOME: cacheHome, NODE_DISABLE_COMPILE_CACHE: '' };
    const folder = path.join(cacheHome, 'artifact-keeper');
    assert.equal(runCli(['status', '--collection', dir], { env }).code, 0);
    const [statusCache] = cacheFiles(cacheHome);
    assert.match(statusCache ?? '', /^cli-[0-9a-f]{32}-status\.v8cache$/);
    const key = (statusCache as string).slice(0, 'cli-'.length + 32);
    const statusWritten = fs.statSync(path.join(folder, statusCache as string)).mtimeMs;
    // Twelve caches of this bundle's other commands, written an hour ago and earlier, oldest first.
    const older = Array.from({ length: 12 }, (_, i) => `${key}-old${String(i).padStart(2, '0')}.v8cache`);
    older.forEach((name, i) => {
      fs.writeFileSync(path.join(folder, name), 'not a cache');
      const at = new Date(Date.now() - (3600 + 60 * (12 - i)) * 1000);
      fs.utimesSync(path.join(folder, name), at, at);
    });

    // Another command makes its own; the status cache is not rewritten, and neither is it dropped.
    const listed = runCli(['snapshots', '--collection', dir], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(runCli(['status', '--collection', dir], { env }).code, 0);
    assert.equal(fs.statSync(path.join(folder, statusCache as string)).mtimeMs, statusWritten);
    assert.deepEqual(
      cacheFiles(cacheHome).filter((name) => name.endsWith('.v8cache')),
      [...older.slice(2), `${key}-snapshots.v8cache`, statusCache].sort(),
      'twelve kept: the two least recently written of the fourteen removed',
    );
    // A first argument that is not a command name shares one cache.
    assert.equal(runCli(['--version'], { env }).code, 0);
    assert.ok(cacheFiles(cacheHome).includes(`${key}-other.v8cache`));
  });

  it('NODE_DISABLE_COMPILE_CACHE turns it off, and an unwritable cache folder changes nothing', () => {
    const cacheHome = tempDir();
    const dir = copySharedFixture();
    const off = runCli(['status', '--collection', dir], {
      env: { XDG_CACHE_HOME: cacheHome, NODE_DISABLE_COMPILE_CACHE: '1' },
    });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(cacheFiles(cacheHome), []);

    // A file where the cache folder should be: nothing can be written there.
    const blocked = path.join(tempDir(), 'cache');
    fs.writeFileSync(blocked, '');
    const on = runCli(['status', '--collection', dir], {
      env: { XDG_CACHE_HOME: blocked, NODE_DISABLE_COMPILE_CACHE: '' },
    });
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, off.stdout);
    assert.equal(on.stderr, '');
  });
});
