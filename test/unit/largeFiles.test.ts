/**
 * Large files stay on disk (model/largeFiles.ts, issue 16): their git blob id and their share of the
 * content hash are read in chunks, and must equal the one-shot values at every chunk boundary; a large
 * binary goes through a whole update — fetched, compared, snapshotted, copied into place — byte for byte,
 * with SkillMeat's hash in the lock, and a large binary changed on both sides keeps the local file with
 * upstream's beside it; a fault at the copy that stages a large file leaves the collection exactly as
 * before, writer lock released. (Its speed and memory are the bench's "50 MB binary" rows.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { contentHash } from '../../src/core/model/hash.js';
import { loadCollection } from '../../src/core/model/collection.js';
import { readTree } from '../../src/core/model/artifactTree.js';
import { blobIdOf, DiskFile, LARGE_FILE_BYTES, sameBytes } from '../../src/core/model/largeFiles.js';
import { CLI, runCli, tempDir, traceCount } from './support/collections.js';
import { pythonHash } from './support/pythonHash.js';
import { commitUpstream, makeUpstream, upstreamTempDir } from './support/upstream.js';

const SIZES = [LARGE_FILE_BYTES - 1, LARGE_FILE_BYTES, LARGE_FILE_BYTES + 1, 2 * LARGE_FILE_BYTES + 7];

function gitHashObject(file: string): string {
  const r = spawnSync('git', ['hash-object', '--no-filters', '--', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/**
 * The CLI, exit 0 required, with its process's peak resident memory in bytes (`VmHWM`, its own
 * high-water mark: getrusage's maxRSS is inherited from this bigger test process across fork and exec).
 */
function runCliPeak(args: string[]): { peak: number } {
  const dir = tempDir();
  const probe = path.join(dir, 'probe.cjs');
  const out = path.join(dir, 'peak');
  fs.writeFileSync(
    probe,
    `process.on('exit', () => { const fs = require('node:fs');
      const kib = /^VmHWM:\\s+(\\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      fs.writeFileSync(${JSON.stringify(out)}, kib ? kib[1] : '0'); });\n`,
  );
  const run = spawnSync(process.execPath, ['--require', probe, CLI, ...args], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const peak = Number(fs.readFileSync(out, 'utf8')) * 1024;
  assert.ok(peak > 0, 'the probe read VmHWM');
  return { peak };
}

/** Every file of the collection outside `.artifact-keeper`, path → sha256, for before/after equality. */
function filesOf(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (full !== path.join(root, '.artifact-keeper')) walk(full);
      } else {
        out.set(path.relative(root, full), createHash('sha256').update(fs.readFileSync(full)).digest('hex'));
      }
    }
  };
  walk(root);
  return out;
}

