import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { checkCollection } from '../../src/core/status/consistency.js';
import { emptyStatCache } from '../../src/core/status/statCache.js';
import { nameBytes } from '../../src/core/base/fileNames.js';
import { contentHash } from '../../src/core/model/hash.js';
import { loadCollection } from '../../src/core/model/collection.js';
import type { Collection } from '../../src/core/model/collection.js';
import { copySharedFixture, runCli } from './support/collections.js';

function removeLockEntry(dir: string, key: string): void {
  const file = path.join(dir, 'collection.lock');
  const text = fs.readFileSync(file, 'utf8');
  const start = text.indexOf(`[lock.entries."${key}"]`);
  const next = text.indexOf('[lock.entries.', start + 1);
  fs.writeFileSync(file, text.slice(0, start) + (next < 0 ? '' : text.slice(next)));
}

describe('consistency report', () => {
  it('reads the SkillMeat-written collection as clean and rewrites nothing', async () => {
    const dir = copySharedFixture();
    const before = [
      fs.readFileSync(path.join(dir, 'collection.toml')),
      fs.readFileSync(path.join(dir, 'collection.lock')),
    ];
    const report = await checkCollection(dir);
    assert.equal(report.state, 'clean');
    assert.deepEqual(report.findings, []);
    assert.deepEqual(
      report.artifacts.map((a) => a.state),
      ['clean', 'clean', 'clean', 'clean'],
    );
    assert.deepEqual(
      [
        fs.readFileSync(path.join(dir, 'collection.toml')),
        fs.readFileSync(path.join(dir, 'collection.lock')),
      ],
      before,
    );
  });

  it('re-checks incrementally: warm re-hashes nothing, an edit re-hashes only its artifact', async () => {
    const dir = copySharedFixture();
    // Pretend the first check ran long ago so no stamp is racy.
    const cache = emptyStatCache();
    assert.equal((await checkCollection(dir, { cache, now: () => Date.now() + 60_000 })).rehashed, 4);
    assert.equal((await checkCollection(dir, { cache })).rehashed, 0);
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/ref/usage.md'), 'local edit\n');
    const afterEdit = await checkCollection(dir, { cache, now: () => Date.now() + 60_000 });
    assert.equal(afterEdit.rehashed, 1);
    assert.equal(afterEdit.state, 'modified');
    assert.deepEqual(
      afterEdit.findings.map((f) => `${f.code} ${f.artifact}`),
      ['content-modified skill/pdf-tools'],
    );
    // And from the persisted cache, in a fresh process's view:
    assert.equal((await checkCollection(dir)).rehashed, 0);
  });

  it('does not rewrite the stat cache for an edit it can only call racy: the next check re-hashes it, then writes', async () => {
    const dir = copySharedFixture();
    const cacheFile = path.join(dir, '.artifact-keeper/status-cache.json');
    const later = (): number => Date.now() + 60_000;
    assert.equal((await checkCollection(dir, { now: later })).rehashed, 4);
    const written = fs.statSync(cacheFile);
    // Checked at once: stamped within the racy window, so the next check would measure it again anyway.
    fs.appendFileSync(path.join(dir, 'skills/pdf-tools/ref/usage.md'), 'local edit\n');
    const atOnce = await checkCollection(dir);
    assert.equal(atOnce.rehashed, 1);
    assert.equal(atOnce.state, 'modified');
    assert.equal(fs.statSync(cacheFile).mtimeMs, written.mtimeMs, 'the cache is not rewritten');
    assert.equal(fs.statSync(cacheFile).ino, written.ino);
    // Again at once: the same answer from another re-hash of that one artifact.
    const again = await checkCollection(dir);
    assert.equal(again.rehashed, 1);
    assert.equal(again.state, 'modified');
    // Once the edit is out of the racy window, its entry is trusted next time: written, then warm.
    assert.equal((await checkCollection(dir, { now: later })).rehashed, 1);
    assert.notEqual(fs.statSync(cacheFile).ino, written.ino, 'rewritten');
    const warm = await checkCollection(dir);
    assert.equal(warm.rehashed, 0);
    assert.equal(warm.state, 'modified');
  });

  it('sees an edit that keeps size and mtime (ctime and inode still move)', async () => {
    const dir = copySharedFixture();
    const cache = emptyStatCache();
    await checkCollection(dir, { cache, now: () => Date.now() + 60_000 });
    const file = path.join(dir, 'commands/review.md');
    const st = fs.statSync(file);
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(
      file,
      text.replace(/[a-z]/, (c) => (c === 'a' ? 'b' : 'a')),
    );
    fs.utimesSync(file, st.atime, st.mtime);
    assert.equal((await checkCollection(dir, { cache })).state, 'modified');
  });

  it('sees an edit behind a symlinked file of a skill, though the link itself never changes', async () => {
    const dir = copySharedFixture();
    // The link points outside the collection: only the file behind it is edited.
    const outside = path.join(path.dirname(dir), `${path.basename(dir)}-shared.md`);
    fs.writeFileSync(outside, 'shared notes\n');
    fs.symlinkSync(outside, path.join(dir, 'skills/pdf-tools/shared.md'));
    const cache = emptyStatCache();
    const later = (): number => Date.now() + 60_000;
    await checkCollection(dir, { cache, now: later });
    const cacheFile = path.join(dir, '.artifact-keeper/status-cache.json');
    const written = fs.statSync(cacheFile);
    assert.equal(
      (await checkCollection(dir, { cache, now: later })).rehashed,
      0,
      'warm: the link is trusted',
    );
    assert.equal(
      fs.statSync(cacheFile).ino,
      written.ino,
      'and its stamp too: nothing walked again, nothing rewritten',
    );
    const link = fs.lstatSync(path.join(dir, 'skills/pdf-tools/shared.md'));
    fs.appendFileSync(outside, 'edited through the link\n');
    assert.deepEqual(
      fs.lstatSync(path.join(dir, 'skills/pdf-tools/shared.md')),
      link,
      'the link is as it was',
    );
    const after = await checkCollection(dir, { cache, now: later });
    assert.equal(after.rehashed, 1, 'the skill behind the link is re-hashed');
    assert.equal(
      after.artifacts.find((a) => a.id === 'skill/pdf-tools')?.currentHash,
      contentHash(path.join(dir, 'skills/pdf-tools')),
    );
  });

  it('sees a file added to a sub-folder of a cached skill', async () => {
    const dir = copySharedFixture();
    const cache = emptyStatCache();
    await checkCollection(dir, { cache, now: () => Date.now() + 60_000 });
    fs.writeFileSync(path.join(dir, 'skills/café-notes/deep/a/new.md'), 'new');
    const report = await checkCollection(dir, { cache });
    assert.equal(report.artifacts.find((a) => a.id === 'skill/café-notes')?.state, 'modified');
  });

  it('reports structural problems as inconsistent', async () => {
    const unlocked = copySharedFixture();
    removeLockEntry(unlocked, 'review::command');
    const r1 = await checkCollection(unlocked);
    assert.equal(r1.state, 'inconsistent');
    assert.deepEqual(
      r1.findings.map((f) => f.code),
      ['lock-entry-missing'],
    );
    assert.equal(r1.artifacts.find((a) => a.id === 'command/review')?.state, 'unlocked');

    const missing = copySharedFixture();
    fs.rmSync(path.join(missing, 'agents/planner.md'));
    const r2 = await checkCollection(missing);
    assert.equal(r2.state, 'inconsistent');
    assert.equal(r2.artifacts.find((a) => a.id === 'agent/planner')?.state, 'missing');

    const orphan = copySharedFixture();
    fs.appendFileSync(
      path.join(orphan, 'collection.lock'),
      '\n[lock.entries."ghost::skill"]\ncontent_hash = "' +
        'a'.repeat(64) +
        '"\nfetched = "2026-01-01T00:00:00.000000"\n',
    );
    const r3 = await checkCollection(orphan);
    assert.equal(r3.state, 'inconsistent');
    assert.deepEqual(r3.artifacts.at(-1), {
      id: 'skill/ghost',
      name: 'ghost',
      type: 'skill',
      path: '',
      state: 'orphaned',
      lockedHash: 'a'.repeat(64),
    });

    const noSkillMd = copySharedFixture();
    fs.renameSync(
      path.join(noSkillMd, 'skills/pdf-tools/SKILL.md'),
      path.join(noSkillMd, 'skills/pdf-tools/README.md'),
    );
    const r4 = await checkCollection(noSkillMd);
    assert.equal(r4.state, 'inconsistent');
    assert.ok(r4.findings.some((f) => f.code === 'skill-md-missing' && f.artifact === 'skill/pdf-tools'));

    const mismatch = copySharedFixture();
    const lockFile = path.join(mismatch, 'collection.lock');
    fs.writeFileSync(
      lockFile,
      fs.readFileSync(lockFile, 'utf8').replace(/resolved_sha = "3f2a/, 'resolved_sha = "0000'),
    );
    assert.ok((await checkCollection(mismatch)).findings.some((f) => f.code === 'lock-mismatch'));
  });

  it('with `loaded`, parses again only when manifest or lock bytes changed', async () => {
    const dir = copySharedFixture();
    const loaded = new Map<string, Collection>();
    assert.equal((await checkCollection(dir, { loaded })).state, 'clean');
    const first = loaded.get(dir);
    assert.ok(first);
    await checkCollection(dir, { loaded });
    assert.equal(loaded.get(dir), first, 'the same bytes: the same collection, not parsed again');

    removeLockEntry(dir, 'review::command');
    const report = await checkCollection(dir, { loaded });
    assert.equal(report.state, 'inconsistent', 'a lock changed alone is read again');
    assert.notEqual(loaded.get(dir), first);
    const second = loaded.get(dir);
    fs.appendFileSync(path.join(dir, 'collection.toml'), '\n');
    await checkCollection(dir, { loaded });
    assert.notEqual(loaded.get(dir), second, 'a manifest changed alone is read again');
  });

  it('reports interrupted when a journal is present', async () => {
    const dir = copySharedFixture();
    fs.mkdirSync(path.join(dir, '.artifact-keeper'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.artifact-keeper/journal.json'), '{}');
    assert.equal((await checkCollection(dir)).state, 'interrupted');
  });

  it('marks update-available and conflicted artifacts from outside knowledge', async () => {
    const dir = copySharedFixture();
    const report = await checkCollection(dir, {
      updatesAvailable: new Set(['skill/pdf-tools']),
      conflicted: new Set(['agent/planner']),
    });
    assert.equal(report.artifacts.find((a) => a.id === 'skill/pdf-tools')?.state, 'update-available');
    assert.equal(report.artifacts.find((a) => a.id === 'agent/planner')?.state, 'conflicted');
    assert.equal(report.state, 'conflicted', 'a conflict outranks an edit: status exits 2');
  });

  it('reads an artifact with a name that is not UTF-8 as modified, warm from the cache, and clean once relocked', async () => {
    const dir = copySharedFixture();
    const skill = path.join(dir, 'skills/pdf-tools');
    const rawFile = path.join(skill, 'bad\uDCFF\uDCFE.md');
    fs.writeFileSync(nameBytes(rawFile), 'hello\n');
    fs.mkdirSync(nameBytes(path.join(skill, 'raw\uDC80')));
    fs.writeFileSync(nameBytes(path.join(skill, 'raw\uDC80/inside.md')), 'inside\n');
    const cache = emptyStatCache();
    const cold = await checkCollection(dir, { cache, now: () => Date.now() + 60_000 });
    assert.equal(cold.state, 'modified');
    assert.deepEqual(
      cold.findings.map((f) => `${f.code} ${f.artifact}`),
      ['content-modified skill/pdf-tools'],
    );
    assert.equal(cold.artifacts.find((a) => a.id === 'skill/pdf-tools')?.currentHash, contentHash(skill));
    // The persisted cache keeps the raw names (JSON escapes them), so a fresh check re-hashes nothing.
    const warm = await checkCollection(dir);
    assert.equal(warm.rehashed, 0);
    assert.equal(warm.state, 'modified');
    // An edit of the raw-named file is seen through its real bytes.
    fs.appendFileSync(nameBytes(rawFile), 'edited\n');
    assert.equal((await checkCollection(dir, { cache, now: () => Date.now() + 60_000 })).rehashed, 1);
    // Our own lock can record such content: relock, and the artifact is clean.
    const relock = runCli(['relock', 'skill/pdf-tools', '--collection', dir]);
    assert.equal(relock.code, 0, relock.stderr);
    assert.equal(loadCollection(dir).lock.entries.get('pdf-tools::skill')?.contentHash, contentHash(skill));
    const status = runCli(['status', '--collection', dir]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    fs.rmSync(nameBytes(rawFile));
    assert.equal((await checkCollection(dir)).state, 'modified');
  });

  it('reads awkward UTF-8 names (newline, tab, CR, backslash, leading dash) like any other file', async () => {
    const dir = copySharedFixture();
    const awkward = ['new\nline.md', 'tab\t.md', 'cr\r', 'back\\slash.md', '-dash.md'];
    const cache = emptyStatCache();
    for (const name of awkward) fs.writeFileSync(path.join(dir, 'skills/café-notes', name), name);
    const report = await checkCollection(dir, { cache, now: () => Date.now() + 60_000 });
    assert.deepEqual(
      report.findings.map((f) => `${f.code} ${f.artifact}`),
      ['content-modified skill/café-notes'],
    );
    assert.equal(
      (await checkCollection(dir, { cache })).rehashed,
      0,
      'the cache finds every one of them again',
    );
    for (const name of awkward) fs.rmSync(path.join(dir, 'skills/café-notes', name));
    assert.equal((await checkCollection(dir, { cache })).state, 'clean');
  });
});