describe('large files on disk', () => {
  it('blob id and content hash read in chunks equal the one-shot values at every chunk boundary', () => {
    const dir = tempDir();
    for (const size of SIZES) {
      const file = path.join(dir, `f-${size}.bin`);
      const bytes = randomBytes(size);
      fs.writeFileSync(file, bytes);
      const disk = new DiskFile(file, size);
      const oneShot = createHash('sha1').update(`blob ${size}\0`).update(bytes).digest('hex');
      assert.equal(disk.blobId(), oneShot, `blob id at ${size} bytes`);
      assert.equal(disk.blobId(), gitHashObject(file), `git agrees at ${size} bytes`);
      assert.equal(contentHash(file), createHash('sha256').update(bytes).digest('hex'), `hash at ${size}`);
      assert.deepEqual(disk.head(), bytes.subarray(0, 8 * 1024));
    }
  });

  it('a tree keeps a large file on disk and compares it by size and blob id, not by reading it', () => {
    const dir = tempDir();
    const big = randomBytes(LARGE_FILE_BYTES + 10);
    fs.mkdirSync(path.join(dir, 'a'));
    fs.mkdirSync(path.join(dir, 'b'));
    fs.writeFileSync(path.join(dir, 'a/big.bin'), big);
    const changed = Buffer.from(big);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
    fs.writeFileSync(path.join(dir, 'b/big.bin'), changed);
    const a = readTree(path.join(dir, 'a'), true).tree.get('big.bin');
    const b = readTree(path.join(dir, 'b'), true).tree.get('big.bin');
    assert.ok(a?.disk && b?.disk, 'kept on disk');
    assert.equal(sameBytes(a, a), true);
    assert.equal(sameBytes(a, b), false, 'one byte apart');
    assert.equal(blobIdOf(a), gitHashObject(path.join(dir, 'a/big.bin')));
    assert.ok(a.data.equals(big), 'data still reads every byte');
  });

  it('a 12 MB binary through update: every byte, SkillMeat’s hash in the lock; changed on both sides, upstream’s copy beside it', () => {
    const v1 = randomBytes(12 * 1024 * 1024);
    const flip = (bytes: Buffer, at: number): Buffer => {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] ?? 0) ^ 0xff;
      return copy;
    };
    const v2 = flip(v1, 6_000_000);
    const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
      {
        files: { 'skills/model/SKILL.md': '---\nname: model\n---\nWeights.\n', 'skills/model/w.bin': v1 },
        tag: 'v1',
      },
      { files: { 'skills/model/w.bin': v2 }, tag: 'v2' },
    ]);
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const add = runCli(['add', `${up.url}#skills/model@v1`, '--collection', dir]);
    assert.equal(add.code, 0, add.stderr);
    const weights = path.join(dir, 'skills/model/w.bin');
    assert.ok(fs.readFileSync(weights).equals(v1));

    const traced = { env: { ARTIFACT_KEEPER_TRACE: '1' } };
    const update = runCli(['update', 'model', '--to', 'v2', '--collection', dir], traced);
    assert.equal(update.code, 0, update.stderr);
    assert.ok(fs.readFileSync(weights).equals(v2), 'every byte of v2');
    // The base equals the local files (and SKILL.md upstream's too): none of it is read from the store.
    assert.equal(traceCount(update.stderr, 'stored file already in hand'), 2, update.stderr);
    assert.equal(traceCount(update.stderr, 'stored file read'), 0, update.stderr);
    const lockHash = loadCollection(dir).lock.entries.get('model::skill')?.contentHash;
    assert.equal(lockHash, pythonHash(path.join(dir, 'skills/model')));
    assert.equal(runCli(['status', '--collection', dir]).code, 0);

    // Both sides change it: the local file stays, upstream's goes beside it, exit 3 (as git does).
    const local = flip(v2, 10);
    fs.writeFileSync(weights, local);
    commitUpstream(up, { files: { 'skills/model/w.bin': flip(v2, 11_000_000) }, tag: 'v3' });
    const conflicted = runCli(
      ['update', 'model', '--to', 'v3', '--strategy', 'merge', '--collection', dir],
      traced,
    );
    assert.equal(conflicted.code, 3, conflicted.stderr);
    // The base's w.bin is neither side's: read from the store, SKILL.md still taken from the sides.
    assert.equal(traceCount(conflicted.stderr, 'stored file read'), 1, conflicted.stderr);
    assert.equal(traceCount(conflicted.stderr, 'stored file spilled to disk'), 1, conflicted.stderr);
    assert.equal(traceCount(conflicted.stderr, 'stored file already in hand'), 1, conflicted.stderr);
    assert.ok(fs.readFileSync(weights).equals(local), 'the local file is kept');
    assert.ok(
      fs.readFileSync(`${weights}.upstream`).equals(flip(v2, 11_000_000)),
      "upstream's copy beside it",
    );
  });

  it('a large file goes into the snapshot store uncompressed (no zlib pass over it), reads back byte for byte, and the store stays valid', () => {
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    const big = Buffer.from('compressible text, '.repeat(Math.ceil((LARGE_FILE_BYTES * 2) / 19)));
    fs.mkdirSync(path.join(dir, 'skills/notes'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skills/notes/SKILL.md'), '---\nname: notes\n---\nNotes.\n');
    fs.writeFileSync(path.join(dir, 'skills/notes/big.txt'), big);
    const snap = runCli(['snapshot', '-m', 'with a large file', '--collection', dir]);
    assert.equal(snap.code, 0, snap.stderr);
    const gitDir = path.join(dir, '.artifact-keeper/snapshots.git');
    const id = blobIdOf({ data: big, mode: 0o100644 });
    const loose = path.join(gitDir, 'objects', id.slice(0, 2), id.slice(2));
    assert.ok(fs.existsSync(loose), 'written loose by hash-object');
    // zlib at level 0 stores the bytes as they are: the object is at least as big as the file. At git's
    // default level, this text compresses to a few KiB.
    assert.ok(fs.statSync(loose).size >= big.length, `${fs.statSync(loose).size} bytes for ${big.length}`);
    const read = spawnSync('git', ['--git-dir', gitDir, 'cat-file', 'blob', id], { maxBuffer: 1 << 26 });
    assert.ok(read.stdout.equals(big), 'git reads the same bytes back');
    const fsck = spawnSync('git', ['--git-dir', gitDir, 'fsck', '--strict', '--no-dangling'], {
      encoding: 'utf8',
    });
    assert.equal(fsck.status, 0, fsck.stderr);
    fs.writeFileSync(path.join(dir, 'skills/notes/big.txt'), 'gone');
    const restore = runCli(['restore', 'latest', '--collection', dir]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.ok(fs.readFileSync(path.join(dir, 'skills/notes/big.txt')).equals(big), 'restored byte for byte');
  });

  it('restore and undo put a large file back through a file, never whole in memory: byte for byte, peak below its size, nothing left behind', () => {
    const dir = path.join(tempDir(), 'collection');
    assert.equal(runCli(['init', '--collection', dir]).code, 0);
    // Big enough that reading it whole (the file plus the CLI's own ~50 MiB) would pass its size; spilled,
    // the CLI peaks near 95 MiB whatever the file's size (the pipe's chunks, until collected).
    const size = 128 * 1024 * 1024;
    const big = Buffer.alloc(size, `weights ${randomBytes(8).toString('hex')} `);
    const weights = path.join(dir, 'skills/model/w.bin');
    fs.mkdirSync(path.dirname(weights), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skills/model/SKILL.md'), '---\nname: model\n---\nWeights.\n');
    fs.writeFileSync(weights, big);
    const snap = runCli(['snapshot', '-m', 'with the weights', '--collection', dir]);
    assert.equal(snap.code, 0, snap.stderr);
    fs.writeFileSync(weights, 'gone');

    const restore = runCliPeak(['restore', 'latest', '--collection', dir]);
    assert.ok(fs.readFileSync(weights).equals(big), 'restored byte for byte');
    assert.ok(restore.peak < size, `restore peaked at ${restore.peak >> 20} MiB`);
    // Undo the restore (back to "gone"), then undo that undo: the weights come back the same way.
    runCliPeak(['undo', '--collection', dir]);
    assert.equal(fs.readFileSync(weights, 'utf8'), 'gone');
    const again = runCliPeak(['undo', '--collection', dir]);
    assert.ok(fs.readFileSync(weights).equals(big), 'undo of the undo: byte for byte');
    assert.ok(again.peak < size, `undo peaked at ${again.peak >> 20} MiB`);
    assert.equal(fs.existsSync(path.join(dir, '.artifact-keeper/tmp')), false, 'no spilled file left');
  });

  for (const errno of ['ENOSPC', 'EIO']) {
    it(`${errno} at the copy that stages a large file: the collection exactly as before, lock released`, () => {
      const v1 = randomBytes(2 * LARGE_FILE_BYTES + 3);
      const v2 = Buffer.from(v1);
      v2[LARGE_FILE_BYTES] = (v2[LARGE_FILE_BYTES] ?? 0) ^ 1;
      const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
        {
          files: { 'skills/model/SKILL.md': '---\nname: model\n---\nWeights.\n', 'skills/model/w.bin': v1 },
          tag: 'v1',
        },
        { files: { 'skills/model/w.bin': v2 }, tag: 'v2' },
      ]);
      const dir = path.join(tempDir(), 'collection');
      assert.equal(runCli(['init', '--collection', dir]).code, 0);
      const add = runCli(['add', `${up.url}#skills/model@v1`, '--collection', dir]);
      assert.equal(add.code, 0, add.stderr);
      const before = filesOf(dir);
      assert.ok(before.has('skills/model/w.bin'));

      const failed = runCli(['update', 'model', '--to', 'v2', '--collection', dir], {
        env: { ARTIFACT_KEEPER_FAULT: `copyFile:1:${errno}` },
      });
      assert.notEqual(failed.code, 0, 'the fault fails the update');
      assert.match(failed.stderr, new RegExp(errno), failed.stderr);
      assert.deepEqual(filesOf(dir), before, 'manifest, lock and files exactly as before');
      assert.ok(fs.readFileSync(path.join(dir, 'skills/model/w.bin')).equals(v1));
      assert.equal(fs.existsSync(path.join(dir, '.artifact-keeper', 'writer.lock')), false, 'lock released');

      // The fault really was at copyFile on the large file: the same update without it succeeds.
      const update = runCli(['update', 'model', '--to', 'v2', '--collection', dir]);
      assert.equal(update.code, 0, update.stderr);
      assert.ok(fs.readFileSync(path.join(dir, 'skills/model/w.bin')).equals(v2));
    });
  }
});
